from django.urls import path

from . import views

urlpatterns = [
    path("messages/", views.MessageCreate.as_view(), name="api-messages"),
    path("messages/<int:pk>/", views.MessageDetail.as_view(), name="api-message"),
]
