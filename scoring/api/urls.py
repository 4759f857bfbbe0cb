from django.urls import path

from . import views

urlpatterns = [
    path("models/fit/", views.FitView.as_view(), name="scoring-fit"),
    path("models/runs/", views.RunList.as_view(), name="scoring-runs"),
    path("models/runs/<int:pk>/", views.RunDetail.as_view(), name="scoring-run"),
    path("customers/<int:pk>/scores/", views.CustomerScoresView.as_view(), name="scoring-customer-scores"),
]
