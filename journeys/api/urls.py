from django.urls import path

from . import views

urlpatterns = [
    path("journeys/", views.JourneyListView.as_view(), name="api-journeys"),
    path("journeys/instances/", views.InstanceListView.as_view(), name="api-journey-instances"),
    path("journeys/instances/<int:pk>/", views.InstanceDetailView.as_view(), name="api-journey-instance"),
    path("journeys/exceptions/", views.ExceptionListView.as_view(), name="api-journey-exceptions"),
    path(
        "journeys/exceptions/resolve/",
        views.ExceptionBulkResolveView.as_view(),
        name="api-journey-exceptions-resolve",
    ),
    path(
        "journeys/exceptions/<int:pk>/assign/",
        views.ExceptionAssignView.as_view(),
        name="api-journey-exception-assign",
    ),
    path(
        "journeys/exceptions/<int:pk>/resolve/",
        views.ExceptionResolveView.as_view(),
        name="api-journey-exception-resolve",
    ),
    path("journeys/<str:journey>/", views.JourneyDetailView.as_view(), name="api-journey"),
    path(
        "journeys/<str:journey>/analytics/",
        views.JourneyAnalyticsView.as_view(),
        name="api-journey-analytics",
    ),
]
