"""A Celery app for worker subprocesses in tests: CX Hub's app plus a dirty-customer handler that
records, in the batch's own transaction, which worker process handled which customer."""

import os

from celery.signals import worker_init

from cxhub.celery import app

__all__ = ["app"]

PROBE_TABLE = "test_dirty_probe"


def _record(customer_ids: list[int]) -> None:
    import time

    from django.db import connection

    from cxhub.db import array_literal

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PROBE_TABLE} (customer_id, worker_pid) SELECT unnest(%s::bigint[]), %s",
            [array_literal(customer_ids), os.getpid()],
        )
    time.sleep(0.02)  # a batch takes a moment, so the workers' batches overlap


@worker_init.connect
def _register(**_kwargs) -> None:
    import django

    django.setup()
    from customers.pipeline import register_dirty_handler

    register_dirty_handler("test_probe", _record)
