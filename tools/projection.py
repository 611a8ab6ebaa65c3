"""Narrowing and bounding a tool's JSON result: the reserved selection argument and shortening.

Selection. Every tool accepts one optional argument the spec does not declare: a JMESPath
expression that picks the part of the JSON result to return (`items[].{id: id, name: name}`).
It is named `_select`, unless the tool already has an argument of that name: then it is
`_select_2`, else `_select_3`, and so on (the first free one). The name is decided from the
tool's input schema when its call target is built, so every worker picks the same one and it
changes only when the tool's own arguments do. The argument is taken out of the arguments
before they are turned into the upstream request, which is byte for byte the request the same
call without it would send. An expression that does not parse, or that calls a function
JMESPath does not have (or with the wrong number of arguments), is refused before the upstream
is called.

Shortening. A JSON result larger than a byte limit is cut structurally: every array keeps only
its first K items, K as large as fits (and only when arrays alone cannot make it fit, objects
keep their first K members too). The result stays valid JSON, no string is ever cut, and what
was left out is counted per path.

Output schemas. MCP clients validate `structuredContent` against the `outputSchema` a tool
declares, so a tool with one advertises `anyOf: [the spec's schema, NARROWED]`:

- a plain result still conforms to the spec's schema, as before;
- a selected result is always `{"result": <the selected value>}` (it may have any shape),
  which NARROWED accepts;
- a shortened result keeps its plain shape when that still conforms to the spec's schema (cut
  arrays usually do), and is `{"result": <the shortened value>}` when it does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from jmespath.visitor import TreeInterpreter

__all__ = [
    "NARROWED",
    "SELECT",
    "Selection",
    "SelectionError",
    "SelectionTooCostly",
    "Shortened",
    "advertised_description",
    "advertised_input_schema",
    "advertised_output_schema",
    "dumps",
    "fits",
    "parse_selection",
    "select_argument",
    "shorten",
    "shortening_meta",
    "shortening_note",
]

SELECT: Final = "_select"
NARROWED: Final = {"required": ["result"]}
"""The output schema branch of a selected or shortened result: `{"result": <any JSON>}`."""
# Keywords that must stay at the root of an output schema: "#/$defs/..." references resolve
# against the root, and $schema/$id only count there.
_ROOT_KEYWORDS: Final = ("$schema", "$id", "$defs", "definitions")
_FUNCTIONS: Final = Functions().FUNCTION_TABLE
MAX_REPORTED_CUTS: Final = 20
MAX_SELECTION_STEPS: Final = 500_000
"""Steps (AST node visits) one selection may take, well under a second of CPU: enough for
`items[].{id: id, name: name}` over some 80,000 items."""


def select_argument(input_schema: dict[str, Any]) -> str:
    """The reserved argument's name for a tool with INPUT_SCHEMA: `_select`, or the first of
    `_select_2`, `_select_3`, ... that is not one of its arguments."""
    properties = input_schema.get("properties")
    taken = properties if isinstance(properties, dict) else {}
    name, counter = SELECT, 2
    while name in taken:
        name, counter = f"{SELECT}_{counter}", counter + 1
    return name


SELECT_PROPERTY: Final = {
    "type": "string",
    "description": "JMESPath to narrow the JSON result",
}


def advertised_input_schema(input_schema: dict[str, Any], name: str) -> dict[str, Any]:
    """INPUT_SCHEMA with the reserved argument NAME added as an optional property."""
    properties = input_schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    return {**input_schema, "properties": {**properties, name: SELECT_PROPERTY}}


def advertised_description(description: str | None, name: str) -> str:
    """The tool's description with one short sentence about the reserved argument."""
    note = f"`{name}`: JMESPath to narrow the JSON result."
    return f"{description}\n\n{note}" if description else note


def advertised_output_schema(output_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The output schema clients are shown: the spec's, or a selected or shortened result."""
    if output_schema is None:
        return None
    root: dict[str, Any] = {k: output_schema[k] for k in _ROOT_KEYWORDS if k in output_schema}
    # The root says "object" (MCP requires it there), so the spec's branch need not repeat it.
    spec = {
        key: value
        for key, value in output_schema.items()
        if key not in _ROOT_KEYWORDS and not (key == "type" and value == "object")
    }
    return {**root, "type": "object", "anyOf": [spec, NARROWED]}


# --- Selection ---------------------------------------------------------------------------------


class SelectionError(ValueError):
    """The selection argument is not a usable JMESPath expression; the message says why."""


class SelectionTooCostly(JMESPathError):
    """The expression took more steps than MAX_SELECTION_STEPS on this result."""


class _Interpreter(TreeInterpreter):
    """JMESPath's interpreter with a step budget: nested projections over multi-selects can
    take exponential time in the expression's length, and a call must not hold a worker."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self._steps_left = steps

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        self._steps_left -= 1
        if self._steps_left < 0:
            raise SelectionTooCostly(
                f"the expression took more than {MAX_SELECTION_STEPS:,} steps on this result"
            )
        method = self._method_cache.get(node["type"])
        if method is None:  # as Visitor.visit does, without a second call per step
            method = self._method_cache[node["type"]] = getattr(
                self, f"visit_{node['type']}", self.default_visit
            )
        return method(node, *args, **kwargs)


@dataclass(frozen=True)
class Selection:
    """A parsed JMESPath expression and the argument name it came in."""

    argument: str
    expression: str
    parsed: Any = field(repr=False)

    def search(self, value: Any) -> Any:
        """The selected part of VALUE; raises JMESPathError (a type error at run time, or
        SelectionTooCostly)."""
        return _Interpreter(MAX_SELECTION_STEPS).visit(self.parsed.parsed, value)


def parse_selection(raw: Any, argument: str) -> Selection | None:
    """The Selection for the argument's value; None for an empty string (no selection)."""
    if not isinstance(raw, str):
        raise SelectionError(f"`{argument}` must be a string (a JMESPath expression).")
    if not raw.strip():
        return None
    try:
        parsed = jmespath.compile(raw)  # jmespath keeps a cache of parsed expressions
    except JMESPathError as exc:
        raise SelectionError(str(exc)) from None
    except RecursionError:
        raise SelectionError("The expression is nested too deeply to parse.") from None
    for name, count in _function_calls(parsed.parsed):
        entry = _FUNCTIONS.get(name)
        if entry is None:
            raise SelectionError(f"Unknown function: {name}()")
        signature = entry["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if (count < len(signature)) if variadic else (count != len(signature)):
            expected = f"at least {len(signature)}" if variadic else str(len(signature))
            raise SelectionError(
                f"Expected {expected} arguments for function {name}(), received {count}"
            )
    return Selection(argument, raw, parsed)


def _function_calls(node: Any) -> Iterator[tuple[str, int]]:
    """(name, argument count) of every function call in a parsed expression."""
    stack = [node]
    while stack:
        current = stack.pop()
        if not isinstance(current, dict):
            continue
        children = current.get("children") or []
        if current.get("type") == "function_expression":
            yield str(current.get("value")), len(children)
        stack.extend(children)


# --- Shortening --------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (what a shortened or selected result shows)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Cut:
    """What shortening left out at one path (array items or object members)."""

    path: str
    kind: str
    count: int = 0
    kept: int = 0
    total: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "count": self.count,
            "kept": self.kept,
            "omitted": self.total - self.kept,
        }

    def describe(self) -> str:
        items = "items" if self.kind == "array" else "members"
        if self.count == 1:
            return (
                f"{self.path} kept {self.kept} of {self.total} {items} "
                f"({self.total - self.kept} left out)"
            )
        lists = "arrays" if self.kind == "array" else "objects"
        return (
            f"{self.path}: {self.count} {lists} cut, "
            f"{self.total - self.kept} of {self.total} {items} left out"
        )


@dataclass(frozen=True)
class Shortened:
    value: Any
    text: str
    size: int
    cuts: tuple[Cut, ...]


def shorten(value: Any, limit: int) -> Shortened | None:
    """VALUE cut to at most LIMIT bytes of compact JSON; None when no cut makes it fit.

    Arrays keep their first K items, K the largest that fits; when even K = 0 does not fit,
    objects are cut the same way. Strings are never cut, so a lone huge string cannot fit.
    """
    if not isinstance(value, list | dict):
        return None
    for objects in (False, True):
        found = _largest_fit(value, limit, objects)
        if found is not None:
            return found
    return None


def _largest_fit(value: Any, limit: int, objects: bool) -> Shortened | None:
    best = _attempt(value, 0, objects, limit)
    if best is None or best.size > limit:
        return None
    # Grow K until it no longer fits, each time to where the sizes so far (they grow about
    # linearly with K) say the limit is, and at least doubling; then narrow [low, high) down
    # to one K, guessing the same way every other step and halving on the others, so an
    # odd-shaped result still takes only logarithmic steps.
    empty_size = best.size
    low, high, high_size = 0, 1, 0
    while True:
        found = _attempt(value, high, objects, limit)
        if found is None or found.size > limit:
            high_size = _size_beyond(found, best, high, low, limit)
            break
        best, low = found, high
        if not found.cuts:
            return found
        per_item = max((best.size - empty_size) / low, 1.0)
        high = max(2 * low, int((limit - empty_size) / per_item) + 1)
    guess = True
    while high - low > 1:
        if guess and high_size > best.size:
            middle = low + (limit - best.size) * (high - low) // (high_size - best.size)
            middle = min(max(middle, low + 1), high - 1)
        else:
            middle = (low + high) // 2
        guess = not guess
        found = _attempt(value, middle, objects, limit)
        if found is None or found.size > limit:
            high, high_size = middle, _size_beyond(found, best, middle, low, limit)
        else:
            best, low = found, middle
    return best


def _size_beyond(
    found: Shortened | None, best: Shortened, keep: int, best_keep: int, limit: int
) -> int:
    """The size at KEEP: measured, or (for an attempt stopped at the limit) extrapolated
    from the best fit, as sizes grow about linearly with K."""
    if found is not None:
        return found.size
    return max(limit + 1, best.size * keep // max(best_keep, 1))


def _attempt(value: Any, keep: int, objects: bool, limit: int) -> Shortened | None:
    """VALUE with every array (and object, with OBJECTS) cut to KEEP entries; None when that
    is certainly over LIMIT bytes, or nested too deep to walk (a smaller KEEP may still do)."""
    cuts: dict[tuple[str, str], list[int]] = {}
    budget = [limit]
    try:
        cut = _cut(value, keep, objects, "", cuts, budget)
    except (_OverBudget, RecursionError):
        return None
    text = dumps(cut)
    found = tuple(
        Cut(path if path[:1] not in ("", "[") else f"@{path}", kind, count, kept, total)
        for (path, kind), (count, kept, total) in cuts.items()
    )
    return Shortened(cut, text, len(text.encode()), found)


class _OverBudget(Exception):
    pass


def _cut(
    value: Any,
    keep: int,
    objects: bool,
    path: str,
    cuts: dict[tuple[str, str], list[int]],
    budget: list[int],
) -> Any:
    # Every value takes at least one byte and every string its length: once that count is
    # past the limit the attempt cannot fit, so a value full of shared references (which a
    # selection such as `[@, @, @]` can build) is never walked further than the limit.
    budget[0] -= len(value) + 1 if isinstance(value, str) else 1
    if budget[0] < 0:
        raise _OverBudget
    if isinstance(value, list):
        if len(value) > keep:
            _note(cuts, path, "array", keep, len(value))
            value = value[:keep]
        inner = f"{path}[]"
        return [_cut(item, keep, objects, inner, cuts, budget) for item in value]
    if isinstance(value, dict):
        members = list(value.items())
        if objects and len(members) > keep:
            _note(cuts, path, "object", keep, len(members))
            members = members[:keep]
        return {
            key: _cut(item, keep, objects, _member_path(path, key), cuts, budget)
            for key, item in members
        }
    return value


def fits(value: Any, limit: int) -> bool:
    """False when VALUE certainly takes more than LIMIT bytes of JSON (one byte a value, and
    a string's length), found without walking further than that; True otherwise."""
    left = limit
    stack = [value]
    while stack:
        current = stack.pop()
        left -= len(current) + 1 if isinstance(current, str) else 1
        if left < 0:
            return False
        if isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, dict):
            left -= sum(len(key) + 1 for key in current)
            stack.extend(current.values())
    return True


def _note(
    cuts: dict[tuple[str, str], list[int]], path: str, kind: str, kept: int, total: int
) -> None:
    entry = cuts.setdefault((path, kind), [0, 0, 0])
    entry[0] += 1
    entry[1] += kept
    entry[2] += total


def _member_path(path: str, key: str) -> str:
    """PATH.KEY in JMESPath, the key quoted when it is not a bare identifier."""
    bare = key.isidentifier() and key.isascii()
    name = key if bare else json.dumps(key)
    return f"{path}.{name}" if path else name


def shortening_note(
    shortened: Shortened, original_size: int | None, limit: int, argument: str
) -> str:
    """What an agent is told about a shortened result, and how to ask for less.

    `original_size` is None when it was not measured (a selection that builds a huge value
    out of shared references is never encoded whole)."""
    described = [cut.describe() for cut in shortened.cuts[:MAX_REPORTED_CUTS]]
    if len(shortened.cuts) > MAX_REPORTED_CUTS:
        described.append(f"and {len(shortened.cuts) - MAX_REPORTED_CUTS} more paths")
    first = shortened.cuts[0].path if shortened.cuts else "@"
    example = "[:10]" if first == "@" else f"{first}[:10]"
    size = "larger" if original_size is None else f"{original_size:,} bytes"
    return (
        f"[Shortened: the JSON result is {size}, over the {limit:,}-byte "
        f"limit, so it was cut to {shortened.size:,} bytes: " + "; ".join(described) + ". "
        f"Ask for less with the `{argument}` argument (a JMESPath expression), e.g. "
        f"`{example}` or `{first}[].{{id: id, name: name}}`, or with the API's own paging "
        "or filter parameters.]"
    )


def shortening_meta(shortened: Shortened, original_size: int | None, limit: int) -> dict[str, Any]:
    """The `_meta` entry of a shortened result: sizes and every cut, machine-readable."""
    meta: dict[str, Any] = {} if original_size is None else {"bytes": original_size}
    meta["limit"] = limit
    meta["returnedBytes"] = shortened.size
    meta["cuts"] = [cut.as_json() for cut in shortened.cuts[:MAX_REPORTED_CUTS]]
    return meta
