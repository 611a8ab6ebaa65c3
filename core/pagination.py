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


def encode_cursor(key: list[Any]) -> str:
    """A signed, opaque cursor holding the sort key of the last item served."""
    return signing.dumps(key, salt=_SALT, compress=True)


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = signing.loads(cursor, salt=_SALT)
    except signing.BadSignature:
        key = None
    if not isinstance(key, list) or len(key) != 2:
        raise ValidationFailed(
            "Invalid query parameter", details={"cursor": ["Invalid or tampered cursor."]}
        )
    return key


class CursorPagination(BasePagination):
    """Keyset pagination on two fields: a sort field and a unique tie-breaker.

    Newest first by (created_at, id) unless a subclass sets `ordering` and how to
    read and parse its key. Besides the keyset condition, the query carries a plain
    range bound on the first field, so PostgreSQL starts the index scan at the
    cursor instead of walking every row before it.
    """

    ordering: tuple[str, str] = ("-created_at", "-id")

    def key_of(self, item: Any) -> list[Any]:
        return [item.created_at.isoformat(), str(item.pk)]

    def parse_key(self, key: list[Any]) -> tuple[Any, Any]:
        return datetime.fromisoformat(key[0]), str(key[1])

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        limit = parse_limit(request)
        cursor = request.query_params.get("cursor")
        queryset = queryset.order_by(*self.ordering)
        if cursor:
            try:
                first, second = self.parse_key(decode_cursor(cursor))
            except (ValueError, TypeError):
                raise ValidationFailed(
                    "Invalid query parameter", details={"cursor": ["Invalid or tampered cursor."]}
                ) from None
            queryset = queryset.filter(self._after(first, second))
        rows = self.fetch(queryset[: limit + 1])
        self.has_more = len(rows) > limit
        page = rows[:limit]
        self.next_cursor = encode_cursor(self.key_of(page[-1])) if self.has_more and page else None
        return page

    def fetch(self, queryset: Any) -> list[Any]:
        """The rows of one page (and one more, to tell whether there is a next page)."""
        return list(queryset)

    def _after(self, first: Any, second: Any) -> Q:
        sort, tie = (name.lstrip("-") for name in self.ordering)
        op = "lt" if self.ordering[0].startswith("-") else "gt"
        strictly_after = Q(**{f"{sort}__{op}": first}) | Q(**{sort: first, f"{tie}__{op}": second})
        return Q(**{f"{sort}__{op}e": first}) & strictly_after

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
                "description": "Opaque cursor: the previous page's pagination.nextCursor, "
                "as it was given (anything else is 400).",
                "schema": {"type": "string"},
            },
        ]
