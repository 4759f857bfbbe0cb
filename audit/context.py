"""Who is acting right now: the request being served (its user or API client), else the system.

``AuditContextMiddleware`` keeps the current request in a context variable, so services
deep below a view (merge, consent) record the real actor without every caller passing it.
DRF sets ``request.user`` on the underlying Django request when it authenticates a token,
so an API client is seen here too. Outside a request (tasks, commands) the actor is the system
unless the caller names one.
"""

from contextvars import ContextVar
from dataclasses import dataclass

from .models import AuditSource

_current_request: ContextVar = ContextVar("cxhub_audit_request", default=None)
_current_source: ContextVar = ContextVar("cxhub_audit_source", default=AuditSource.TASK)


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    client_id: int | None
    label: str
    source: str

    @property
    def kind(self) -> str:
        return "user" if self.user_id else "client" if self.client_id else "system"


SYSTEM = "system"


def source_for_path(path: str) -> str:
    if path.startswith(("/api/", "/v1/")):
        return AuditSource.API
    if path.startswith("/admin/"):
        return AuditSource.ADMIN
    return AuditSource.PAGE


def actor_from(who=None, *, source: str | None = None) -> Actor:
    """An Actor from a User, an API client (or its request user), an Actor, or the current request."""
    if isinstance(who, Actor):
        return who
    request = _current_request.get()
    if request is not None:
        source = source or source_for_path(request.path)
        if who is None:
            who = getattr(request, "user", None)
    source = source or _current_source.get()
    client = getattr(who, "client", None)
    if client is None and who is not None and who.__class__.__name__ == "ApiClient":
        client = who
    if client is not None:
        return Actor(user_id=None, client_id=client.pk, label=client.name[:150], source=source)
    if who is not None and getattr(who, "is_authenticated", False) and getattr(who, "pk", None):
        return Actor(user_id=who.pk, client_id=None, label=who.get_username()[:150], source=source)
    return Actor(user_id=None, client_id=None, label=SYSTEM, source=source)


def current_actor() -> Actor:
    """The actor of the request being served (capture it before a streamed response starts)."""
    return actor_from(None)


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


class acting_as:
    """Context manager for commands and tasks: ``with acting_as(source="command"): ...``."""

    def __init__(self, *, source: str):
        self.source = source
        self._token = None

    def __enter__(self):
        self._token = _current_source.set(self.source)
        return self

    def __exit__(self, *exc):
        _current_source.reset(self._token)
        return False
