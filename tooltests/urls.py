from django.urls import path

from . import views

urlpatterns = [
    path(
        "servers/<uuid:server_id>/tools/<uuid:tool_id>/test",
        views.ToolTestRunView.as_view(),
        name="server-tool-test",
    ),
    path(
        "servers/<uuid:server_id>/tools/<uuid:tool_id>/tests/<uuid:test_id>",
        views.ToolTestDetailView.as_view(),
        name="server-tool-test-detail",
    ),
]
