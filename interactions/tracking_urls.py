"""Tracking endpoints at /v1/ (write-key HTTP Basic auth), compatible with the common analytics spec."""

from django.urls import path

from .api.tracking_views import TrackingView

urlpatterns = [
    path(kind, TrackingView.as_view(message_type=kind), name=f"tracking-{kind}")
    for kind in ("batch", "track", "identify", "alias", "page", "screen", "group")
]
