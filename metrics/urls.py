from django.urls import path

from . import views

app_name = "metrics"

urlpatterns = [
    path("s/<str:token>/", views.hosted_survey, name="hosted-survey"),
    path("metrics/", views.metrics_dashboard, name="dashboard"),
    path("metrics/agents/", views.agents_dashboard, name="agents"),
    path("metrics/cases/", views.case_list, name="cases"),
    path("metrics/cases/<int:pk>/", views.case_detail, name="case"),
    path("metrics/cases/<int:pk>/assign/", views.case_assign, name="case-assign"),
    path("metrics/cases/<int:pk>/close/", views.case_close, name="case-close"),
]
