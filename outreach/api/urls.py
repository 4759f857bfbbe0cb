from django.urls import path

from . import views

urlpatterns = [
    path("messages/", views.MessageCreate.as_view(), name="api-messages"),
    path("messages/<int:pk>/", views.MessageDetail.as_view(), name="api-message"),
    path("campaigns/", views.CampaignCreate.as_view(), name="api-campaigns"),
    path("campaigns/response-rates/", views.CampaignResponseRates.as_view(), name="api-campaign-rates"),
    path("campaigns/<int:pk>/", views.CampaignDetail.as_view(), name="api-campaign"),
    path("campaigns/<int:pk>/send/", views.CampaignSend.as_view(), name="api-campaign-send"),
    path("campaigns/<int:pk>/results/", views.CampaignResults.as_view(), name="api-campaign-results"),
]
