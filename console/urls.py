"""The agent pages. URL names are kept from when these pages lived in ``customers``:
``home`` and ``customers:search|detail|timeline|log_interaction``."""

from django.urls import include, path

from . import views

customer_pages = [
    path("customers/", views.search, name="search"),
    path("customers/<int:customer_id>/", views.detail, name="detail"),
    path("customers/<int:customer_id>/timeline/", views.timeline, name="timeline"),
    path("customers/<int:customer_id>/interactions/", views.log_interaction, name="log_interaction"),
]

urlpatterns = [
    path("", views.agent_home, name="home"),
    path("", include((customer_pages, "customers"))),
]
