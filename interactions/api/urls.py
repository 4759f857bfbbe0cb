from django.urls import path

from . import views

urlpatterns = [
    path("interactions/", views.InteractionListCreateView.as_view(), name="interaction-list"),
    path("interactions/batch/", views.InteractionBatchView.as_view(), name="interaction-batch"),
    path(
        "customers/<int:customer_id>/timeline/",
        views.CustomerTimelineView.as_view(),
        name="customer-timeline",
    ),
]
