from django.urls import URLPattern, URLResolver, path
from oauth2_provider.views.dynamic_client_registration import (
    DynamicClientRegistrationManagementView,
)

from . import upstream, views
from .cors import open_cors

app_name = "authz"

# django-oauth-toolkit reverses its RFC 7592 management URL by its own namespace.
toolkit_urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "register/<str:client_id>",
        open_cors(DynamicClientRegistrationManagementView.as_view()),
        name="dcr-register-management",
    ),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        ".well-known/oauth-authorization-server",
        views.authorization_server_metadata,
        name="authorization-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/mcp/<slug:slug>",
        views.protected_resource_metadata,
        name="protected-resource-metadata",
    ),
    path("oauth/authorize", views.ConsentView.as_view(), name="authorize"),
    path("oauth/token", views.token, name="token"),
    path("oauth/revoke", views.revoke, name="revoke"),
    path("oauth/register", views.register, name="register"),
    path("oauth/sign-in", views.sign_in_page, name="sign-in"),
    path("oauth/signed-in", views.signed_in_page, name="signed-in"),
    path("oauth/upstream/connect/<uuid:server_id>", upstream.connect, name="upstream-connect"),
    path("oauth/upstream/callback", upstream.callback, name="upstream-callback"),
]
