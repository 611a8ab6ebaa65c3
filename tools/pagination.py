"""Tools page in their operations' document order rather than newest first.

Tools of one server are created in one bulk insert and share timestamps, so the document
position of their operation (unique within a server) is the natural, stable key.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db.models import Q
from rest_framework.request import Request

from core.errors import ValidationFailed
from core.pagination import CursorPagination, parse_limit

_SALT = "specgate.cursor.tools"


def encode_position_cursor(position: int, pk: Any) -> str:
    return signing.dumps([position, str(pk)], salt=_SALT)


def decode_position_cursor(cursor: str) -> tuple[int, str]:
    try:
        position, pk = signing.loads(cursor, salt=_SALT)
        return int(position), str(pk)
    except (signing.BadSignature, ValueError, TypeError):
        raise ValidationFailed(
            "Invalid query parameter", details={"cursor": ["Invalid or tampered cursor."]}
        ) from None


class ToolPagination(CursorPagination):
    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        limit = parse_limit(request)
        cursor = request.query_params.get("cursor")
        queryset = queryset.order_by("operation__position", "id")
        if cursor:
            position, pk = decode_position_cursor(cursor)
            queryset = queryset.filter(
                Q(operation__position__gt=position) | Q(operation__position=position, id__gt=pk)
            )
        rows = list(queryset[: limit + 1])
        self.has_more = len(rows) > limit
        page = rows[:limit]
        last = page[-1] if page else None
        self.next_cursor = (
            encode_position_cursor(last.operation.position, last.pk)
            if self.has_more and last
            else None
        )
        return page
