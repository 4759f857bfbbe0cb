from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as BaseLoginRequired


class LoginRequiredMiddleware(BaseLoginRequired):
    """Every page needs a login, except paths that authenticate otherwise (API tokens, health)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(settings.LOGIN_EXEMPT_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RejectNulCharactersMiddleware:
    """A NUL character in a query parameter is a 400, on pages and API alike.

    PostgreSQL refuses NUL in text, so such a value would otherwise fail deep inside a query
    (a 500) wherever a filter passes it on.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return _bad_parameter(request, name.replace("\x00", ""))
        return self.get_response(request)


def _bad_parameter(request, name: str):
    from django.http import HttpResponseBadRequest, JsonResponse

    from .api.errors import error_body
    from .views import _is_api

    message = f"{name}: must not contain NUL characters."
    if _is_api(request):
        return JsonResponse(error_body("invalid", message, name or None), status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
