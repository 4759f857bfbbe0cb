from django.urls import path

from . import views

app_name = "outreach"

urlpatterns = [
    path("hooks/messages/<slug:provider>/", views.provider_callback, name="provider-callback"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("preferences/<str:token>/", views.preference_centre, name="preferences"),
]
