"""Scope checks. Views name the scope each method needs; users get scopes from their roles."""

from rest_framework import permissions

from cxhub.roles import user_scopes

from .authentication import ApiClientUser


def request_scopes(request) -> set[str]:
    if isinstance(request.user, ApiClientUser):
        return set(request.user.client.scopes)
    return user_scopes(request.user)


class HasScope(permissions.BasePermission):
    """Allow a request when the caller holds the scope the view requires for its method.

    A view declares ``required_scopes = {"GET": "customers:read", "POST": "customers:write"}``
    (or ``required_scope = "..."`` for every method). A view that declares nothing is closed.

    A method the view does not handle is let through to the view, which answers 405 in the
    common error format: an unsupported method is not a matter of scope. Authentication still
    comes first (an anonymous caller gets 401 whatever the method).
    """

    message = "Your credentials lack the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if not handles_method(request, view):
            return True
        scope = required_scope(request, view)
        if scope is None:
            return False
        self.message = f"Missing scope: {scope}."
        return scope in request_scopes(request)


def required_scope(request, view) -> str | None:
    per_method = getattr(view, "required_scopes", None)
    if per_method:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        return per_method.get(method)
    return getattr(view, "required_scope", None)


def handles_method(request, view) -> bool:
    """Whether ``view`` has a handler for the request's method (a viewset: for this route)."""
    method = request.method.lower()
    return method in view.http_method_names and callable(getattr(view, method, None))
