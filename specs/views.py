from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.errors import ValidationFailed
from core.responses import DELETED, deleted
from core.schema import error_responses, or_raw

from . import selectors, services
from .models import Spec
from .serializers import (
    SpecCreateSerializer,
    SpecListItemSerializer,
    SpecSerializer,
    SpecUpdatedSerializer,
    SpecUpdateSerializer,
)

DOCUMENT_FORMATS = ("json", "original", "openapi-3.0")


class SpecListView(GenericAPIView):
    serializer_class = SpecListItemSerializer

    def get_queryset(self) -> QuerySet[Spec]:
        return selectors.spec_list(user=user_of(self.request))

    @extend_schema(
        operation_id="specs_list",
        summary="List specs",
        responses=SpecListItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="specs_create",
        summary="Import a spec from content, a document or a URL",
        request=SpecCreateSerializer,
        responses={201: SpecSerializer, **error_responses(413, 502)},
        examples=[
            OpenApiExample(
                "A document",
                request_only=True,
                value={
                    "name": "Pets",
                    "document": {
                        "openapi": "3.0.3",
                        "info": {"title": "Pets", "version": "1.0"},
                        "servers": [{"url": "https://pets.example/v1"}],
                        "paths": {
                            "/pets/{petId}": {
                                "get": {
                                    "operationId": "getPet",
                                    "parameters": [
                                        {
                                            "name": "petId",
                                            "in": "path",
                                            "required": True,
                                            "schema": {"type": "string"},
                                        }
                                    ],
                                    "responses": {"200": {"description": "A pet"}},
                                }
                            }
                        },
                    },
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        payload = SpecCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        spec = services.spec_create(
            user=user_of(request),
            name=data.get("name"),
            description=data.get("description", ""),
            content=data.get("content"),
            document=data.get("document"),
            url=data.get("url"),
        )
        return Response(SpecSerializer(spec).data, status=status.HTTP_201_CREATED)


class SpecDetailView(GenericAPIView):
    serializer_class = SpecSerializer

    @extend_schema(operation_id="specs_retrieve", summary="Get a spec with its operations")
    def get(self, request: Request, spec_id: UUID) -> Response:
        spec = selectors.spec_get(user=user_of(request), spec_id=spec_id)
        return Response(SpecSerializer(spec).data)

    @extend_schema(
        operation_id="specs_update",
        summary="Update a spec; new content makes a new revision and re-syncs servers' tools",
        request=SpecUpdateSerializer,
        responses={200: SpecUpdatedSerializer, **error_responses(413)},
    )
    def patch(self, request: Request, spec_id: UUID) -> Response:
        spec = selectors.spec_get(user=user_of(request), spec_id=spec_id)
        payload = SpecUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        spec, counts = services.spec_update(
            spec=spec,
            name=data.get("name"),
            description=data.get("description"),
            content=data.get("content"),
            document=data.get("document"),
        )
        return Response(SpecSerializer(spec).data | {"sync": counts.as_dict()})

    @extend_schema(
        operation_id="specs_delete",
        summary="Delete a spec no server uses",
        responses={200: DELETED, **error_responses(409)},
    )
    def delete(self, request: Request, spec_id: UUID) -> Response:
        services.spec_delete(spec=selectors.spec_get(user=user_of(request), spec_id=spec_id))
        return deleted(spec_id)


class FirstRendererNegotiation(DefaultContentNegotiation):
    """Leaves `?format=` to the view: here it picks the document form, not a renderer."""

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class SpecDocumentView(GenericAPIView):
    serializer_class = None
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        operation_id="specs_document",
        summary="Get the stored document (normalised JSON, the original text, or OpenAPI 3.0)",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(DOCUMENT_FORMATS),
                description="json (default): the normalised document; original: the text as "
                "uploaded, with its media type; openapi-3.0: the document as OpenAPI 3.0 (for a "
                "Swagger 2.0 spec the equivalent OpenAPI 3.0 document stored beside it, for an "
                "OpenAPI 3.0 spec the normalised document; an OpenAPI 3.1 spec has none: 400).",
            )
        ],
        responses={
            (200, "application/json"): or_raw(
                {"type": "object", "additionalProperties": True},
                "format=original of a document uploaded as JSON: the text as uploaded",
            ),
            (200, "application/yaml"): OpenApiTypes.STR,
            (200, "text/plain"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, spec_id: UUID) -> Response | HttpResponse:
        wanted = request.query_params.get("format") or "json"
        if wanted not in DOCUMENT_FORMATS:
            raise ValidationFailed(
                "Invalid query parameter",
                details={"format": ["Must be json, original or openapi-3.0."]},
            )
        spec = selectors.spec_get(user=user_of(request), spec_id=spec_id, heavy=True)
        if wanted == "original":
            media_type = spec.original_media_type or "text/plain"
            return HttpResponse(spec.original_text, content_type=f"{media_type}; charset=utf-8")
        if wanted == "openapi-3.0":
            if spec.format == "swagger-2.0" and spec.openapi30_document is not None:
                return Response(spec.openapi30_document)
            if spec.format != "openapi-3.0":
                raise ValidationFailed(
                    "Invalid query parameter",
                    details={"format": ["An OpenAPI 3.1 document has no OpenAPI 3.0 form."]},
                )
        return Response(spec.document)
