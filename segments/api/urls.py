from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("segments", views.SegmentViewSet, basename="segment")

urlpatterns = [
    path("segments/schema/", views.SegmentSchemaView.as_view(), name="segment-schema"),
    path("segments/preview/", views.SegmentPreviewView.as_view(), name="segment-preview"),
    path(
        "segments/<int:pk>/members.csv",
        views.SegmentViewSet.as_view({"get": "members_csv"}),
        name="segment-members-csv",
    ),
    *router.urls,
]
