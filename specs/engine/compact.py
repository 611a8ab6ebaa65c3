"""Compact tool schemas: only the ``$defs`` a tool reaches, deep and large parts left open.

A tool's input or output schema is cut down to a byte budget in levels. At level ``L`` a
shared schema more than ``L`` references away from the tool's own schema, and an inline
subschema more than ``L`` property (or item) levels deep, is replaced by a documented open
schema::

    {"type": "object", "description": "A customer object; see the API's documentation ..."}

The deepest level up to the depth budget at which the schema fits is found by bisection; if
it still does not fit with every reference cut, the fewest of the largest top-level
properties that make it fit are opened, found by bisection too (an input schema keeps every
argument's name; an output schema that cannot fit is dropped, since ``outputSchema`` is
optional in MCP). When even every argument opened does not fit (hundreds of described
arguments), they are opened tersely: each keeps its type and the start of its own
description, without the note saying it was left open, or if that is still too big, its type
alone.

Why a compacted schema accepts every instance the original accepts (a superset), so no
argument the upstream would take is refused and no result that conformed stops conforming:

- An open replacement keeps only ``type``, computed as a superset of the types the original
  can accept (its own ``type``, a ``$ref`` target's, any ``allOf`` member's, the union over
  ``anyOf``/``oneOf``) or no ``type`` at all when that is unknown. So the replacement accepts
  whatever the replaced subschema accepted.
- Widening a subschema widens the schema around it wherever the surrounding keyword is
  monotone: ``properties``, ``items``, ``prefixItems``, ``additionalProperties``,
  ``patternProperties``, ``propertyNames``, ``allOf``, ``anyOf``, ``then``, ``else``,
  ``dependentSchemas``, ``contains`` (with ``minContains``) and ``$ref``.
- The other keywords are rewritten where something beneath them was widened, each rewrite
  itself only removing constraints: ``not`` is dropped (a wider ``not`` refuses more);
  ``if``/``then``/``else`` are dropped (a wider ``if`` can switch an instance to ``then``);
  ``oneOf`` becomes ``anyOf`` (a wider branch can make two branches match); ``maxContains``
  is dropped (a wider ``contains`` can count more items); ``unevaluatedProperties`` and
  ``unevaluatedItems`` are dropped (an open replacement no longer marks the properties or
  items it used to evaluate).
- A shared schema that refers to a widened one is widened too (computed to a fixed point
  over cycles), so every ``$ref`` to it is treated as above.

Nothing here touches the tool's arguments mapping: requests are built from the mapping, so
an argument the compacted schema lets through is sent exactly as before. Pure; no Django.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

_DEFS_PREFIX = "#/$defs/"
# Keywords holding one subschema; the first set applies to the same instance.
_INPLACE_ONE = ("not", "if", "then", "else")
_DESCEND_ONE = (
    "items", "additionalProperties", "contains", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)  # fmt: skip
_INPLACE_LIST = ("allOf", "anyOf", "oneOf")
_DESCEND_LIST = ("prefixItems",)
_INPLACE_MAP = ("dependentSchemas",)
_DESCEND_MAP = ("properties", "patternProperties")
_DESCRIPTION_MAX = 160
_TERSE_DESCRIPTION_MAX = 60

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def json_size(value: Any) -> int:
    """Bytes of ``value`` as the gateway sends it (compact separators, ASCII-escaped)."""
    return len(_encode(value))


@dataclass(frozen=True)
class SchemaBudgets:
    """How much of a tool's schemas is spelled out; see the module docstring."""

    max_depth: int = 6
    max_input_bytes: int = 12_000
    max_output_bytes: int = 1_600

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT_BUDGETS = SchemaBudgets()


class Compactor:
    """Compacts the schemas of one document's tools, sharing work on their common ``$defs``.

    Caches are keyed by the identity of the (shared, read-only) def objects, so one Compactor
    must only see schemas from one conversion whose objects stay alive meanwhile.
    """

    def __init__(self, budgets: SchemaBudgets) -> None:
        self.budgets = budgets
        self._refs: dict[int, tuple[Any, frozenset[str]]] = {}
        self._sizes: dict[int, tuple[Any, int]] = {}
        self._rebuilt: dict[tuple[int, frozenset[str]], tuple[Any, Any]] = {}
        self._placeholders: dict[int, tuple[Any, dict[str, Any]]] = {}

    def input_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        compacted = self.compact(schema, self.budgets.max_input_bytes, terse=True)
        return compacted if compacted is not None else schema

    def output_schema(self, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is None:
            return None
        compacted = self.compact(schema, self.budgets.max_output_bytes)
        if compacted is None or json_size(compacted) > self.budgets.max_output_bytes:
            return None
        return compacted

    def compact(
        self, schema: dict[str, Any], max_bytes: int, *, terse: bool = False
    ) -> dict[str, Any] | None:
        """The schema within ``max_bytes`` if cutting can get it there, else its smallest
        form keeping every top-level property name (None if cutting changed nothing).

        ``terse``: when opening every property is not enough, open them tersely (input
        schemas, whose argument names are always kept; an output schema is dropped instead).
        """
        declared = schema.get("$defs")
        defs: dict[str, Any] = declared if isinstance(declared, dict) else {}
        root = {key: value for key, value in schema.items() if key != "$defs"}
        distances = self._distances(root, defs)
        level = self.budgets.max_depth
        deepest = max(distances.values(), default=0)
        level = min(level, max(deepest, _inline_depth(root)))
        candidate, size = self._assemble(root, defs, distances, level, ())
        if size <= max_bytes:
            return candidate
        if level > 0:
            floor, floor_size = self._assemble(root, defs, distances, 0, ())
            if floor_size <= max_bytes:
                # The deepest level that fits, by bisection: a deeper level keeps more.
                fits, too_big = 0, level
                candidate = floor
                while too_big - fits > 1:
                    middle = (fits + too_big) // 2
                    attempt, size = self._assemble(root, defs, distances, middle, ())
                    if size <= max_bytes:
                        fits, candidate = middle, attempt
                    else:
                        too_big = middle
                return candidate
        candidate, size = self._open_largest_properties(root, defs, distances, max_bytes, terse)
        return candidate

    # -- levels ------------------------------------------------------------------------------

    def _assemble(
        self,
        root: dict[str, Any],
        defs: dict[str, Any],
        distances: dict[str, int],
        level: int,
        opened: tuple[str, ...],
        *,
        terse: tuple[str, ...] | None = None,
    ) -> tuple[dict[str, Any], int]:
        cut = {name for name, distance in distances.items() if distance > level}
        widened = self._widened(defs, distances, cut)
        new_root, _ = self._rebuild(root, defs, widened, depth=0, limit=max(level, 1), label="")
        if opened:
            new_root = _with_open_properties(new_root, opened, defs, terse=terse)
        kept: dict[str, Any] = {}
        pending = [name for name in _ref_names(new_root) if name in defs]
        while pending:
            name = pending.pop()
            if name in kept:
                continue
            if name in cut:
                kept[name] = self._placeholder_def(defs[name], name, defs)
            else:
                kept[name] = self._rebuilt_def(defs[name], defs, widened)
                pending.extend(n for n in self._def_refs(kept[name]) if n in defs)
        kept = dict(sorted(kept.items()))
        result = dict(new_root)
        size = json_size(new_root)
        if kept:
            result["$defs"] = kept
            size += len(',"$defs":{}') + len(kept) - 1
            size += sum(json_size(name) + 1 + self._size(value) for name, value in kept.items())
        return result, size

    def _open_largest_properties(
        self,
        root: dict[str, Any],
        defs: dict[str, Any],
        distances: dict[str, int],
        max_bytes: int,
        terse_allowed: bool,
    ) -> tuple[dict[str, Any], int]:
        properties = root.get("properties")
        names = list(properties) if isinstance(properties, dict) else []
        names.sort(key=lambda name: -json_size(properties[name]) if properties else 0)
        # Level 0 with nothing opened is known not to fit. The fewest of the largest
        # arguments to open, by bisection: opening more leaves less.
        candidate, size = self._assemble(root, defs, distances, 0, tuple(names))
        if size > max_bytes and names and terse_allowed:
            # Even every argument opened is too big (hundreds of described arguments): open
            # them tersely, each with its type and the start of its own description; if that
            # is still too big, the fewest of the largest keep their type alone (bisection).
            everything = tuple(names)
            terse, terse_size = self._assemble(root, defs, distances, 0, everything, terse=())
            if terse_size >= size:
                return candidate, size
            candidate, size = terse, terse_size
            if size <= max_bytes:
                return candidate, size
            too_big, fits = 0, len(names)
            bare, bare_size = self._assemble(root, defs, distances, 0, everything, terse=everything)
            if bare_size > max_bytes:
                return (bare, bare_size) if bare_size < size else (candidate, size)
            candidate, size = bare, bare_size
            while fits - too_big > 1:
                middle = (too_big + fits) // 2
                attempt, attempt_size = self._assemble(
                    root, defs, distances, 0, everything, terse=everything[:middle]
                )
                if attempt_size <= max_bytes:
                    fits, candidate, size = middle, attempt, attempt_size
                else:
                    too_big = middle
            return candidate, size
        if size > max_bytes or not names:
            return candidate, size
        too_big, fits = 0, len(names)
        while fits - too_big > 1:
            middle = (too_big + fits) // 2
            attempt, attempt_size = self._assemble(root, defs, distances, 0, tuple(names[:middle]))
            if attempt_size <= max_bytes:
                fits, candidate, size = middle, attempt, attempt_size
            else:
                too_big = middle
        return candidate, size

    # -- widening ------------------------------------------------------------------------------

    def _widened(self, defs: dict[str, Any], distances: dict[str, int], cut: set[str]) -> set[str]:
        """Cut defs, plus every kept def that refers (in any number of steps) to one."""
        widened = set(cut)
        changed = True
        while changed:
            changed = False
            for name in distances:
                if name not in widened and self._def_refs(defs[name]) & widened:
                    widened.add(name)
                    changed = True
        return widened

    def _rebuilt_def(self, schema: Any, defs: dict[str, Any], widened: set[str]) -> Any:
        relevant = frozenset(self._def_refs(schema) & widened)
        if not relevant:
            return schema
        key = (id(schema), relevant)
        cached = self._rebuilt.get(key)
        if cached is None or cached[0] is not schema:
            rebuilt, _ = self._rebuild(schema, defs, set(relevant), depth=0, limit=None, label="")
            cached = (schema, rebuilt)
            self._rebuilt[key] = cached
        return cached[1]

    def _rebuild(
        self,
        node: Any,
        defs: dict[str, Any],
        widened: set[str],
        *,
        depth: int,
        limit: int | None,
        label: str,
    ) -> tuple[Any, bool]:
        """``node`` with inline parts below ``limit`` opened and the keywords above widened
        parts relaxed; the same object when nothing beneath it changed."""
        if not isinstance(node, dict):
            return node, False
        if limit is not None and depth > limit:
            return _placeholder(node, label, defs), True
        ref = node.get("$ref")
        changed: set[str] = set()
        if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX) and ref[8:] in widened:
            changed.add("$ref")
        out = dict(node)

        def visit(sub: Any, inplace: bool, sub_label: str) -> tuple[Any, bool]:
            next_depth = depth if inplace else depth + 1
            return self._rebuild(sub, defs, widened, depth=next_depth, limit=limit, label=sub_label)

        for key in (*_INPLACE_ONE, *_DESCEND_ONE):
            if key in node:
                item_label = f"{label} item" if key == "items" and label else label
                out[key], was = visit(node[key], key in _INPLACE_ONE, item_label)
                if was:
                    changed.add(key)
        for key in (*_INPLACE_LIST, *_DESCEND_LIST):
            if isinstance(node.get(key), list):
                members = [visit(member, key in _INPLACE_LIST, label) for member in node[key]]
                out[key] = [member for member, _ in members]
                if any(was for _, was in members):
                    changed.add(key)
        for key in (*_INPLACE_MAP, *_DESCEND_MAP):
            if isinstance(node.get(key), dict):
                entries = {
                    name: visit(sub, key in _INPLACE_MAP, name if key == "properties" else label)
                    for name, sub in node[key].items()
                }
                out[key] = {name: sub for name, (sub, _) in entries.items()}
                if any(was for _, was in entries.values()):
                    changed.add(key)
        if not changed:
            return node, False
        _relax(out, changed)
        return out, True

    # -- graph ---------------------------------------------------------------------------------

    def _def_refs(self, schema: Any) -> frozenset[str]:
        cached = self._refs.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = (schema, frozenset(_ref_names(schema)))
            self._refs[id(schema)] = cached
        return cached[1]

    def _distances(self, root: dict[str, Any], defs: dict[str, Any]) -> dict[str, int]:
        """References from the root to each def it reaches (1 for a def the root names)."""
        frontier = {name for name in _ref_names(root) if name in defs}
        distances: dict[str, int] = {}
        distance = 1
        while frontier:
            for name in frontier:
                distances[name] = distance
            distance += 1
            following: set[str] = set()
            for name in frontier:
                following |= {n for n in self._def_refs(defs[name]) if n in defs}
            frontier = following - distances.keys()
        return distances

    def _placeholder_def(self, schema: Any, name: str, defs: dict[str, Any]) -> dict[str, Any]:
        cached = self._placeholders.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = (schema, _placeholder(schema, name, defs))
            self._placeholders[id(schema)] = cached
        return cached[1]

    def _size(self, value: Any) -> int:
        cached = self._sizes.get(id(value))
        if cached is None or cached[0] is not value:
            cached = (value, json_size(value))
            self._sizes[id(value)] = cached
        return cached[1]


def _relax(node: dict[str, Any], changed: set[str]) -> None:
    """Remove the constraints a widened subschema would otherwise tighten (see the module)."""
    if "not" in changed:
        node.pop("not", None)
    if "if" in changed:
        for key in ("if", "then", "else"):
            node.pop(key, None)
    if "oneOf" in changed:
        members = node.pop("oneOf")
        if "anyOf" in node:
            node["allOf"] = [*node.get("allOf", []), {"anyOf": members}]
        else:
            node["anyOf"] = members
    if "contains" in changed:
        node.pop("maxContains", None)
    node.pop("unevaluatedProperties", None)
    node.pop("unevaluatedItems", None)


def _with_open_properties(
    root: dict[str, Any],
    opened: tuple[str, ...],
    defs: dict[str, Any],
    *,
    terse: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """ROOT with the OPENED arguments replaced by placeholders. TERSE None: documented ones;
    else terse ones, those named in TERSE with their type alone."""
    properties = dict(root["properties"])
    bare = set(terse or ())
    for name in opened:
        level = 0 if terse is None else 2 if name in bare else 1
        properties[name] = _placeholder(properties[name], name, defs, terse=level)
    result = {**root, "properties": properties}
    _relax(result, {"properties"})
    return result


def _placeholder(
    schema: Any, label: str, defs: dict[str, Any], *, terse: int = 0
) -> dict[str, Any]:
    """A documented schema accepting at least everything ``schema`` accepts.

    ``terse`` 1: only the types and the start of the schema's own description; 2: the types.
    """
    types = possible_types(schema, defs)
    subject = label or "nested"
    out: dict[str, Any] = {}
    if types is not None:
        ordered = sorted(types)
        out["type"] = ordered[0] if len(ordered) == 1 else ordered
    original = schema.get("description") if isinstance(schema, dict) else None
    if terse:
        if terse == 1 and isinstance(original, str) and original.strip():
            out["description"] = _shortened(original, _TERSE_DESCRIPTION_MAX)
        return out
    if types is not None and types <= {"object", "null"} and "object" in types:
        text = f"A {subject} object; see the API's documentation for its fields."
    else:
        text = f"A {subject} value, left open here; see the API's documentation for its shape."
    if isinstance(original, str) and original.strip():
        text = f"{_shortened(original, _DESCRIPTION_MAX)} ({text})"
    out["description"] = text
    return out


def _shortened(text: str, limit: int) -> str:
    summary = text.strip()
    if len(summary) > limit:
        summary = summary[: limit - 1].rstrip() + "…"
    return summary


def possible_types(
    schema: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()
) -> set[str] | None:
    """A set of JSON types every instance ``schema`` accepts belongs to; None if unknown.

    Each of the schema's own ``type``, its ``$ref`` target's types and any ``allOf``
    member's types bounds what it accepts, so the smallest of them is taken; ``anyOf`` and
    ``oneOf`` accept at most the union of their members' types.
    """
    if not isinstance(schema, dict):
        return None
    bounds: list[set[str]] = []
    declared = schema.get("type")
    if isinstance(declared, str):
        bounds.append({declared})
    elif isinstance(declared, list) and all(isinstance(item, str) for item in declared):
        bounds.append(set(declared))
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
        name = ref[len(_DEFS_PREFIX) :]
        if name in defs and name not in seen:
            target = possible_types(defs[name], defs, seen | {name})
            if target is not None:
                bounds.append(target)
    members = schema.get("allOf")
    if isinstance(members, list):
        for member in members:
            found = possible_types(member, defs, seen)
            if found is not None:
                bounds.append(found)
    for key in ("anyOf", "oneOf"):
        members = schema.get(key)
        if isinstance(members, list) and members:
            union: set[str] = set()
            for member in members:
                found = possible_types(member, defs, seen)
                if found is None:
                    break
                union |= found
            else:
                bounds.append(union)
    if not bounds:
        return None
    return min(bounds, key=len)


def _ref_names(node: Any) -> Iterator[str]:
    """Def names a schema refers to, wherever it does.

    The values of ``enum``, ``const``, ``default`` and ``examples`` are instance data, so a
    ``$ref`` inside them is not a reference; but the same words as keys of ``properties``
    (a property named ``default``) name subschemas, which are searched like any other.
    """
    stack: list[tuple[Any, bool]] = [(node, True)]
    while stack:
        current, is_schema = stack.pop()
        if isinstance(current, dict):
            if not is_schema:  # a map of names to subschemas
                stack.extend((value, True) for value in current.values())
                continue
            ref = current.get("$ref")
            if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
                yield ref[len(_DEFS_PREFIX) :]
            for key, value in current.items():
                if key not in _DATA_KEYWORDS:
                    stack.append((value, key not in _SCHEMA_MAPS))
        elif isinstance(current, list):
            stack.extend((item, True) for item in current)


# Keywords whose values are instance data, not schemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
# Keywords whose values map arbitrary names (which may be the words above) to subschemas.
_SCHEMA_MAPS = frozenset({*_INPLACE_MAP, *_DESCEND_MAP, "$defs"})


def _inline_depth(node: Any, depth: int = 0) -> int:
    """How many property or item levels deep the inline schema goes."""
    if not isinstance(node, dict):
        return depth
    deepest = depth
    for key in (*_INPLACE_ONE, *_DESCEND_ONE):
        if key in node:
            step = 0 if key in _INPLACE_ONE else 1
            deepest = max(deepest, _inline_depth(node[key], depth + step))
    for key in (*_INPLACE_LIST, *_DESCEND_LIST):
        if isinstance(node.get(key), list):
            step = 0 if key in _INPLACE_LIST else 1
            for member in node[key]:
                deepest = max(deepest, _inline_depth(member, depth + step))
    for key in (*_INPLACE_MAP, *_DESCEND_MAP):
        if isinstance(node.get(key), dict):
            step = 0 if key in _INPLACE_MAP else 1
            for sub in node[key].values():
                deepest = max(deepest, _inline_depth(sub, depth + step))
    return deepest
