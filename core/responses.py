"""Responses shared by every app: the body of a delete."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.response import Response


class DeletedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    deleted = serializers.ChoiceField(choices=[True], help_text="Always true.")


DELETED = OpenApiResponse(DeletedSerializer, description="Deleted.")


def deleted(resource_id: Any) -> Response:
    """200 with the id of what was deleted: every response is in the envelope, deletes too."""
    return Response({"id": str(resource_id), "deleted": True})
