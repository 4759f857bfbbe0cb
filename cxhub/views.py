"""Platform pages: health probes, the home page and error handlers."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .api.errors import error_body

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
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
    return defaults.permission_denied(request, exception)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal server error."), status=500)
    return defaults.server_error(request)
