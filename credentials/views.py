from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import token_org, user_of
from core.responses import DELETED, deleted
from core.schema import error_responses

from . import connections, selectors, services
from .serializers import (
    ConnectionLinkRequestSerializer,
    ConnectionLinkSerializer,
    ConnectionSerializer,
    CredentialCreateSerializer,
    CredentialSerializer,
)


class CredentialListQuery(serializers.Serializer):
    serverId = serializers.UUIDField(required=False)


class CredentialListView(GenericAPIView):
    serializer_class = CredentialSerializer

    @extend_schema(
        operation_id="credentials_list",
        summary="List the upstream credentials (metadata only), of all servers or of one",
        parameters=[
            OpenApiParameter(
                "serverId", UUID, description="Only this server's credentials (404 if unknown)."
            )
        ],
        responses={200: CredentialSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request) -> Response:
        query = CredentialListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        credentials = selectors.credential_list(
            user=user_of(request), server_id=query.validated_data.get("serverId")
        )
        page = self.paginate_queryset(credentials)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="credentials_create",
        summary="Store an upstream credential for a server (encrypted; never shown again)",
        request=CredentialCreateSerializer,
        responses={201: CredentialSerializer, **error_responses(404, 409)},
        examples=[
            OpenApiExample(
                "A bearer token",
                request_only=True,
                value={
                    "serverId": "0b7b3a4e-6f1d-4c55-9a57-2f1e0d6c9a10",
                    "type": "bearer",
                    "value": "upstream-api-token",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        payload = CredentialCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        placement = (
            services.Placement(location=data["in"], param_name=data["paramName"])
            if "in" in data
            else None
        )
        credential = services.credential_create(
            user=user_of(request),
            server_id=data["serverId"],
            type=data["type"],
            secret=data["secret"],
            name=data.get("name", ""),
            scheme=data.get("scheme"),
            placement=placement,
            token_url=data.get("tokenUrl"),
            scopes=data.get("scopes"),
            authorization_url=data.get("authorizationUrl"),
            revocation_url=data.get("revocationUrl"),
        )
        return Response(CredentialSerializer(credential).data, status=status.HTTP_201_CREATED)


class CredentialDetailView(GenericAPIView):
    serializer_class = CredentialSerializer

    @extend_schema(
        operation_id="credentials_delete",
        summary="Delete an upstream credential",
        responses={200: DELETED, **error_responses(404)},
    )
    def delete(self, request: Request, credential_id: UUID) -> Response:
        services.credential_delete(user=user_of(request), credential_id=credential_id)
        return deleted(credential_id)


class ServerConnectionLinkView(GenericAPIView):
    serializer_class = ConnectionLinkSerializer

    @extend_schema(
        operation_id="connections_link",
        summary="Get the link that connects your own upstream account to a server",
        description="For a server whose credential is `oauth2AuthorizationCode`: the owner, or "
        "a user of a shared server, opens the link in a browser, signs in, approves, and is "
        "sent to the provider; the tokens are stored for that signed-in person only.",
        request=ConnectionLinkRequestSerializer,
        responses={201: ConnectionLinkSerializer, **error_responses(404)},
    )
    def post(self, request: Request, server_id: UUID) -> Response:
        payload = ConnectionLinkRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        url = connections.connection_link_url(
            user=user_of(request),
            server_id=server_id,
            scheme=payload.validated_data.get("scheme"),
            org_id=token_org(request),
        )
        return Response({"url": url}, status=status.HTTP_201_CREATED)


class ConnectionListView(GenericAPIView):
    serializer_class = ConnectionSerializer

    @extend_schema(
        operation_id="connections_list",
        summary="List your own linked upstream accounts (never a token)",
        responses={200: ConnectionSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        rows, credentials = selectors.connection_list(user=user_of(request))
        page = self.paginate_queryset(rows)
        serializer = ConnectionSerializer(page, many=True, context={"credentials": credentials})
        return self.get_paginated_response(serializer.data)


class ConnectionDetailView(GenericAPIView):
    serializer_class = ConnectionSerializer

    @extend_schema(
        operation_id="connections_delete",
        summary="Unlink one of your upstream accounts (revoked upstream where possible)",
        responses={200: DELETED, **error_responses(404)},
    )
    def delete(self, request: Request, connection_id: UUID) -> Response:
        connections.connection_delete(user=user_of(request), connection_id=connection_id)
        return deleted(connection_id)
