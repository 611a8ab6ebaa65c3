from django.urls import path

from . import views

urlpatterns = [
    path("credentials", views.CredentialListView.as_view(), name="credentials"),
    path(
        "credentials/<uuid:credential_id>",
        views.CredentialDetailView.as_view(),
        name="credential-detail",
    ),
    path(
        "servers/<uuid:server_id>/connections",
        views.ServerConnectionLinkView.as_view(),
        name="server-connections",
    ),
    path("connections", views.ConnectionListView.as_view(), name="connections"),
    path(
        "connections/<uuid:connection_id>",
        views.ConnectionDetailView.as_view(),
        name="connection-detail",
    ),
]
