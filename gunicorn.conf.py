"""Gunicorn settings, read from the working directory whenever gunicorn starts here.

Command-line options (bind, workers) still come from the Dockerfile, docker-compose.yml or
the caller; this file only adds what every worker should do.
"""

import gc


def post_worker_init(worker):
    """Load every view and warm the sentiment model now, and take them out of the garbage
    collector's sight.

    A worker allocates many short-lived objects per request (a 1,000-item batch is tens of
    thousands); each full collection would otherwise walk every module, class and URL
    pattern too. Frozen objects are never collected, which is right for code loaded once.
    The sentiment model (``SENTIMENT_WARM_AT_START``) is trained before the freeze for the same
    reason; a failure to train is logged and the worker serves anyway.
    """
    from django.urls import get_resolver

    from metrics.sentiment_model import warm_at_start

    get_resolver().url_patterns  # noqa: B018 - imports every URLconf and view module
    warm_at_start()
    gc.freeze()
