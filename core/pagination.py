"""The one cursor pagination of the API: keyset on (created_at, id), newest first.

A cursor is the signed position of the last item served, so paging is stable
under concurrent inserts (new rows sort before it) and a tampered cursor is a
clean 400 rather than a confusing page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core import signing
from django.db.models import Q
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import ValidationFailed
from core.renderers import Enveloped

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_SALT = "specgate.cursor"


def parse_limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise ValidationFailed(
            "Invalid query parameter",
            details={"limit": [f"Must be an integer from 1 to {maximum}."]},
        )
    return limit


def encode_cursor(created_at: datetime, pk: Any) -> str:
    return signing.dumps([created_at.isoformat(), str(pk)], salt=_SALT, compress=True)


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, pk = signing.loads(cursor, salt=_SALT)
        return datetime.fromisoformat(stamp), str(pk)
    except (signing.BadSignature, ValueError, TypeError):
        raise ValidationFailed(
            "Invalid query parameter", details={"cursor": ["Invalid or tampered cursor."]}
        ) from None


class CursorPagination(BasePagination):
    """Newest first by (created_at, id); the model needs both fields."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        limit = parse_limit(request)
        cursor = request.query_params.get("cursor")
        queryset = queryset.order_by("-created_at", "-id")
        if cursor:
            created_at, pk = decode_cursor(cursor)
            queryset = queryset.filter(
                Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk)
            )
        rows = list(queryset[: limit + 1])
        self.has_more = len(rows) > limit
        page = rows[:limit]
        self.next_cursor = (
            encode_cursor(page[-1].created_at, page[-1].pk) if self.has_more and page else None
        )
        return page

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            Enveloped(
                success=True,
                data=data,
                pagination={"nextCursor": self.next_cursor, "hasMore": self.has_more},
            )
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["success", "data", "pagination"],
            "properties": {
                "success": {"type": "boolean", "enum": [True]},
                "data": schema,
                "pagination": {
                    "type": "object",
                    "required": ["nextCursor", "hasMore"],
                    "properties": {
                        "nextCursor": {"type": "string", "nullable": True},
                        "hasMore": {"type": "boolean"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Items per page (1-{MAX_LIMIT}, default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "Opaque cursor from pagination.nextCursor.",
                "schema": {"type": "string"},
            },
        ]
