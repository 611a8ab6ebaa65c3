"""The jsonschema-rs pre-check never calls valid what the Python validator refuses."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator

from core.fast_validation import compile_check

OBJECT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1, "format": "int64"},
        "name": {"type": "string", "minLength": 1, "maxLength": 5},
        "price": {"type": ["number", "null"], "exclusiveMaximum": 100},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"enum": ["a", "b", 1]},
        "when": {"type": "string", "format": "date-time"},
        "nested": {"$ref": "#/$defs/Nested"},
        "choice": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "fixed": {"const": 1},
    },
    "required": ["id"],
    "additionalProperties": False,
    "$defs": {"Nested": {"type": "object", "required": ["a"], "properties": {"a": {}}}},
}

INSTANCES: list[Any] = [
    {"id": 1},
    {"id": 1.0},
    {"id": True},
    {"id": 0},
    {"id": 2**70},
    {"id": 1, "name": ""},
    {"id": 1, "name": "héllo"},
    {"id": 1, "name": "hélloo"},
    {"id": 1, "name": "\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600"},
    {"id": 1, "name": "\ud800"},
    {"id": 1, "price": None},
    {"id": 1, "price": 100},
    {"id": 1, "price": 99.999},
    {"id": 1, "tags": ["a", "a"]},
    {"id": 1, "tags": ["a", 1]},
    {"id": 1, "tags": ["a", "b", "c"]},
    {"id": 1, "kind": 1.0},
    {"id": 1, "kind": True},
    {"id": 1, "kind": "c"},
    {"id": 1, "when": "not a date"},
    {"id": 1, "nested": {}},
    {"id": 1, "nested": {"a": None}},
    {"id": 1, "choice": 1.0},
    {"id": 1, "choice": True},
    {"id": 1, "fixed": 1.0},
    {"id": 1, "fixed": True},
    {"id": 1, "extra": 1},
    [],
    None,
    "x",
]


@pytest.mark.parametrize("instance", INSTANCES)
def test_a_value_passed_by_the_pre_check_is_valid_for_the_python_validator(instance: Any) -> None:
    check = compile_check(OBJECT)
    assert check is not None
    python_valid = Draft202012Validator(OBJECT).is_valid(instance)
    if check(instance):
        assert python_valid
    else:
        # "Not certainly valid" sends the value to the Python validator: for these values the
        # two agree, so the pre-check saves the Python pass whenever it can.
        assert not python_valid or instance in ({"id": 1, "name": "\ud800"},)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a"},
        {"type": "object", "patternProperties": {"^x": {}}},
        {"type": "number", "multipleOf": 0.1},
        {"type": "array", "uniqueItems": True},
        {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"},
        {"$id": "https://example.com/s", "type": "integer"},
        {"$ref": "https://example.com/other.json"},
        {"$ref": "#/$defs/missing"},
        {"type": "object", "required": "id"},  # invalid for both libraries
        {"type": "object", "unevaluatedProperties": False},
        ["not", "a", "schema"],
    ],
)
def test_schemas_the_libraries_may_judge_differently_get_no_pre_check(schema: Any) -> None:
    assert compile_check(schema) is None


def test_the_spec_engines_schemas_get_the_pre_check() -> None:
    # Every schema the engine writes names the 2020-12 dialect.
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **OBJECT}
    check = compile_check(schema)
    assert check is not None
    assert check({"id": 1})
    assert not check({"id": "1"})
