"""Tool and argument names: valid for MCP, unique, stable across re-imports."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ARGUMENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_NAME = 64
_UNSAFE_TOOL_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_UNSAFE_ARGUMENT_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_REPEATED_UNDERSCORES = re.compile(r"__+")


def short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _clean(text: str, unsafe: re.Pattern[str]) -> str:
    return _REPEATED_UNDERSCORES.sub("_", unsafe.sub("_", text)).strip("_")


def _fit(name: str, full: str) -> str:
    """Shorten to 64 characters; a hash of the full name keeps long names apart."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[: MAX_NAME - 9].rstrip('_')}_{short_hash(full, 8)}"


def base_tool_name(operation_id: str | None, method: str, path: str) -> str:
    """The wanted name: the sanitised operationId, else method plus path."""
    if operation_id:
        cleaned = _clean(operation_id, _UNSAFE_TOOL_CHARS)
        if cleaned:
            return _fit(cleaned, operation_id)
    route = _clean(path.replace("{", "").replace("}", ""), _UNSAFE_TOOL_CHARS)
    name = f"{method.lower()}_{route}" if route else method.lower()
    return _fit(name, f"{method} {path}")


def assign_tool_names(
    wanted: Sequence[tuple[str, str]], previous_names: Mapping[str, str] | None
) -> dict[str, str]:
    """Map each operation key to a unique tool name.

    ``wanted`` is ``(key, base name)`` in document order. A previous name is kept while it
    is still valid and not claimed by an earlier operation; everything else gets its base
    name, or on a clash the base name plus a suffix derived from the key alone, so adding
    operations never renames an existing one that kept its previous name.
    """
    previous = previous_names or {}
    names: dict[str, str] = {}
    taken: set[str] = set()
    for key, _ in wanted:
        name = previous.get(key)
        if isinstance(name, str) and TOOL_NAME.match(name) and name not in taken:
            names[key] = name
            taken.add(name)
    for key, base in wanted:
        if key in names:
            continue
        name = base
        length = 6
        while name in taken:
            suffix = short_hash(key, length)
            name = f"{base[: MAX_NAME - length - 1].rstrip('_')}_{suffix}"
            length += 2
        names[key] = name
        taken.add(name)
    return names


def argument_name(wire_name: str) -> str:
    """An argument name most LLM tool APIs accept (``^[A-Za-z0-9_.-]{1,64}$``)."""
    if ARGUMENT_NAME.match(wire_name):
        return wire_name
    cleaned = _clean(wire_name, _UNSAFE_ARGUMENT_CHARS) or "arg"
    return cleaned if len(cleaned) <= MAX_NAME else _fit(cleaned, wire_name)


def unique_name(wanted: str, taken: set[str], prefix: str) -> str:
    """``wanted`` if free, else ``<prefix>_<wanted>``, else that plus a counter."""
    if wanted not in taken:
        return wanted
    candidate = _fit(f"{prefix}_{wanted}", f"{prefix}_{wanted}")
    counter = 2
    while candidate in taken:
        candidate = _fit(f"{prefix}_{wanted}_{counter}", f"{prefix}_{wanted}_{counter}")
        counter += 1
    return candidate
