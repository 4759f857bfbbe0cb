from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .api.docs import DocsView, SchemaView

api_v1 = [
    path("", include("customers.api.urls")),
    path("", include("interactions.api.urls")),
    path("", include("journeys.api.urls")),
    path("", include("segments.api.urls")),
    path("", include("metrics.api.urls")),
    path("", include("outreach.api.urls")),
    path("", include("scoring.api.urls")),
    path("", include("audit.api.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("admin/login/", views.admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("v1/", include("interactions.tracking_urls")),
    path("", include("console.urls")),
    path("", include("interactions.urls")),
    path("", include("journeys.urls")),
    path("", include("segments.urls")),
    path("", include("metrics.urls")),
    path("", include("outreach.urls")),
    path("", include("scoring.urls")),
]

handler400 = "cxhub.views.bad_request"
handler403 = "cxhub.views.permission_denied"
handler404 = "cxhub.views.page_not_found"
handler500 = "cxhub.views.server_error"
