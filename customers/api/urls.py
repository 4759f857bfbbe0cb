from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.CustomerListView.as_view(), name="api-customer-list"),
    path("customers/resolve/", views.ResolveView.as_view(), name="api-customer-resolve"),
    path("customers/export.csv", views.CustomerExportView.as_view(), name="api-customer-export"),
    path("customers/<int:pk>/", views.CustomerDetailView.as_view(), name="api-customer-detail"),
    path("customers/<int:pk>/identities/", views.IdentityListView.as_view(), name="api-customer-identities"),
    path("customers/<int:pk>/merge/", views.MergeView.as_view(), name="api-customer-merge"),
    path("customers/<int:pk>/unmerge/", views.UnmergeView.as_view(), name="api-customer-unmerge"),
    path("customers/<int:pk>/merges/", views.MergeHistoryView.as_view(), name="api-customer-merges"),
    path("customers/<int:pk>/consents/", views.ConsentListView.as_view(), name="api-customer-consents"),
    path(
        "customers/<int:pk>/export/",
        views.SubjectAccessExportView.as_view(),
        name="api-subject-access",
    ),
    path("customers/<int:pk>/erase/", views.EraseView.as_view(), name="api-customer-erase"),
    path("erasures/<int:pk>/", views.ErasureRequestView.as_view(), name="api-erasure-detail"),
]
