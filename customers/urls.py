from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("customers/", views.search, name="search"),
    path("customers/<int:customer_id>/", views.detail, name="detail"),
    path("customers/<int:customer_id>/timeline/", views.timeline, name="timeline"),
    path("customers/<int:customer_id>/export.json", views.export_person, name="export"),
    path("customers/<int:customer_id>/interactions/", views.log_interaction, name="log_interaction"),
]
