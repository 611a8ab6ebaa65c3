"""Parse JSON or YAML text into a plain, bounded, JSON-compatible document."""

from __future__ import annotations

import json
from typing import Any

import yaml

from core.text import is_storable

from .errors import SpecError

MAX_DEPTH = 256
# A container needs at least two characters of text, so a document that expands to more
# containers than its text has characters is sharing nodes through YAML aliases (a "bomb").
MIN_EXPANSION_BUDGET = 100_000

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DocumentLoader(_BaseLoader):
    """Safe loader that keeps timestamps as text and all mapping keys as strings."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=False)
        if isinstance(key, bool):
            key = "true" if key else "false"
        elif key is None:
            key = "null"
        elif not isinstance(key, str):
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(
                    None, None, "mapping keys must be scalars", key_node.start_mark
                )
            key = str(key)
        mapping[key] = loader.construct_object(value_node, deep=False)
    return mapping


def _construct_mapping_node(loader: Any, node: yaml.MappingNode) -> Any:
    data: dict[str, Any] = {}
    yield data
    data.update(_construct_mapping(loader, node))


def _construct_scalar_text(loader: Any, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _construct_pairs(loader: Any, node: yaml.Node) -> list[list[Any]]:
    if not isinstance(node, yaml.SequenceNode) or not all(
        isinstance(item, yaml.MappingNode) for item in node.value
    ):
        raise yaml.constructor.ConstructorError(
            None, None, "ordered mappings must be sequences of mappings", node.start_mark
        )
    return [
        [loader.construct_object(key), loader.construct_object(value)]
        for item in node.value
        for key, value in item.value
    ]


def _construct_set(loader: Any, node: yaml.MappingNode) -> list[Any]:
    return list(_construct_mapping(loader, node))


# Only JSON types may come out: binary and timestamps stay text, sets and pairs become lists.
_DocumentLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping_node)
_DocumentLoader.add_constructor("tag:yaml.org,2002:binary", _construct_scalar_text)
_DocumentLoader.add_constructor("tag:yaml.org,2002:set", _construct_set)
_DocumentLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_scalar_text)
_DocumentLoader.add_constructor("tag:yaml.org,2002:omap", _construct_pairs)
_DocumentLoader.add_constructor("tag:yaml.org,2002:pairs", _construct_pairs)


def load_document(raw: bytes | str, *, max_bytes: int = 20 * 1024 * 1024) -> dict[str, Any]:
    """Parse an OpenAPI/Swagger document given as JSON or YAML text.

    Raises SpecError for oversize input, non-UTF-8 bytes, syntax errors (with line and
    column), non-mapping roots, excessive nesting and alias expansion bombs.
    """
    text = _decode(raw, max_bytes)
    if not text.strip():
        raise SpecError("The document is empty.")
    document = _parse(text)
    if not isinstance(document, dict):
        raise SpecError(
            f"The document root must be a mapping (an object), not {json_kind(document)}."
        )
    check_structure(document, max_containers=max(len(text), MIN_EXPANSION_BUDGET))
    return document


def json_kind(value: Any) -> str:
    """What a parsed value is, in the words of JSON (for messages), not Python's type name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else "a value"


def _decode(raw: bytes | str, max_bytes: int) -> str:
    if isinstance(raw, str):
        if len(raw) > max_bytes or len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
            raise SpecError(f"The document is larger than the {max_bytes} byte limit.")
        return raw.removeprefix("\ufeff")
    if len(raw) > max_bytes:
        raise SpecError(f"The document is larger than the {max_bytes} byte limit.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"The document is not UTF-8 text (invalid byte at offset {exc.start})."
        ) from exc


def _parse(text: str) -> Any:
    stripped = text.lstrip()
    json_error: json.JSONDecodeError | None = None
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            json_error = exc
        except RecursionError as exc:
            raise SpecError(_too_deep_message()) from exc
    try:
        return yaml.load(text, Loader=_DocumentLoader)  # noqa: S506 - a safe loader subclass
    except RecursionError as exc:
        raise SpecError(_too_deep_message()) from exc
    except yaml.MarkedYAMLError as exc:
        if json_error is not None:
            raise _json_syntax_error(json_error) from exc
        raise _yaml_syntax_error(exc) from exc
    except yaml.YAMLError as exc:
        if json_error is not None:
            raise _json_syntax_error(json_error) from exc
        raise SpecError(f"The document is not valid YAML: {exc}") from exc


def _json_syntax_error(exc: json.JSONDecodeError) -> SpecError:
    return SpecError(
        f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
        [{"pointer": "", "message": exc.msg, "line": exc.lineno, "column": exc.colno}],  # type: ignore[dict-item]
    )


def _yaml_syntax_error(exc: yaml.MarkedYAMLError) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    column = mark.column + 1 if mark else 0
    reason = " ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
    return SpecError(
        f"YAML syntax error at line {line}, column {column}: {reason}.",
        [{"pointer": "", "message": reason, "line": line, "column": column}],  # type: ignore[dict-item]
    )


def _too_deep_message() -> str:
    return f"The document is nested more than {MAX_DEPTH} levels deep."


def check_structure(document: Any, *, max_containers: int, max_depth: int = MAX_DEPTH) -> int:
    """Walk the document once, refusing cycles, excessive depth, alias bombs and unstorable text.

    YAML aliases share one object between several places; walking the expanded tree (not
    the distinct objects) is exactly what every later consumer does, so that is what is
    bounded. Returns the number of containers visited.
    """
    visited = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        visited += 1
        if visited > max_containers:
            raise SpecError(
                "The document expands to too many nodes (YAML aliases referencing each other?)."
            )
        if depth >= max_depth:
            raise SpecError(_too_deep_message())
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict):
            _check_texts(node)
        _check_texts(children)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return visited


def _check_texts(items: Any) -> None:
    texts = [item for item in items if isinstance(item, str)]
    # One search per container instead of one per string: this walk runs on every import.
    if not texts or is_storable("".join(texts)):
        return
    for item in texts:
        if not is_storable(item):
            raise SpecError(
                "The document contains a NUL character or an unpaired UTF-16 surrogate "
                f"(in {item[:40]!r}); neither can be stored."
            )
