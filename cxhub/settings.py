"""CX Hub settings, read from the environment (12-factor).

Defaults give a working laptop install with no services: SQLite in the project
folder and Celery tasks run eagerly in-process. Production sets DATABASE_URL,
CELERY_BROKER_URL, SECRET_KEY and uses ``cxhub.settings_production``.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from kombu import Queue

from cxhub.api.tags import TAGS as API_TAGS

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-change-me-" + "x" * 24)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "axes",
    "cxhub",
    "audit",
    "customers",
    "interactions",
    "journeys",
    "segments",
    "outreach",
    "metrics",
    "scoring",
    "console",
    "tooling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "cxhub.replicas.ReplicaReadsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "cxhub.middleware.RejectNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditContextMiddleware",
    "cxhub.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it turns a locked-out login into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cxhub.urls"
WSGI_APPLICATION = "cxhub.wsgi.application"
ASGI_APPLICATION = "cxhub.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cxhub.roles.roles_context",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the eager-task laptop install read while a request writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("TEST", {})
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Read replicas (PostgreSQL streaming standbys): lag-tolerant reads only; see cxhub/replicas.py.
DATABASE_REPLICAS: list[str] = []
for _index, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _alias = f"replica_{_index}"
    DATABASES[_alias] = env.db_url_config(_url)
    DATABASES[_alias].update(CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"], CONN_HEALTH_CHECKS=True)
    DATABASES[_alias].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    DATABASES[_alias]["TEST"] = {"MIRROR": "default"}
    DATABASE_REPLICAS.append(_alias)
DATABASE_ROUTERS = ["cxhub.replicas.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=5.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=2.0)
# At least the lag bound plus the check interval, so a caller always reads their own writes.
REPLICA_PIN_SECONDS = env.float("REPLICA_PIN_SECONDS", default=10.0)
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # An unreachable cache must fail fast: the throttle then counts locally (cxhub.api.throttling).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user name (or from
# one address) the account (or address) is locked for AXES_COOLOFF_TIME, whatever the password.
AUTHENTICATION_BACKENDS = [
    "cxhub.auth.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Password reset links are valid this long (Django's default is 3 days).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=24 * 3600)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Paths that answer without a session: the API authenticates by token, health is public.
LOGIN_EXEMPT_PREFIXES = (
    "/api/",
    "/v1/",
    "/healthz",
    "/readyz",
    "/static/",
    "/s/",
    "/accounts/",
    "/hooks/",
    "/preferences/",
    "/unsubscribe/",
)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only production collects static files; the laptop install serves them from the finders.
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the finders so the laptop install needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
# A worker child killed mid-task (OOM, SIGKILL) gives its message back to the queue instead of
# acknowledging it: with acks_late alone the task would be lost.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Queuing from a web request fails fast when the broker or result backend is down: the request
# answers in its normal time and the beat sweeps (dirty customers, stale runs) pick the work up.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1.0}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1.0
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 0}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# How long a new pool process may take to report ready before the worker kills it (Celery's default
# is 4 s); a process that warms the sentiment model (SENTIMENT_WARM_AT_START) needs a few seconds.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=30.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's database scheduler behind a PostgreSQL advisory lock: one beat sends.
CELERY_BEAT_SCHEDULER = "cxhub.beat:SingleBeatScheduler"
CELERY_BEAT_SYNC_EVERY = 1  # store each entry's last run as it is sent (exact failover)
BEAT_LOCK_RETRY_SECONDS = env.float("BEAT_LOCK_RETRY_SECONDS", default=5.0)
# A queue per workload, so each can get its own workers (README "Workers at scale"). A worker
# started without -Q consumes them all; a new task picks its queue here (else "default").
WORKER_QUEUES = ("default", "ingest", "realtime", "dirty", "segments", "journeys", "outbound", "models")
CELERY_TASK_QUEUES = [Queue(name) for name in WORKER_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # ingest follow-ups: right after interactions are stored
    "interactions.*": {"queue": "ingest"},
    "journeys.process_interactions": {"queue": "ingest"},
    # the dirty-customer pipeline, a queue per lane: real-time (segment membership, entries acted
    # on) and standard (journeys, metrics, scores per dirty customer)
    "customers.process_realtime_dirty_customers": {"queue": "realtime"},
    "customers.process_dirty_customers": {"queue": "dirty"},
    # full segment recomputes
    "segments.*": {"queue": "segments"},
    # journeys: SLA checks, stage actions and signed webhooks
    "journeys.*": {"queue": "journeys"},
    # outbound delivery: messages, campaigns, survey invitations and reminders
    "outreach.*": {"queue": "outbound"},
    "metrics.send_survey_reminders": {"queue": "outbound"},
    # models and heavy analytics: score fits, rollup rebuilds
    "models.*": {"queue": "models"},
    "metrics.*model*": {"queue": "models"},
    "metrics.*score*": {"queue": "models"},
    "metrics.rebuild_rollups": {"queue": "models"},
    "metrics.refresh_moved_segment_rollups": {"queue": "models"},
}
CELERY_BEAT_SCHEDULE: dict = {
    # The sweep catches dirty customers whose on-commit task was lost (e.g. broker outage).
    "dirty-customer-sweep": {"task": "customers.process_dirty_customers", "schedule": 60.0},
    "realtime-dirty-customer-sweep": {"task": "customers.process_realtime_dirty_customers", "schedule": 60.0},
    # Segments: queue full recomputes of hourly / daily (and real-time) segments that are due.
    "segments-recompute-due": {"task": "segments.recompute_due", "schedule": 300.0},
    # Segments: queue again recomputes whose run stayed queued (a lost task, a killed worker).
    "segments-requeue-stale-runs": {"task": "segments.requeue_stale_runs", "schedule": 300.0},
    # Journeys: SLA breaches, stalls and abandonments due (time-based exceptions).
    "journeys-detect-time-exceptions": {"task": "journeys.detect_time_exceptions", "schedule": 60.0},
    "journeys-requeue-webhooks": {"task": "journeys.requeue_webhook_deliveries", "schedule": 120.0},
    # Metrics: full rollup rebuild once a day; reminders hourly; overdue follow-up cases every 5 minutes.
    "metrics-rebuild-rollups": {"task": "metrics.rebuild_rollups", "schedule": 24 * 3600.0},
    "metrics-survey-reminders": {"task": "metrics.send_survey_reminders", "schedule": 3600.0},
    # Metrics: segment rollups follow membership moves (each moved segment rebuilt on its own).
    "metrics-refresh-moved-segment-rollups": {
        "task": "metrics.refresh_moved_segment_rollups",
        "schedule": 300.0,
    },
    "metrics-flag-overdue-cases": {"task": "metrics.flag_overdue_cases", "schedule": 300.0},
    # Interactions: drop Idempotency-Key responses older than their 24-hour replay window.
    "interactions-purge-idempotency": {"task": "interactions.purge_idempotency_keys", "schedule": 3600.0},
    # Month partitions of interactions (when partitioned): the coming months exist before rows arrive.
    "interactions-ensure-partitions": {"task": "interactions.ensure_partitions", "schedule": 24 * 3600.0},
    # Outreach: messages a lost worker left behind, scheduled campaigns that are due.
    "outreach-requeue-stale": {"task": "outreach.requeue_stale_messages", "schedule": 60.0},
    "outreach-send-due-campaigns": {"task": "outreach.send_due_campaigns", "schedule": 60.0},
    "outreach-segment-entries": {"task": "outreach.process_segment_entries", "schedule": 30.0},
    "outreach-refresh-conversions": {"task": "outreach.refresh_conversions", "schedule": 900.0},
    # Scoring: refit BG/NBD + Gamma-Gamma and the detractor model, rescore everyone, nightly.
    "scoring-nightly-refit": {"task": "scoring.nightly_refit", "schedule": crontab(hour=2, minute=30)},
    # Data rights: erasure requests whose task was lost; retention once a day.
    "customers-erase-pending": {"task": "customers.erase_pending", "schedule": 600.0},
    "customers-enforce-retention": {"task": "customers.enforce_retention", "schedule": 24 * 3600.0},
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cxhub.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cxhub.api.permissions.HasScope"],
    "DEFAULT_PAGINATION_CLASS": "cxhub.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["cxhub.api.throttling.ApiClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_client": env.str("API_THROTTLE_RATE", default="6000/min")},
    "EXCEPTION_HANDLER": "cxhub.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "cxhub.api.schema.CxHubAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cxhub.api.parsers.StrictJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CX Hub API",
    "DESCRIPTION": "Single customer view: identities, interactions, segments, journeys and metrics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "TAGS": API_TAGS,
    "ENUM_NAME_OVERRIDES": {
        "IdentityKindEnum": "customers.models.IdentityKind",
        "ConsentPurposeEnum": "customers.models.ConsentPurpose",
        "SurveyKindEnum": "metrics.models.SurveyKind",
        "SegmentKindEnum": "segments.models.SegmentKind",
        "SegmentRunStatusEnum": "segments.models.RunStatus",
    },
}

# Largest request body accepted (the interactions batch allows 5 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

# --- CX Hub -----------------------------------------------------------------
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="GB")
# Month partitions of interactions kept ahead of today (manage.py partition_interactions).
INTERACTION_PARTITIONS_AHEAD = env.int("INTERACTION_PARTITIONS_AHEAD", default=3)
# Dirty marks a worker claims per batch (SKIP LOCKED): smaller batches spread a burst over more workers.
DIRTY_BATCH_SIZE = env.int("DIRTY_BATCH_SIZE", default=1000)
# Marks deleted (by this worker process) before it vacuums the marks table: a queue table whose
# head is all dead rows makes every claim walk them (README "Lanes"); 0 leaves it to autovacuum.
DIRTY_VACUUM_EVERY = env.int("DIRTY_VACUUM_EVERY", default=50_000)
# Interaction types the detractor-risk model counts as service contacts (scoring.detractor).
SCORING_CONTACT_TYPES = env.list(
    "SCORING_CONTACT_TYPES", default=["complaint", "query", "call", "email", "chat"]
)
# Train the verbatim sentiment model when a gunicorn worker or a Celery worker process starts, not
# at the first comment it reads (metrics.sentiment_model.warm_at_start). Off here, so test runs
# and a laptop install do not pay for it; on in settings_production.
SENTIMENT_WARM_AT_START = env.bool("SENTIMENT_WARM_AT_START", default=False)

# --- Outbound messages (outreach) ---------------------------------------------
# EMAIL_URL: smtp://user:pass@host:587 (STARTTLS), smtps://…:465 (TLS), consolemail://, filemail://…
# Unset: messages are written as files under outbox/ so a laptop install never sends anything.
OUTBOX_DIR = env.path("OUTBOX_DIR", default=BASE_DIR / "outbox")
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
    # The submission port always speaks STARTTLS: smtp://user:pass@host:587 means it.
    if vars().get("EMAIL_PORT") == 587 and not vars().get("EMAIL_USE_SSL"):
        EMAIL_USE_TLS = True
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(OUTBOX_DIR)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CX Hub <noreply@cxhub.localhost>")
OUTREACH_MESSAGE_ID_DOMAIN = env.str("MESSAGE_ID_DOMAIN", default="cxhub.localhost")
OUTREACH_DEFAULT_SUBJECT = env.str("OUTREACH_DEFAULT_SUBJECT", default="A message from us")
# Public address of this install, for links in messages (preference centre, unsubscribe, callbacks).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Global marketing cap per customer and channel, "<messages>/<days>"; per-channel rows in the admin win.
MARKETING_FREQUENCY_CAP = env.str("MARKETING_FREQUENCY_CAP", default="3/7")
EMAIL_RATE_PER_MINUTE = env.int("EMAIL_RATE_PER_MINUTE", default=6000)
SMS_PROVIDER_URL = env.str("SMS_PROVIDER_URL", default="")
SMS_PROVIDER_SECRET = env.str("SMS_PROVIDER_SECRET", default="")
SMS_RATE_PER_MINUTE = env.int("SMS_RATE_PER_MINUTE", default=600)
# Signs status callbacks for the built-in email provider (/hooks/messages/email/); empty: none accepted.
OUTREACH_CALLBACK_SECRET = env.str("OUTREACH_CALLBACK_SECRET", default="")
OUTREACH_RETRY_BACKOFF_SECONDS = env.float("OUTREACH_RETRY_BACKOFF_SECONDS", default=10.0)
OUTREACH_STREAM_WORKERS = env.int("OUTREACH_STREAM_WORKERS", default=4)

# --- Data rights ------------------------------------------------------------
# Key of the HMAC-SHA256 that turns an erased person's identities into suppression-list hashes.
# Set it in production and never change it (a new key no longer recognises earlier erasures).
ERASURE_HASH_KEY = env.str("ERASURE_HASH_KEY", default="") or "erasure:" + SECRET_KEY
# Days each kind of data is kept (0 = forever); enforced daily by customers.enforce_retention.
RETENTION_DAYS = {
    # Interactions older than this are deleted (counts and value before it leave the history).
    "interactions": env.int("RETENTION_INTERACTIONS_DAYS", default=3 * 365),
    # Survey comments older than this are blanked; the score, sentiment and themes stay.
    "survey_comments": env.int("RETENTION_SURVEY_COMMENTS_DAYS", default=2 * 365),
    # Audit events older than this are deleted (the only DELETE the audit trigger allows).
    "audit": env.int("RETENTION_AUDIT_DAYS", default=6 * 365),
}

# --- Security (production tightens these; see settings_production) ----------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy on every response (django-csp): no inline script, style or
# handler anywhere; a template that truly needs an inline <script> or <style> gives it
# nonce="{{ request.csp_nonce }}" (the nonce is only sent when a page uses it).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# The OpenAPI schema and Swagger UI: open on a laptop, login (or an API token) in production.
API_DOCS_REQUIRE_LOGIN = env.bool("API_DOCS_REQUIRE_LOGIN", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {"cxhub": {"level": env.str("LOG_LEVEL", default="INFO")}},
}
