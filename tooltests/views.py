"""POST /api/servers/{id}/tools/{toolId}/test and GET .../tests/{testId} (docs/api.md)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.errors import ApiError, InternalError, ServiceUnavailable, UpstreamFailed
from core.schema import error_responses
from tooltests.models import ToolTest

from . import services


class ToolTestRunSerializer(serializers.Serializer):
    arguments = serializers.DictField(
        required=False,
        default=dict,
        help_text="The tool's arguments. They must match that tool's `inputSchema` (see GET "
        "/api/servers/{id}/tools), which no static schema can state: a mismatch is 400 with "
        "details naming each argument.",
    )


class ToolTestErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ToolTestTimingSerializer(serializers.Serializer):
    queuedMs = serializers.IntegerField(allow_null=True)
    upstreamMs = serializers.IntegerField(allow_null=True)
    totalMs = serializers.IntegerField(allow_null=True)


class ToolTestSerializer(serializers.ModelSerializer):
    testId = serializers.UUIDField(source="id", read_only=True)
    result = serializers.JSONField(
        read_only=True, allow_null=True, help_text="The MCP CallToolResult the tool returned."
    )
    request = serializers.JSONField(
        read_only=True, allow_null=True, help_text="method, url, headers (secrets redacted)"
    )
    response = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="statusCode, headers, bodyPreview, truncated (secrets redacted)",
    )
    # Plain text rather than an enum: "status" enums of other resources would collide by name.
    status = serializers.CharField(read_only=True, help_text="pending | succeeded | failed | error")
    timing = ToolTestTimingSerializer(read_only=True)
    error = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ToolTest
        fields = [
            "testId",
            "status",
            "result",
            "request",
            "response",
            "timing",
            "error",
            "createdAt",
        ]

    @extend_schema_field(ToolTestErrorSerializer(allow_null=True))
    def get_error(self, test: ToolTest) -> dict[str, str] | None:
        if test.status != "error":
            return None
        return {"code": test.error_code, "message": test.error_message}


class ToolTestPendingSerializer(serializers.Serializer):
    testId = serializers.UUIDField()
    status = serializers.CharField(help_text="pending")


class ToolTestRunView(GenericAPIView):
    serializer_class = ToolTestSerializer

    @extend_schema(
        operation_id="server_tool_test",
        summary="Call a tool once with the given arguments and show what happened",
        request=ToolTestRunSerializer,
        responses={
            200: ToolTestSerializer,
            202: OpenApiResponse(
                ToolTestPendingSerializer, description="Still running: poll the test."
            ),
            **error_responses(404, 502, 503),
        },
    )
    def post(self, request: Request, server_id: UUID, tool_id: UUID) -> Response:
        payload = ToolTestRunSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        test = services.tool_test_start(
            user=user_of(request),
            server_id=server_id,
            tool_id=tool_id,
            arguments=payload.validated_data["arguments"],
        )
        test = services.tool_test_wait(test_id=test.id, timeout=settings.TOOL_TEST_WAIT_SECONDS)
        if test.status == "pending":
            body = {"testId": str(test.id), "status": "pending"}
            return Response(body, status=status.HTTP_202_ACCEPTED)
        if test.status == "error":
            raise _error_for(test)
        return Response(ToolTestSerializer(test).data)


class ToolTestDetailView(GenericAPIView):
    serializer_class = ToolTestSerializer

    @extend_schema(
        operation_id="server_tool_test_get",
        summary="A tool test's status and, once finished, its outcome",
        responses={200: ToolTestSerializer, **error_responses(404)},
    )
    def get(self, request: Request, server_id: UUID, tool_id: UUID, test_id: UUID) -> Response:
        test = services.tool_test_get(
            user=user_of(request), server_id=server_id, tool_id=tool_id, test_id=test_id
        )
        return Response(ToolTestSerializer(test).data)


# A test the worker could not be handed: the broker is down, worth retrying shortly.
QUEUE_RETRY_AFTER_SECONDS = 5


def _error_for(test: ToolTest) -> ApiError:
    details: dict[str, Any] = {
        "testId": str(test.id),
        "code": test.error_code,
        "timing": test.timing,
    }
    if services.is_upstream_error(test.error_code):
        return UpstreamFailed(test.error_message, details=details)
    if test.error_code == "internal_error":
        return InternalError(test.error_message or None, details=details)
    retry_after = QUEUE_RETRY_AFTER_SECONDS if test.error_code == "queue_unavailable" else None
    return ServiceUnavailable(
        test.error_message or None,
        reason=test.error_code or "unavailable",
        retry_after=retry_after,
        **details,
    )
