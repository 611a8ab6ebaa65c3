"""JSON pointers and internal ``$ref`` resolution inside one document."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

MAX_REF_HOPS = 32

_MISSING = object()


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape_token(str(token)) for token in tokens)


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Return the node at a JSON pointer (``/a/b``), or ``_MISSING``."""
    if not pointer:
        return document
    if not pointer.startswith("/"):
        return _MISSING
    node = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def ref_pointer(ref: str) -> str | None:
    """The JSON pointer of an internal reference (``#/a/b``), or None when it is external."""
    if not ref.startswith("#"):
        return None
    return unquote(ref[1:])


def is_missing(node: Any) -> bool:
    return node is _MISSING


class RefError(Exception):
    """A reference that is external, dangling or circular; the message explains which."""


def follow(document: Any, node: Any, pointer: str) -> tuple[Any, str]:
    """Follow a chain of ``$ref`` objects (parameters, responses, bodies, ...) to its target.

    Returns the target and its pointer; raises RefError when a reference cannot be followed.
    """
    seen: set[str] = set()
    for _ in range(MAX_REF_HOPS):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node, pointer
        ref = node["$ref"]
        target_pointer = ref_pointer(ref)
        if target_pointer is None:
            raise RefError(f"External reference {ref!r} is not followed.")
        if target_pointer in seen:
            raise RefError(f"Reference {ref!r} is circular.")
        seen.add(target_pointer)
        target = resolve_pointer(document, target_pointer)
        if target is _MISSING:
            raise RefError(f"Reference {ref!r} does not resolve inside the document.")
        node, pointer = target, target_pointer
    raise RefError("Reference chain is too long.")
