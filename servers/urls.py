from django.urls import path

from . import tool_views, views

urlpatterns = [
    path("servers", views.ServerListView.as_view(), name="servers"),
    path("servers/<uuid:server_id>", views.ServerDetailView.as_view(), name="server-detail"),
    path("servers/<uuid:server_id>/keys", views.AccessKeyListView.as_view(), name="server-keys"),
    path(
        "servers/<uuid:server_id>/keys/<uuid:key_id>",
        views.AccessKeyDetailView.as_view(),
        name="server-key-detail",
    ),
    path("servers/<uuid:server_id>/tools", tool_views.ToolListView.as_view(), name="server-tools"),
    path(
        "servers/<uuid:server_id>/tools/<uuid:tool_id>",
        tool_views.ToolDetailView.as_view(),
        name="server-tool-detail",
    ),
]
