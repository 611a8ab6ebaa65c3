from django.urls import path

from . import api

urlpatterns = [
    path("grants", api.GrantListView.as_view(), name="grants"),
    path("grants/<uuid:grant_id>", api.GrantDetailView.as_view(), name="grant-detail"),
    path(
        "servers/<uuid:server_id>/grants",
        api.ServerGrantListView.as_view(),
        name="server-grants",
    ),
    path(
        "servers/<uuid:server_id>/grants/<uuid:grant_id>",
        api.ServerGrantDetailView.as_view(),
        name="server-grant-detail",
    ),
]
