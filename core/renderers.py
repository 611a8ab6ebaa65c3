"""The success envelope, applied once for every API view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import JSONRenderer


class Enveloped(dict):
    """A response body that already carries the envelope (paginated lists, errors)."""


class EnvelopeRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        status = getattr(response, "status_code", 200)
        already = isinstance(data, Enveloped) or (
            status >= 400 and isinstance(data, dict) and data.get("success") is False
        )
        if not already:
            data = {"success": True, "data": data}
        return super().render(data, accepted_media_type, renderer_context)
