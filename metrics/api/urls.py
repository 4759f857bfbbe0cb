from django.urls import path

from . import views

urlpatterns = [
    path("surveys/", views.SurveyListCreate.as_view(), name="metrics-surveys"),
    path("surveys/<int:pk>/", views.SurveyDetail.as_view(), name="metrics-survey"),
    path("surveys/<int:pk>/responses/", views.ResponseListCreate.as_view(), name="metrics-responses"),
    path("surveys/<int:pk>/responses/batch/", views.ResponseBatch.as_view(), name="metrics-responses-batch"),
    path("surveys/<int:pk>/invitations/", views.InvitationCreate.as_view(), name="metrics-invitations"),
    path("metrics/nps/", views.NpsView.as_view(), name="metrics-nps"),
    path("metrics/ces/", views.CesView.as_view(), name="metrics-ces"),
    path("metrics/csat/", views.CsatView.as_view(), name="metrics-csat"),
    path("metrics/channels/", views.ChannelEfficacyView.as_view(), name="metrics-channels"),
    path("metrics/agents/", views.AgentMetricsView.as_view(), name="metrics-agents"),
    path(
        "customers/<int:pk>/next-best-channel/",
        views.NextBestChannelView.as_view(),
        name="metrics-next-best-channel",
    ),
    path("follow-up-cases/", views.CaseList.as_view(), name="metrics-cases"),
    path("follow-up-cases/<int:pk>/close/", views.CaseClose.as_view(), name="metrics-case-close"),
]
