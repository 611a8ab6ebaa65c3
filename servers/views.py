from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.responses import DELETED, deleted
from core.schema import error_responses

from . import selectors, services
from .models import AccessKey, Server
from .serializers import (
    AccessKeyCreatedSerializer,
    AccessKeyCreateSerializer,
    AccessKeySerializer,
    AccessKeyUpdateSerializer,
    ServerCreateSerializer,
    ServerDetailSerializer,
    ServerSerializer,
    ServerUpdateSerializer,
)

# Request (camelCase) field -> service keyword.
UPDATE_FIELDS = {
    "name": "name",
    "slug": "slug",
    "description": "description",
    "baseUrl": "base_url",
    "status": "status",
    "visibility": "visibility",
    "toolMode": "tool_mode",
    "tracePropagation": "trace_propagation",
}


class ServerListView(GenericAPIView):
    serializer_class = ServerSerializer

    def get_queryset(self) -> QuerySet[Server]:
        return selectors.server_list(user=user_of(self.request))

    @extend_schema(
        operation_id="servers_list", summary="List servers", responses=ServerSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="servers_create",
        summary="Create a server (one tool per spec operation) from a spec",
        request=ServerCreateSerializer,
        responses={201: ServerDetailSerializer, **error_responses(403, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        payload = ServerCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = user_of(request)
        server = services.server_create(
            user=user,
            spec_id=data["specId"],
            name=data["name"],
            slug=data.get("slug"),
            description=data.get("description", ""),
            base_url=data.get("baseUrl"),
            operations=data.get("operations"),
            tool_mode=data["toolMode"],
        )
        server = selectors.server_get(user=user, server_id=server.pk)
        return Response(ServerDetailSerializer(server).data, status=status.HTTP_201_CREATED)


class ServerDetailView(GenericAPIView):
    serializer_class = ServerDetailSerializer

    @extend_schema(operation_id="servers_retrieve", summary="Get a server")
    def get(self, request: Request, server_id: UUID) -> Response:
        server = selectors.server_get(user=user_of(request), server_id=server_id)
        return Response(ServerDetailSerializer(server).data)

    @extend_schema(
        operation_id="servers_update",
        summary="Update a server",
        request=ServerUpdateSerializer,
        responses={200: ServerDetailSerializer, **error_responses(409)},
    )
    def patch(self, request: Request, server_id: UUID) -> Response:
        user = user_of(request)
        server = selectors.server_get(user=user, server_id=server_id)
        payload = ServerUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changes = {UPDATE_FIELDS[key]: value for key, value in payload.validated_data.items()}
        services.server_update(server=server, **changes)
        server = selectors.server_get(user=user, server_id=server_id)
        return Response(ServerDetailSerializer(server).data)

    @extend_schema(
        operation_id="servers_delete",
        summary="Delete a server with its tools, keys and credentials",
        responses={200: DELETED},
    )
    def delete(self, request: Request, server_id: UUID) -> Response:
        server = selectors.server_get(user=user_of(request), server_id=server_id)
        services.server_delete(server=server)
        return deleted(server_id)


class AccessKeyListView(GenericAPIView):
    serializer_class = AccessKeySerializer

    def get_queryset(self) -> QuerySet[AccessKey]:
        server = selectors.server_get(
            user=user_of(self.request), server_id=self.kwargs["server_id"]
        )
        return selectors.access_key_list(server=server)

    @extend_schema(
        operation_id="server_keys_list",
        summary="List a server's access keys",
        responses=AccessKeySerializer(many=True),
    )
    def get(self, request: Request, server_id: UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="server_keys_create",
        summary="Create an access key for MCP clients (shown once)",
        request=AccessKeyCreateSerializer,
        responses={201: AccessKeyCreatedSerializer},
    )
    def post(self, request: Request, server_id: UUID) -> Response:
        server = selectors.server_get(user=user_of(request), server_id=server_id)
        payload = AccessKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        key, secret = services.access_key_create(
            server=server, name=data["name"], scopes=data.get("scopes"), tools=data.get("tools")
        )
        key = selectors.access_key_get(server=server, key_id=key.pk)
        body = AccessKeySerializer(key).data | {"key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class AccessKeyDetailView(GenericAPIView):
    serializer_class = AccessKeySerializer

    @extend_schema(operation_id="server_keys_retrieve", summary="Get an access key (never its key)")
    def get(self, request: Request, server_id: UUID, key_id: UUID) -> Response:
        server = selectors.server_get(user=user_of(request), server_id=server_id)
        return Response(
            AccessKeySerializer(selectors.access_key_get(server=server, key_id=key_id)).data
        )

    @extend_schema(
        operation_id="server_keys_update",
        summary="Rename an access key or change its scopes and tool allowlist (same secret)",
        request=AccessKeyUpdateSerializer,
    )
    def patch(self, request: Request, server_id: UUID, key_id: UUID) -> Response:
        server = selectors.server_get(user=user_of(request), server_id=server_id)
        payload = AccessKeyUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.access_key_update(server=server, key_id=key_id, **payload.validated_data)
        key = selectors.access_key_get(server=server, key_id=key_id)
        return Response(AccessKeySerializer(key).data)

    @extend_schema(
        operation_id="server_keys_delete", summary="Revoke an access key", responses={200: DELETED}
    )
    def delete(self, request: Request, server_id: UUID, key_id: UUID) -> Response:
        server = selectors.server_get(user=user_of(request), server_id=server_id)
        services.access_key_revoke(server=server, key_id=key_id)
        return deleted(key_id)
