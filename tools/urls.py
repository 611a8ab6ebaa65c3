from django.urls import path

from . import views

urlpatterns = [
    path("servers/<uuid:server_id>/tools", views.ToolListView.as_view(), name="server-tools"),
    path(
        "servers/<uuid:server_id>/tools/<uuid:tool_id>",
        views.ToolDetailView.as_view(),
        name="server-tool-detail",
    ),
]
