from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.responses import DELETED, deleted

from . import services
from .authentication import token_expiry, user_of
from .models import ApiToken
from .serializers import ApiTokenCreatedSerializer, ApiTokenCreateSerializer, ApiTokenSerializer


class ApiTokenListView(GenericAPIView):
    serializer_class = ApiTokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=user_of(self.request), revoked_at__isnull=True)

    @extend_schema(
        operation_id="tokens_list",
        summary="List personal API tokens",
        responses=ApiTokenSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="tokens_create",
        summary="Create a personal API token (shown once)",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        payload = ApiTokenCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        token, secret = services.api_token_create(
            user=user_of(request),
            name=payload.validated_data["name"],
            expires_at=payload.validated_data.get("expiresAt"),
            not_after=token_expiry(request),
        )
        body = ApiTokenSerializer(token).data | {"token": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(GenericAPIView):
    serializer_class = ApiTokenSerializer

    @extend_schema(
        operation_id="tokens_delete",
        summary="Revoke a personal API token",
        responses={200: DELETED},
    )
    def delete(self, request: Request, token_id: UUID) -> Response:
        services.api_token_delete(user=user_of(request), token_id=token_id)
        return deleted(token_id)
