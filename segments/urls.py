from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("segments/", views.segment_list, name="list"),
    path("segments/<int:pk>/", views.segment_detail, name="detail"),
    path("segments/lists/add/<int:customer_id>/", views.add_to_list, name="add_to_list"),
    path("segments/<int:pk>/remove/<int:customer_id>/", views.remove_from_list, name="remove_from_list"),
]
