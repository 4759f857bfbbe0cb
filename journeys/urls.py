from django.urls import path

from . import views

app_name = "journeys"

urlpatterns = [
    path("journeys/", views.journey_list, name="list"),
    path("journeys/exceptions/", views.exception_queue, name="queue"),
    path("journeys/exceptions/<int:pk>/resolve/", views.resolve, name="resolve"),
    path("journeys/exceptions/<int:pk>/assign-to-me/", views.assign_to_me, name="assign_to_me"),
    path("journeys/exceptions/bulk/", views.bulk, name="bulk"),
    path("journeys/tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("journeys/<slug:slug>/", views.journey_detail, name="detail"),
]
