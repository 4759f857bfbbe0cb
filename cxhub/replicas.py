"""Read replicas: reads that tolerate a little lag go to a streaming replica, the rest to the primary.

A database router cannot know which view it is serving, so the request decides:
``ReplicaReadsMiddleware`` opens a *read context* for every request, and marks it
replica-tolerant when the resolved URL name is in ``REPLICA_TOLERANT_VIEWS`` (the 360 page,
timelines, search, dashboards, segment previews and member lists, exports, analytics APIs)
for that method. ``ReplicaRouter.db_for_read`` sends a read to a replica only inside such a
context, outside any transaction on the primary, when

- the caller has not written in the last ``REPLICA_PIN_SECONDS`` (read-your-writes: every
  non-safe request stamps a cookie and, for token clients, a cache key), and
- a replica answers and lags at most ``REPLICA_MAX_LAG_SECONDS`` (measured at most every
  ``REPLICA_CHECK_SECONDS`` per process).

Otherwise, and for every write, the primary (``default``) serves. One request reads from one
database throughout. A replica that dies mid-request turns a safe request's 5xx into one
retry on the primary, so agents never see an error page for it. Code outside a request
(a task building an export) may opt in with ``with replica_reads(): ...``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connections

logger = logging.getLogger("cxhub.replicas")

PRIMARY = "default"
PIN_COOKIE = "cxhub_primary_until"
PIN_CACHE_PREFIX = "cxhub:primary-pin:"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READS = frozenset({"GET", "HEAD"})

# URL name -> methods whose reads tolerate replica lag. Everything else reads the primary.
REPLICA_TOLERANT_VIEWS: dict[str, frozenset[str]] = {
    # Customer 360, its timeline, search and the agent home
    "home": _READS,
    "customers:detail": _READS,
    "customers:timeline": _READS,
    "customers:search": _READS,
    "customer-timeline": _READS,
    "interaction-list": _READS,
    "api-customer-list": _READS,
    # Exports (streamed)
    "api-customer-export": _READS,
    "segment-members-csv": _READS,
    # Segment previews (a POST that only reads), member lists, KPIs and movements
    "segment-preview": frozenset({"POST"}),
    "segment-members": _READS,
    "segment-kpis": _READS,
    "segment-movements": _READS,
    "segments:list": _READS,
    "segments:detail": _READS,
    # Dashboards and analytics APIs
    "metrics:dashboard": _READS,
    "metrics-nps": _READS,
    "metrics-ces": _READS,
    "metrics-csat": _READS,
    "metrics-channels": _READS,
    "journeys:detail": _READS,
    "api-journey-analytics": _READS,
}


@dataclass
class ReadContext:
    """What one request (or ``replica_reads`` block) may read from, decided at its first read."""

    tolerant: bool = False
    is_pinned: Callable[[], bool] = lambda: False
    alias: str | None = None  # chosen at the first read, then kept for the whole request
    replica_failed: bool = False
    used: set[str] = field(default_factory=set)


_context: ContextVar[ReadContext | None] = ContextVar("cxhub_read_context", default=None)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


# --- health ------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaHealth:
    alias: str
    checked_at: float
    usable: bool
    lag_seconds: float | None
    reason: str = ""


_health: dict[str, ReplicaHealth] = {}
_health_lock = threading.Lock()


def replica_health(alias: str, *, refresh: bool = False) -> ReplicaHealth:
    """The replica's state, measured at most every ``REPLICA_CHECK_SECONDS`` in this process."""
    now = time.monotonic()
    cached = _health.get(alias)
    if not refresh and cached and now - cached.checked_at < settings.REPLICA_CHECK_SECONDS:
        return cached
    health = _measure(alias, now)
    with _health_lock:
        _health[alias] = health
    if cached and cached.usable != health.usable:
        logger.warning("Replica %s is now %s (%s)", alias, "usable" if health.usable else "skipped", health)
    return health


def forget_health() -> None:
    """Drop every cached measurement (tests, and after a failover)."""
    with _health_lock:
        _health.clear()


def _mark_down(alias: str, reason: str) -> None:
    with _health_lock:
        _health[alias] = ReplicaHealth(alias, time.monotonic(), False, None, reason)
    logger.warning("Replica %s skipped: %s", alias, reason)


def _measure(alias: str, now: float) -> ReplicaHealth:
    """Lag = 0 when the replica has replayed everything the primary had written a moment ago,
    else the time since the last transaction it replayed was committed on the primary."""
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            (primary_lsn,) = cursor.fetchone()
        replica = connections[alias]
        with replica.cursor() as cursor:  # a raw cursor: no routing, no read context
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())",
                [primary_lsn],
            )
            in_recovery, caught_up, since_replay = cursor.fetchone()
    except DatabaseError as exc:
        _close_quietly(alias)
        return ReplicaHealth(alias, now, False, None, f"unreachable ({type(exc).__name__})")
    if not in_recovery:
        return ReplicaHealth(alias, now, False, None, "not a standby (promoted?)")
    lag = 0.0 if caught_up else (float(since_replay) if since_replay is not None else None)
    if lag is None:
        return ReplicaHealth(alias, now, False, None, "has replayed nothing yet")
    if lag > settings.REPLICA_MAX_LAG_SECONDS:
        return ReplicaHealth(alias, now, False, lag, f"lags {lag:.1f} s")
    return ReplicaHealth(alias, now, True, lag)


def _close_quietly(alias: str) -> None:
    with contextlib.suppress(Exception):
        connections[alias].close()


def choose_replica() -> str | None:
    """A usable replica, at random among those within the lag bound; None when there is none."""
    usable = [alias for alias in replica_aliases() if replica_health(alias).usable]
    random.shuffle(usable)
    for alias in usable:
        if _connect(alias):
            return alias
    return None


def _connect(alias: str) -> bool:
    """Open (or health-check, once per request) the replica's connection; a dead one is skipped."""
    conn = connections[alias]
    try:
        conn.close_if_health_check_failed()
        conn.ensure_connection()
    except DatabaseError as exc:
        _close_quietly(alias)
        _mark_down(alias, f"connection failed ({type(exc).__name__})")
        return False
    if _note_replica_errors not in conn.execute_wrappers:
        conn.execute_wrappers.append(_note_replica_errors)
    return True


def _note_replica_errors(execute, sql, params, many, context):
    try:
        return execute(sql, params, many, context)
    except DatabaseError as exc:
        alias = context["connection"].alias
        ctx = _context.get()
        if ctx is not None and isinstance(exc, OperationalError | InterfaceError):
            ctx.replica_failed = True
            _mark_down(alias, f"query failed ({type(exc).__name__})")
        raise


# --- routing -----------------------------------------------------------------


class ReplicaRouter:
    """Reads in a replica-tolerant context go to a usable replica; everything else to the primary."""

    def db_for_read(self, model, **hints):
        ctx = _context.get()
        if ctx is None or not ctx.tolerant or not replica_aliases():
            return None
        if connections[PRIMARY].in_atomic_block:  # a read inside a write must see the write
            ctx.used.add(PRIMARY)
            return PRIMARY
        if ctx.alias is None:
            ctx.alias = PRIMARY if ctx.is_pinned() else (choose_replica() or PRIMARY)
        elif ctx.alias != PRIMARY and not replica_health(ctx.alias).usable:
            ctx.alias = PRIMARY
        ctx.used.add(ctx.alias)
        return ctx.alias

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # replicas hold the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY


@contextlib.contextmanager
def replica_reads(*, pinned: bool = False) -> Iterator[ReadContext]:
    """Let the reads inside the block go to a replica (code outside a request: tasks, exports)."""
    ctx = ReadContext(tolerant=not pinned)
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


def current_read_database() -> str | None:
    """The database this request's reads came from so far (None before its first read)."""
    ctx = _context.get()
    return ctx.alias if ctx else None


# --- read-your-writes ----------------------------------------------------------


def _credential(request) -> str:
    return request.META.get("HTTP_AUTHORIZATION") or request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")


def _pin_key(credential: str) -> str:
    return PIN_CACHE_PREFIX + hashlib.sha256(credential.encode()).hexdigest()[:40]


def is_pinned(request) -> bool:
    """True while the caller's last write is younger than ``REPLICA_PIN_SECONDS``."""
    raw = request.COOKIES.get(PIN_COOKIE)
    if raw:
        with contextlib.suppress(ValueError):
            if float(raw) > time.time():
                return True
    credential = _credential(request)
    return bool(credential) and bool(cache.get(_pin_key(credential)))


def pin_to_primary(request, response) -> None:
    """Send this caller's reads to the primary for the next ``REPLICA_PIN_SECONDS``."""
    seconds = settings.REPLICA_PIN_SECONDS
    until = time.time() + seconds
    response.set_cookie(
        PIN_COOKIE,
        f"{until:.3f}",
        max_age=max(1, int(seconds + 0.999)),
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    credential = _credential(request)
    if credential:  # token clients rarely keep cookies
        try:
            cache.set(_pin_key(credential), until, timeout=max(1, int(seconds + 0.999)))
        except Exception:  # the cache is down: the cookie still pins browsers
            logger.warning("Could not store the primary pin in the cache", exc_info=True)


# --- middleware ----------------------------------------------------------------


class ReplicaReadsMiddleware:
    """Opens the read context of each request; stamps the read-your-writes pin on writes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_aliases():
            return self.get_response(request)
        ctx = ReadContext(is_pinned=lambda: is_pinned(request))
        request.read_context = ctx
        token = _context.set(ctx)
        try:
            response = self.get_response(request)
            if ctx.replica_failed and response.status_code >= 500 and request.method in SAFE_METHODS:
                logger.warning(
                    "Replica failed during %s %s; answering from the primary", request.method, request.path
                )
                ctx.alias, ctx.replica_failed = PRIMARY, False
                response = self.get_response(request)
        finally:
            _context.reset(token)
        if request.method not in SAFE_METHODS and not ctx.tolerant:
            pin_to_primary(request, response)
        if response.streaming and ctx.tolerant:
            response.streaming_content = _within(ctx, response.streaming_content)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        ctx: ReadContext | None = getattr(request, "read_context", None)
        match = request.resolver_match
        if ctx is not None and match is not None:
            methods = REPLICA_TOLERANT_VIEWS.get(match.view_name)
            ctx.tolerant = bool(methods) and request.method in methods
        return None


def _within(ctx: ReadContext, chunks):
    """Iterate a streamed response inside the request's read context (it is consumed later)."""
    iterator = iter(chunks)
    while True:
        token = _context.set(ctx)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _context.reset(token)
        yield chunk
