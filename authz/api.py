"""The grants API: the owner sees, narrows and revokes every client authorized to a server;
every user sees, narrows and revokes their own grants, whoever owns the server."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.responses import DELETED, deleted
from servers.selectors import server_get

from . import selectors, services
from .models import Authorization
from .serializers import GrantSerializer, GrantUpdateSerializer


def _update(request: Request, grant: Authorization) -> None:
    payload = GrantUpdateSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    services.authorization_update(authorization=grant, **payload.validated_data)


class ServerGrantListView(GenericAPIView):
    serializer_class = GrantSerializer

    def get_queryset(self) -> QuerySet[Authorization]:
        server = server_get(user=user_of(self.request), server_id=self.kwargs["server_id"])
        return selectors.server_grant_list(server=server)

    @extend_schema(
        operation_id="server_grants_list",
        summary="List the OAuth clients authorized to a server",
        responses=GrantSerializer(many=True),
    )
    def get(self, request: Request, server_id: UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ServerGrantDetailView(GenericAPIView):
    serializer_class = GrantSerializer

    @extend_schema(
        operation_id="server_grants_update",
        summary="Narrow a client's authorization to a server: its scopes or tool allowlist",
        request=GrantUpdateSerializer,
    )
    def patch(self, request: Request, server_id: UUID, grant_id: UUID) -> Response:
        server = server_get(user=user_of(request), server_id=server_id)
        _update(request, selectors.server_grant_get(server=server, grant_id=grant_id))
        return Response(
            GrantSerializer(selectors.server_grant_get(server=server, grant_id=grant_id)).data
        )

    @extend_schema(
        operation_id="server_grants_delete",
        summary="Revoke a client's authorization to a server",
        responses={200: DELETED},
    )
    def delete(self, request: Request, server_id: UUID, grant_id: UUID) -> Response:
        server = server_get(user=user_of(request), server_id=server_id)
        grant = selectors.server_grant_get(server=server, grant_id=grant_id)
        services.authorization_revoke(authorization=grant)
        return deleted(grant_id)


class GrantListView(GenericAPIView):
    serializer_class = GrantSerializer

    def get_queryset(self) -> QuerySet[Authorization]:
        return selectors.user_grant_list(user=user_of(self.request))

    @extend_schema(
        operation_id="grants_list",
        summary="List the OAuth clients you authorized, on any server",
        responses=GrantSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class GrantDetailView(GenericAPIView):
    serializer_class = GrantSerializer

    @extend_schema(
        operation_id="grants_update",
        summary="Narrow one of your authorizations: its scopes or tool allowlist",
        request=GrantUpdateSerializer,
    )
    def patch(self, request: Request, grant_id: UUID) -> Response:
        user = user_of(request)
        _update(request, selectors.user_grant_get(user=user, grant_id=grant_id))
        return Response(
            GrantSerializer(selectors.user_grant_get(user=user, grant_id=grant_id)).data
        )

    @extend_schema(
        operation_id="grants_delete",
        summary="Revoke one of your authorizations",
        responses={200: DELETED},
    )
    def delete(self, request: Request, grant_id: UUID) -> Response:
        grant = selectors.user_grant_get(user=user_of(request), grant_id=grant_id)
        services.authorization_revoke(authorization=grant)
        return deleted(grant_id)
