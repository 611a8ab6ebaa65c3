"""GET /api/servers/{id}/tools and PATCH .../tools/{toolId}: a server's tools, as sub-resources."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.schema import error_responses
from tools import selectors, services
from tools.models import Tool
from tools.pagination import ToolPagination
from tools.serializers import ToolSerializer, ToolUpdateSerializer

from .selectors import server_get


class ToolListView(GenericAPIView):
    serializer_class = ToolSerializer
    pagination_class = ToolPagination

    def get_queryset(self) -> QuerySet[Tool]:
        server = server_get(user=user_of(self.request), server_id=self.kwargs["server_id"])
        return selectors.tool_list(server=server)

    @extend_schema(
        operation_id="server_tools_list",
        summary="List a server's tools in document order",
        responses=ToolSerializer(many=True),
    )
    def get(self, request: Request, server_id: UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ToolDetailView(GenericAPIView):
    serializer_class = ToolSerializer

    @extend_schema(
        operation_id="server_tools_update",
        summary="Enable/disable a tool or override its name or description",
        request=ToolUpdateSerializer,
        responses={200: ToolSerializer, **error_responses(409)},
    )
    def patch(self, request: Request, server_id: UUID, tool_id: UUID) -> Response:
        server = server_get(user=user_of(request), server_id=server_id)
        tool = selectors.tool_get(server=server, tool_id=tool_id)
        payload = ToolUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tool = services.tool_update(tool=tool, **payload.validated_data)
        return Response(ToolSerializer(tool).data)
