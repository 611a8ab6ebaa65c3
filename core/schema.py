"""drf-spectacular schema that documents the envelope and the error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from core.text import HTTP_URL_PATTERN, NO_NUL_PATTERN, NOT_BLANK_PATTERN

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "VALIDATION_ERROR",
                        "AUTH_ERROR",
                        "FORBIDDEN",
                        "NOT_FOUND",
                        "CONFLICT",
                        "RATE_LIMIT",
                        "INTERNAL_ERROR",
                        "UPSTREAM_ERROR",
                        "METHOD_NOT_ALLOWED",
                        "PAYLOAD_TOO_LARGE",
                        "UNSUPPORTED_MEDIA_TYPE",
                        "SERVICE_UNAVAILABLE",
                    ],
                },
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        },
    },
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (VALIDATION_ERROR); details name each field",
    "401": "Missing or invalid authentication (AUTH_ERROR)",
    "403": "Not allowed (FORBIDDEN)",
    "404": "Not found, or owned by another user (NOT_FOUND)",
    "405": "Method not allowed (METHOD_NOT_ALLOWED)",
    "409": "Conflict (CONFLICT)",
    "413": "Request body too large (PAYLOAD_TOO_LARGE)",
    "415": "Unsupported media type (UNSUPPORTED_MEDIA_TYPE)",
    "429": "Rate limit, quota or budget cap (RATE_LIMIT); see Retry-After",
    "500": "Unexpected error (INTERNAL_ERROR)",
    "502": "An upstream failed (UPSTREAM_ERROR)",
    "503": "A dependency is down or a feature is not configured (SERVICE_UNAVAILABLE); "
    "details.reason says which, and Retry-After is sent when it is transient",
}


RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": 'Always sent: `Bearer realm="api"`, with `error="invalid_token"` when '
            "a token was sent but refused.",
        }
    },
    "429": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
    },
    "503": {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "Seconds to wait; sent when the condition is transient.",
        }
    },
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Extra documented error responses for extend_schema(responses=...)."""
    return {
        code: OpenApiResponse(response=ERROR_SCHEMA, description=ERROR_DESCRIPTIONS[str(code)])
        for code in codes
    }


RAW_ALTERNATIVE = "x-specgate-raw-alternative"


def or_raw(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A 2xx JSON schema that is enveloped, or (as DESCRIPTION says when) any raw JSON object."""
    return {**schema, RAW_ALTERNATIVE: description}


def envelope(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"type": "boolean", "enum": [True]}, "data": schema},
    }


class DocumentingAutoSchema(AutoSchema):
    """Says in the schema what the API enforces but drf-spectacular leaves out."""

    _mapping: Any = None

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        if self._mapping != "request" or schema.get("type") != "string":
            return
        if isinstance(field, serializers.URLField) and schema.get("format") == "uri":
            del schema["format"]
            schema.setdefault("pattern", HTTP_URL_PATTERN)
        elif isinstance(field, serializers.CharField) and not {"pattern", "format", "enum"} & set(
            schema
        ):
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = NOT_BLANK_PATTERN if blank_refused else NO_NUL_PATTERN

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        """A request serializer's `schema_extra` (rules between fields, e.g. a oneOf) is added."""
        # What the field validators are mapped for: the patterns only describe input.
        self._mapping = direction
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        extra = getattr(serializer, "schema_extra", None)
        if direction == "request" and extra:
            schema = {**schema, **extra}
        return schema

    def _get_request_for_media_type(
        self, serializer: Any, direction: Any = "request"
    ) -> tuple[Any, bool]:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A hand-written schema, or a serializer whose fields are tied by a oneOf, needs a body
        # when it requires anything.
        extra = (
            serializer if isinstance(serializer, dict) else getattr(serializer, "schema_extra", {})
        )
        if extra and (extra.get("required") or extra.get("oneOf")):
            required = True
        return schema, required


class EnvelopeAutoSchema(DocumentingAutoSchema):
    def _error_ref(self) -> dict[str, Any]:
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, schema=ERROR_SCHEMA, object="Error"
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _get_response_for_code(
        self,
        serializer: Any,
        status_code: Any,
        media_types: Any = None,
        direction: Any = "response",
    ) -> dict[str, Any]:
        paginated = bool(self._is_list_view(serializer) and self._get_paginator())
        response: dict[str, Any] = super()._get_response_for_code(
            serializer, status_code, media_types, direction
        )
        code = str(status_code)
        content = response.get("content", {})
        for media_type, media in content.items():
            schema = media.get("schema")
            if schema is None:
                continue
            if code.startswith("2") and not paginated:
                if "json" in media_type:
                    media["schema"] = self._enveloped(schema)
            elif not code.startswith("2") and schema == ERROR_SCHEMA:
                media["schema"] = self._error_ref()
        return response

    @staticmethod
    def _enveloped(schema: dict[str, Any]) -> dict[str, Any]:
        raw = schema.pop(RAW_ALTERNATIVE, None)
        if raw is None:
            return envelope(schema)
        return {"anyOf": [envelope(schema), {"type": "object", "description": raw}]}

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = ["400", "429", "500"]
        if self.get_auth():
            # Any authenticated route answers 503 while the token issuer's keys are unreachable.
            codes += ["401", "503"]
        if "{" in self.path:
            codes.append("404")
        if self.method in {"POST", "PUT", "PATCH"}:
            codes += ["413", "415"]
        error = {"application/json": {"schema": self._error_ref()}}
        for code in codes:
            responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code], "content": error})
        for code, header in RESPONSE_HEADERS.items():
            if code in responses:
                responses[code].setdefault("headers", {}).update(header)
        return responses


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A Clerk session token, a local-issuer token (manage.py create_token) "
                "or a personal API token (sgp_...)"
            ),
        }
