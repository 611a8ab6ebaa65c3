from django.urls import path

from . import test_views

urlpatterns = [
    path(
        "servers/<uuid:server_id>/tools/<uuid:tool_id>/test",
        test_views.ToolTestRunView.as_view(),
        name="server-tool-test",
    ),
    path(
        "servers/<uuid:server_id>/tools/<uuid:tool_id>/tests/<uuid:test_id>",
        test_views.ToolTestDetailView.as_view(),
        name="server-tool-test-detail",
    ),
]
