"""Platform pages: health probes, the home page and error handlers."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .api.errors import error_body
from .roles import ROLES, STAFF_ROLES, RoleDenied, has_role, user_roles

API_PREFIXES = ("/api/", "/v1/")


@require_GET
@never_cache
@login_not_required
def healthz(request):
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
@login_not_required
def readyz(request):
    """Readiness: the database answers, and the broker too when one is configured."""
    checks: dict[str, str] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
        ok = False
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _broker_check()
        ok = ok and checks["broker"] == "ok"
    else:
        checks["broker"] = "eager (no broker configured)"
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


def _broker_check() -> str:
    from cxhub.celery import app

    try:
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # kombu raises many transport-specific errors
        return f"error: {type(exc).__name__}"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception=None):
    """API: the JSON error. Pages: say the role cannot open this page, which roles can, and where to go."""
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
    roles = user_roles(request.user)
    allowed = getattr(exception, "allowed_roles", ())
    allowed = [role for role in allowed if role not in roles]
    context = {
        "held_roles": [role for role in ROLES if role in roles],
        "allowed_roles": allowed,
        "allowed_text": " or ".join([", ".join(allowed[:-1]), allowed[-1]] if len(allowed) > 1 else allowed),
        "requested_path": request.path,
    }
    return render(request, "403.html", context, status=403)


@never_cache
@login_not_required
def admin_login(request):
    """The admin sign-in: a signed-in user who is not staff (an Agent) gets the role page, no login form."""
    if request.user.is_authenticated and not request.user.is_staff and has_role(request.user):
        return permission_denied(request, RoleDenied(STAFF_ROLES))
    from django.contrib import admin

    return admin.site.login(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal server error."), status=500)
    return defaults.server_error(request)
