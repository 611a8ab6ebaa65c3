"""Text that cannot be stored: NUL characters and unpaired UTF-16 surrogates."""

from __future__ import annotations

import re
from typing import Any

# PostgreSQL text and jsonb refuse NUL, and UTF-8 cannot encode a lone surrogate (JSON lets a
# client send one as the escape "\ud800"), so either would fail only when written.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


def first_unstorable(value: Any) -> str | None:
    """The first string (key or value) in a JSON-like VALUE that cannot be stored, if any."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not is_storable(node):
                return node
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


# DRF's CharField refuses NUL characters, and a trimmed field that must not be blank refuses
# whitespace alone: both are said as patterns, so a client can build valid input from the schema.
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
# What the API's URL fields take: an http(s) URL with a host and no whitespace.
HTTP_URL_PATTERN = r"^https?://[^\s/?#@]+([/?#][!-~]*)?$"
