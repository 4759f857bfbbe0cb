"""The OpenAPI schema and Swagger UI, behind a login when ``API_DOCS_REQUIRE_LOGIN`` is on.

Swagger UI is served by the split view: its start-up script is a separate static-like
response, so the page has no inline script (Content-Security-Policy).
"""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import permissions
from rest_framework.renderers import JSONRenderer


class DocsAccess(permissions.BasePermission):
    message = "Log in (or send an API token) to read the API schema."

    def has_permission(self, request, view) -> bool:
        if not settings.API_DOCS_REQUIRE_LOGIN:
            return True
        return bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    permission_classes = [DocsAccess]


class DocsView(SpectacularSwaggerSplitView):
    permission_classes = [permissions.AllowAny]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(response, "exception", False):
            # Errors (a bad token, another method) in the common JSON format, not the HTML page.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
            response.renderer_context = self.get_renderer_context()
        return response

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if not DocsAccess().has_permission(request, self):
            return redirect_to_login(request.get_full_path())
        return super().get(request, *args, **kwargs)
