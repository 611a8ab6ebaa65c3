"""OpenAPI schema objects (Swagger 2.0, OpenAPI 3.0 and 3.1) to JSON Schema 2020-12.

Every referenced schema is converted once per direction (request or response) and shared by
all the tools that reach it: a tool's ``$defs`` maps def names to those shared, immutable
objects, so a 10,000-operation document does not hold 10,000 copies of its component schemas.
Callers must treat returned schemas as read-only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .loader import json_kind
from .refs import RefError, follow, is_missing, join_pointer, ref_pointer, resolve_pointer

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REQUEST = "request"
RESPONSE = "response"
# Deeper inline nesting than this breaks recursive validators downstream (jsonschema included).
MAX_SCHEMA_DEPTH = 32

JSON_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_DEF_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_UNSAFE_DEF_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

_SCHEMA_KEYWORDS = (
    "not", "if", "then", "else", "contains", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)  # fmt: skip
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAP_KEYWORDS = ("patternProperties", "dependentSchemas")
# Keywords whose subschemas apply to the very instance the schema applies to.
_INPLACE_KEYWORDS = frozenset(
    {"not", "if", "then", "else", "allOf", "anyOf", "oneOf", "dependentSchemas"}
)
_COUNT_KEYWORDS = (
    "maxLength", "minLength", "maxItems", "minItems",
    "maxProperties", "minProperties", "maxContains", "minContains",
)  # fmt: skip
_TEXT_KEYWORDS = ("title", "description", "$comment")
_STRING_KEYWORDS = ("format", "pattern", "contentEncoding", "contentMediaType")
_FLAG_KEYWORDS = ("uniqueItems", "readOnly", "writeOnly", "deprecated")
_VALUE_KEYWORDS = ("default", "const")

Warn = Callable[[str, str], None]


@dataclass(frozen=True)
class _Def:
    schema: Any
    refs: frozenset[str]
    # Defs applied to the same instance (via $ref, allOf, anyOf, ...): a cycle of these would
    # make any validator recurse forever, so such cycles are cut.
    inplace: frozenset[str] = frozenset()


def def_name(pointer: str, component_prefix: str) -> str:
    """Stable ``$defs`` key for a referenced schema, independent of encounter order.

    Component schemas keep their own names (the conformance suite expects ``address``);
    anything else, or a name with characters unsafe in a URI fragment, gets a hash suffix.
    """
    if pointer.startswith(component_prefix):
        component = pointer[len(component_prefix) :]
        if "/" not in component:
            name = component.replace("~1", "/").replace("~0", "~")
            if _DEF_NAME.match(name):
                return name
    tail = "_".join(pointer.split("/")[-3:])
    cleaned = _UNSAFE_DEF_CHARS.sub("_", tail).strip("_")[:60] or "schema"
    cleaned = re.sub("__+", "_", cleaned)
    digest = hashlib.sha256(pointer.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned}_{digest}"


def _python_regex(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number.is_integer() else number
    return None


def _count(value: Any) -> int | None:
    number = _number(value)
    if number is None or number < 0 or int(number) != number:
        return None
    return int(number)


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    return None


def _string_list(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return list(dict.fromkeys(item for item in value if isinstance(item, str)))


class SchemaConverter:
    """Converts schemas of one document, caching every referenced schema by def name."""

    def __init__(self, document: dict[str, Any], *, component_prefix: str, warn: Warn) -> None:
        self._document = document
        self._component_prefix = component_prefix
        self._warn = warn
        self._pointers: dict[str, str] = {}
        self._defs: dict[tuple[str, str], _Def] = {}
        self._raw_defs: dict[tuple[str, str], _Def] = {}
        self._defs_maps: dict[tuple[frozenset[str], str], dict[str, Any]] = {}
        self._hashes: dict[tuple[str, str], str] = {}
        self._direction_hits = 0

    # -- public ------------------------------------------------------------------------

    def convert(self, node: Any, mode: str, pointer: str, refs: set[str]) -> Any:
        """Convert an inline schema; names of the defs it references are added to ``refs``."""
        return self._convert(node, mode, pointer, refs, 0)

    def defs_for(self, refs: Iterable[str], mode: str) -> dict[str, Any]:
        """The ``$defs`` a schema referencing ``refs`` needs: everything reachable, shared."""
        roots = frozenset(refs)
        key = (roots, mode)
        cached = self._defs_maps.get(key)
        if cached is None:
            reachable = self._reachable(roots, mode)
            cached = {name: self._ensure(name, mode).schema for name in sorted(reachable)}
            self._defs_maps[key] = cached
        return cached

    def def_hash(self, name: str, mode: str) -> str:
        key = (name, mode)
        digest = self._hashes.get(key)
        if digest is None:
            text = json.dumps(self._ensure(name, mode).schema, sort_keys=True, ensure_ascii=False)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            self._hashes[key] = digest
        return digest

    def resolve(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow a ``$ref`` chain in the source document (warns and returns {} if it fails)."""
        try:
            return follow(self._document, node, pointer)
        except RefError as exc:
            self._warn(pointer, str(exc) + " A permissive schema is used instead.")
            return {}, pointer

    # -- references ----------------------------------------------------------------------

    def _ref(
        self, ref: str, pointer: str, refs: set[str], inplace: set[str] | None
    ) -> dict[str, Any]:
        target_pointer = ref_pointer(ref)
        if target_pointer is None:
            self._warn(
                pointer, f"External reference {ref!r} is not fetched; any value is accepted."
            )
            return {}
        if is_missing(resolve_pointer(self._document, target_pointer)):
            self._warn(pointer, f"Reference {ref!r} does not resolve; any value is accepted.")
            return {}
        name = def_name(target_pointer, self._component_prefix)
        self._pointers.setdefault(name, target_pointer)
        refs.add(name)
        if inplace is not None:
            inplace.add(name)
        return {"$ref": "#/$defs/" + name}

    def _ensure(self, name: str, mode: str) -> _Def:
        entry = self._defs.get((name, mode))
        if entry is None:
            entry = self._raw(name, mode)
            if self._loops_on_itself(name, mode):
                self._warn(
                    self._pointers[name],
                    "The schema refers to itself without describing anything; "
                    "any value is accepted instead.",
                )
                entry = _Def({}, frozenset())
            self._defs[(name, mode)] = entry
        return entry

    def _raw(self, name: str, mode: str) -> _Def:
        entry = self._raw_defs.get((name, mode))
        if entry is None:
            pointer = self._pointers[name]
            refs: set[str] = set()
            inplace: set[str] = set()
            hits_before = self._direction_hits
            node = resolve_pointer(self._document, pointer)
            schema = self._convert(node, mode, pointer, refs, 0, inplace)
            entry = _Def(schema, frozenset(refs), frozenset(inplace))
            if self._direction_hits == hits_before:
                # No readOnly/writeOnly property met: both directions share one conversion.
                self._raw_defs[(name, REQUEST)] = self._raw_defs[(name, RESPONSE)] = entry
            else:
                self._raw_defs[(name, mode)] = entry
        return entry

    def _loops_on_itself(self, name: str, mode: str) -> bool:
        seen: set[str] = set()
        pending = list(self._raw(name, mode).inplace)
        while pending:
            current = pending.pop()
            if current == name:
                return True
            if current not in seen:
                seen.add(current)
                pending.extend(self._raw(current, mode).inplace)
        return False

    def _reachable(self, roots: frozenset[str], mode: str) -> set[str]:
        seen = set(roots)
        pending = list(roots)
        while pending:
            for ref in self._ensure(pending.pop(), mode).refs:
                if ref not in seen:
                    seen.add(ref)
                    pending.append(ref)
        return seen

    # -- conversion ----------------------------------------------------------------------

    def _convert(
        self,
        node: Any,
        mode: str,
        pointer: str,
        refs: set[str],
        depth: int,
        inplace: set[str] | None = None,
    ) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            self._warn(pointer, "A schema must be an object; any value is accepted instead.")
            return {}
        if depth > MAX_SCHEMA_DEPTH:
            self._warn(pointer, "Schema nested too deeply; any value is accepted below here.")
            return {}
        out: dict[str, Any] = {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.update(self._ref(ref, pointer, refs, inplace))
        self._convert_type(node, out, pointer)
        self._convert_values(node, out, pointer)
        self._convert_bounds(node, out, pointer)
        self._convert_subschemas(node, out, mode, pointer, refs, depth, inplace)
        self._convert_object(node, out, mode, pointer, refs, depth)
        nullable = node.get("nullable") is True or node.get("x-nullable") is True
        return _make_nullable(out) if nullable else out

    def _convert_type(self, node: dict[str, Any], out: dict[str, Any], pointer: str) -> None:
        declared = node.get("type")
        if declared is None:
            return
        names = declared if isinstance(declared, list) else [declared]
        types: list[str] = []
        for name in names:
            if name == "file":
                types.append("string")
                out.setdefault("format", "binary")
            elif isinstance(name, str) and name in JSON_TYPES:
                types.append(name)
            else:
                shown = repr(name) if isinstance(name, (str, int, float, bool)) else json_kind(name)
                self._warn(join_pointer(pointer, "type"), f"Unknown type {shown} is ignored.")
        types = list(dict.fromkeys(types))
        if types:
            out["type"] = types[0] if len(types) == 1 and not isinstance(declared, list) else types

    def _convert_values(self, node: dict[str, Any], out: dict[str, Any], pointer: str) -> None:
        for key in _TEXT_KEYWORDS:
            if key in node and node[key] is not None:
                out[key] = node[key] if isinstance(node[key], str) else str(node[key])
        for key in _STRING_KEYWORDS:
            if isinstance(node.get(key), str):
                out.setdefault(key, node[key])
        if "pattern" in out and not _python_regex(out["pattern"]):
            self._drop_pattern(out, pointer)
        for key in _FLAG_KEYWORDS:
            if key in node and (flag := _flag(node[key])) is not None:
                out[key] = flag
        for key in _VALUE_KEYWORDS:
            if key in node:
                out[key] = node[key]
        if "enum" in node:
            enum = node["enum"]
            out["enum"] = list(enum) if isinstance(enum, list) else [enum]
        examples = node.get("examples")
        if not isinstance(examples, list):
            examples = [node["example"]] if "example" in node else []
        # An example written as {"$ref": ...} means an OpenAPI Example Object elsewhere; as
        # JSON Schema data it would read as a reference that does not resolve in the tool.
        examples = [e for e in examples if not (isinstance(e, dict) and "$ref" in e)]
        if examples:
            out["examples"] = examples

    def _drop_pattern(self, out: dict[str, Any], pointer: str) -> None:
        """Drop a pattern Python cannot compile, keeping it in the description.

        JSON Schema validators in Python (the gateway's included) check ``pattern`` with
        ``re``; one they cannot compile makes the whole schema invalid, and then no argument
        of the tool would be checked at all.
        """
        pattern = out.pop("pattern")
        self._warn(
            join_pointer(pointer, "pattern"),
            f"Pattern {pattern!r} is not one Python's re module can compile; it is left out "
            "of the schema and kept in the description.",
        )
        note = f"Pattern (not checked): {pattern}"
        out["description"] = f"{out['description']}\n\n{note}" if out.get("description") else note

    def _convert_bounds(self, node: dict[str, Any], out: dict[str, Any], pointer: str) -> None:
        for key in _COUNT_KEYWORDS:
            if key in node:
                count = _count(node[key])
                if count is None:
                    self._warn(join_pointer(pointer, key), f"Invalid {key} is ignored.")
                else:
                    out[key] = count
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            value = _number(node.get(bound))
            flag = node.get(exclusive)
            if isinstance(flag, bool):
                # OpenAPI 3.0 / Swagger: a boolean that makes the bound exclusive.
                if value is not None:
                    out[exclusive if flag else bound] = value
                continue
            if value is not None:
                out[bound] = value
            if (limit := _number(flag)) is not None:
                out[exclusive] = limit
        multiple = _number(node.get("multipleOf"))
        if multiple is not None and multiple > 0:
            out["multipleOf"] = multiple

    def _convert_subschemas(
        self,
        node: dict[str, Any],
        out: dict[str, Any],
        mode: str,
        pointer: str,
        refs: set[str],
        depth: int,
        inplace: set[str] | None,
    ) -> None:
        def convert(sub: Any, key: str, *tokens: str | int) -> Any:
            same = inplace if key in _INPLACE_KEYWORDS else None
            sub_pointer = join_pointer(pointer, key, *tokens)
            return self._convert(sub, mode, sub_pointer, refs, depth + 1, same)

        for key in _SCHEMA_KEYWORDS:
            if key in node:
                out[key] = convert(node[key], key)
        for key in _SCHEMA_LIST_KEYWORDS:
            members = node.get(key)
            if isinstance(members, dict):
                members = [members]
            if isinstance(members, list) and members:
                out[key] = [convert(member, key, index) for index, member in enumerate(members)]
        for key in _SCHEMA_MAP_KEYWORDS:
            if isinstance(node.get(key), dict):
                out[key] = {name: convert(sub, key, name) for name, sub in node[key].items()}
        items = node.get("items")
        if isinstance(items, list):
            if items:
                out["prefixItems"] = [
                    convert(item, "items", index) for index, item in enumerate(items)
                ]
            extra = node.get("additionalItems")
            if isinstance(extra, (dict, bool)):
                out["items"] = convert(extra, "additionalItems")
        elif isinstance(items, (dict, bool)):
            out["items"] = convert(items, "items")
        dependent = node.get("dependentRequired")
        if isinstance(dependent, dict):
            out["dependentRequired"] = {
                name: names
                for name, value in dependent.items()
                if (names := _string_list(value)) is not None
            }

    def _convert_object(
        self,
        node: dict[str, Any],
        out: dict[str, Any],
        mode: str,
        pointer: str,
        refs: set[str],
        depth: int,
    ) -> None:
        dropped: set[str] = set()
        properties = node.get("properties")
        if isinstance(properties, dict):
            converted: dict[str, Any] = {}
            for name, sub in properties.items():
                sub_pointer = join_pointer(pointer, "properties", name)
                if self.hidden_in(mode, sub, sub_pointer):
                    dropped.add(name)
                    continue
                converted[name] = self._convert(sub, mode, sub_pointer, refs, depth + 1)
            out["properties"] = converted
        elif properties is not None:
            self._warn(join_pointer(pointer, "properties"), "properties must be an object.")
        additional = node.get("additionalProperties")
        if isinstance(additional, (dict, bool)):
            out["additionalProperties"] = self._convert(
                additional, mode, join_pointer(pointer, "additionalProperties"), refs, depth + 1
            )
        required = _string_list(node.get("required"))
        if required:
            kept = [name for name in required if name not in dropped]
            if kept:
                out["required"] = kept

    def hidden_in(self, mode: str, node: Any, pointer: str) -> bool:
        """True for a readOnly property in a request or a writeOnly one in a response."""
        if not isinstance(node, dict):
            return False
        flagged = [node]
        if isinstance(node.get("$ref"), str):
            try:
                target, _ = follow(self._document, node, pointer)
            except RefError:
                target = None
            if isinstance(target, dict):
                flagged.append(target)
        read_only = any(item.get("readOnly") is True for item in flagged)
        write_only = any(item.get("writeOnly") is True for item in flagged)
        if read_only or write_only:
            # The conversion of the enclosing schema now depends on the direction.
            self._direction_hits += 1
        return read_only if mode == REQUEST else write_only


def _make_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    declared = schema.get("type")
    if isinstance(declared, str):
        schema["type"] = [declared, "null"] if declared != "null" else declared
    elif isinstance(declared, list):
        if "null" not in declared:
            schema["type"] = [*declared, "null"]
    elif any(key in schema for key in ("$ref", "allOf", "anyOf", "oneOf", "not")):
        return {"anyOf": [schema, {"type": "null"}]}
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema
