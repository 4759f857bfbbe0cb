from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("customers/<int:pk>/value/", views.explain, name="explain"),
]
