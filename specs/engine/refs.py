"""JSON pointers and internal ``$ref`` resolution inside one document."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


# Keywords whose value is a URI reference that a JSON Schema or OpenAPI resolver would follow.
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_DROP = object()


def without_external_refs(document: Any, warn: Callable[[str, str], None]) -> Any:
    """The document with every external reference taken out, each one warned about.

    Nothing outside the document is ever fetched or opened, by this engine or by a library it
    hands the document to (the validator, a JSON Schema resolver). A ``$ref`` (or
    ``$dynamicRef``/``$recursiveRef``) whose value does not start with ``#`` is a URL, a file
    name or a relative path, whatever its spelling or encoding. The object holding it is
    replaced by the smallest valid stand-in for its place: a parameter or security scheme is
    left out, a response has no content, a request body no media types, and anything else
    (a schema, a path item, an example) becomes ``{}``. Containers without such a reference
    are shared with the input, not copied.
    """
    return _strip(document, [], warn)


def _stand_in(path: list[str | int]) -> tuple[Any, str]:
    parent = path[-2] if len(path) >= 2 else None
    grandparent = path[-3] if len(path) >= 3 else None
    if parent == "parameters" and (
        isinstance(path[-1], int) or grandparent == "components" or len(path) == 2
    ):
        return _DROP, "The parameter is left out."
    if parent in ("securitySchemes", "securityDefinitions"):
        return _DROP, "The security scheme is left out."
    if parent == "responses":
        return {"description": ""}, "The response is read as one without content."
    if path[-1:] == ["requestBody"] or parent == "requestBodies":
        return {"content": {}}, "The request body is read as one without media types."
    return {}, "An empty object (for a schema: any value) stands in for it."


def _strip(node: Any, path: list[str | int], warn: Callable[[str, str], None]) -> Any:
    # ``path`` is one shared stack of tokens; the pointer is only spelled out for a warning.
    if isinstance(node, dict):
        for keyword in _REFERENCE_KEYWORDS:
            ref = node.get(keyword)
            # Only a string is a reference; a "$ref" key holding an object is a property name.
            if isinstance(ref, str) and not ref.startswith("#"):
                stand_in, consequence = _stand_in(path) if path else ({}, "")
                shown = ref if len(ref) <= 200 else ref[:199] + "…"
                warn(
                    join_pointer("", *path),
                    f"External reference {shown!r} is not followed: only references inside "
                    f"the document (#/…) are used. {consequence}".rstrip(),
                )
                return stand_in
        entries: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        entries = enumerate(node)
    else:
        return node
    changes: dict[Any, Any] = {}
    for key, value in entries:
        if isinstance(value, (dict, list)):
            path.append(key)
            stripped = _strip(value, path, warn)
            path.pop()
            if stripped is not value:
                changes[key] = stripped
    if not changes:
        return node
    if isinstance(node, dict):
        return {
            key: changes.get(key, value)
            for key, value in node.items()
            if changes.get(key) is not _DROP
        }
    return [
        changes.get(index, value)
        for index, value in enumerate(node)
        if changes.get(index) is not _DROP
    ]
