"""A jsonschema-rs pre-check in front of the Python `jsonschema` validators of the call path.

The gateway validates every `tools/call`'s arguments against the tool's input schema and,
for a tool with an output schema, the upstream's answer against it. The Python validators stay
the judges (their messages are what clients read); a compiled jsonschema-rs validator answers
the common case, "valid", in a fraction of the time, and only an instance it finds invalid goes
to the Python validator for its reasons.

So that a pre-check can never let through what the Python validator would refuse, it is used
only for schemas made of keywords on which the two agree: anything else (regular expressions,
`multipleOf`, `uniqueItems`, dialects other than 2020-12, base URIs, references outside the
document) gets no pre-check, and neither does a schema either library finds invalid or an instance
jsonschema-rs cannot convert. Formats are annotations for both (the Python validators run
without a format checker). jsonschema-rs never fetches a reference here (`offline`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import jsonschema_rs
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator

Check = Callable[[Any], bool]

_UNSAFE_KEYWORDS: Final = frozenset(
    {
        # Regular expressions: Python's re and Rust's regex engines differ at the edges.
        "pattern",
        "patternProperties",
        # Numeric equality and float division are done differently.
        "multipleOf",
        "uniqueItems",
        # A base URI or dynamic scope: resolution may differ.
        "$id",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)
_MAX_NODES: Final = 20_000
DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"
"""The one dialect both sides are sure to use alike (the spec engine writes it on every schema)."""


def _safe(schema: Any) -> bool:
    """Whether SCHEMA uses only keywords on which jsonschema-rs and `jsonschema` agree.

    Property names are checked as keywords too (a property called "pattern" only costs the
    pre-check, never correctness).
    """
    stack = [schema]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            return False
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _UNSAFE_KEYWORDS:
                    return False
                if key == "$schema" and value != DRAFT_2020_12:
                    return False
                if key == "$ref" and not (isinstance(value, str) and value.startswith("#")):
                    return False
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))
    return True


def compile_check(schema: Any) -> Check | None:
    """A function answering True when an instance is certainly valid against SCHEMA, or None
    when SCHEMA gets no pre-check. False means "ask the Python validator", not "invalid"."""
    if not isinstance(schema, dict) or not _safe(schema):
        return None
    try:
        # A schema the Python validator finds invalid is its to report, never passed over.
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    try:
        validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True)
    except Exception:  # an invalid or unresolvable schema: the Python validator decides
        return None
    is_valid = validator.is_valid

    def check(instance: Any) -> bool:
        try:
            return bool(is_valid(instance))
        except Exception:  # not convertible (a lone surrogate...): the Python validator decides
            return False

    return check
