from django.urls import path

from . import views

urlpatterns = [
    path("credentials", views.CredentialListView.as_view(), name="credentials"),
    path(
        "credentials/<uuid:credential_id>",
        views.CredentialDetailView.as_view(),
        name="credential-detail",
    ),
]
