"""The selection argument's naming rule, expressions, advertised schemas and shortening."""

import json
from typing import Any

import jsonschema
import pytest

from tools.projection import (
    MAX_SELECTION_STEPS,
    NARROWED,
    SelectionError,
    _attempt,
    advertised_description,
    advertised_input_schema,
    advertised_output_schema,
    parse_selection,
    select_argument,
    shorten,
)
from tools.results import call_result

JSON = {"Content-Type": "application/json"}


def schema_with(*names: str) -> dict:
    return {"type": "object", "properties": {name: {"type": "string"} for name in names}}


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        ((), "_select"),
        (("select", "$select"), "_select"),
        (("_select",), "_select_2"),
        (("_select", "_select_2"), "_select_3"),
        (("_select_2",), "_select"),
    ],
)
def test_the_reserved_name_is_the_first_one_no_argument_has(taken, expected):
    assert select_argument(schema_with(*taken)) == expected


def test_the_reserved_argument_is_added_without_touching_the_spec_schema():
    spec = {**schema_with("_select"), "required": ["_select"], "additionalProperties": False}
    before = json.dumps(spec)
    advertised = advertised_input_schema(spec, "_select_2")
    assert json.dumps(spec) == before
    assert list(advertised["properties"]) == ["_select", "_select_2"]
    assert advertised["required"] == ["_select"]
    validator = jsonschema.Draft202012Validator(advertised)
    assert validator.is_valid({"_select": "x", "_select_2": "items[0]"})
    assert not validator.is_valid({"_select_2": 3})


def test_the_description_names_the_argument_briefly():
    assert advertised_description("Lists pets.", "_select_2") == (
        "Lists pets.\n\n`_select_2`: JMESPath to narrow the JSON result."
    )
    note = "`_select`: JMESPath to narrow the JSON result."
    assert advertised_description(None, "_select") == note


def test_what_every_tool_gains_when_advertised_stays_small():
    """`_select` is added to every tool of every server: GitHub's 845 tools must stay under
    the 1.5 MB `tools/list` target (docs/benchmarks.md), so its cost per tool is pinned."""
    from tools.definitions import advertised_fields, tool_definition

    plain: dict[str, Any] = {
        "name": "list_pets",
        "description": "Lists pets.",
        "input_schema": schema_with("limit"),
        "output_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "annotations": {"readOnlyHint": True},
    }
    converted = len(json.dumps(tool_definition(title=None, **plain), separators=(",", ":")))
    served = tool_definition(**advertised_fields(**plain))
    added = len(json.dumps(served, separators=(",", ":"))) - converted
    assert served["inputSchema"]["properties"]["_select"]["description"]
    assert "`_select`" in served["description"]
    assert added <= 170, added  # 181 bytes before the schema description was shortened


def test_the_advertised_output_schema_keeps_refs_resolving_and_accepts_narrowed_results():
    spec = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"pet": {"$ref": "#/$defs/Pet"}},
        "required": ["pet"],
        "$defs": {"Pet": {"type": "object", "required": ["name"]}},
    }
    advertised = advertised_output_schema(spec)
    assert advertised is not None
    assert advertised["$defs"] == spec["$defs"] and advertised["anyOf"][1] == NARROWED
    validator = jsonschema.Draft202012Validator(advertised)
    assert validator.is_valid({"pet": {"name": "Rex"}})
    assert validator.is_valid({"result": [1, 2]})
    assert not validator.is_valid({"pet": {}})  # the $ref still resolves and is enforced
    assert advertised_output_schema(None) is None


def test_parse_errors_carry_the_parser_message():
    with pytest.raises(SelectionError, match="Incomplete expression"):
        parse_selection("a[", "_select")
    with pytest.raises(SelectionError, match=r"Unknown function: nope\(\)"):
        parse_selection("a[?nope(b)]", "_select")
    with pytest.raises(SelectionError, match="at least 1 arguments"):
        parse_selection("not_null()", "_select")
    with pytest.raises(SelectionError, match="nested too deeply"):
        parse_selection("(" * 5_000 + "a" + ")" * 5_000, "_select")
    with pytest.raises(SelectionError, match="must be a string"):
        parse_selection(["a"], "_select")
    assert parse_selection("  ", "_select") is None
    assert parse_selection("max_by(items, &n).id", "_select") is not None


def big(count: int) -> dict:
    return {"items": [{"id": n, "tags": ["t"] * 30, "name": "é" * 40} for n in range(count)]}


def test_shortening_keeps_whole_items_and_counts_every_cut():
    value = big(500)
    shortened = shorten(value, 5_000)
    assert shortened is not None
    assert json.loads(shortened.text) == shortened.value
    assert len(shortened.text.encode()) == shortened.size <= 5_000
    kept = shortened.value["items"]
    assert kept == [{**item, "tags": item["tags"][: len(kept[0]["tags"])]} for item in kept]
    assert all(item["name"] == "é" * 40 for item in kept)  # strings are never cut
    cuts = {cut.path: cut for cut in shortened.cuts}
    assert cuts["items"].kept == len(kept) and cuts["items"].total == 500
    tags = cuts["items[].tags"]
    assert tags.count == len(kept) and tags.total == 30 * len(kept)
    # K is the largest that fits: one more item in every array would not.
    bigger = _attempt(value, len(kept) + 1, False, 5_000)
    assert bigger is None or bigger.size > 5_000  # None: stopped once certainly over


def test_objects_are_cut_only_when_arrays_cannot_make_it_fit():
    wide = {"by_id": {f"k{n}": n for n in range(2_000)}, "list": [1, 2]}
    shortened = shorten(wide, 1_024)
    assert shortened is not None and shortened.size <= 1_024
    assert {cut.kind for cut in shortened.cuts} == {"object"}
    assert shortened.value["by_id"] == {f"k{n}": n for n in range(len(shortened.value["by_id"]))}


def test_what_cannot_be_cut_is_left_alone():
    assert shorten("x" * 10_000, 100) is None


def test_a_structure_too_deep_to_walk_is_cut_at_the_top():
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    shortened = shorten([deep, deep], 100)
    assert shortened is not None and shortened.value == []


def test_secrets_are_scrubbed_before_a_selection_sees_them():
    body = json.dumps({"token": "s3cr3t-value", "items": [{"id": 1}]}).encode()
    selected = call_result(
        status_code=200,
        headers=JSON,
        body=body,
        truncated=False,
        output_schema=None,
        secrets=["s3cr3t-value"],
        selection=parse_selection("token", "_select"),
    )
    assert selected.result["structuredContent"] == {"result": "[REDACTED]"}
    assert selected.returned_bytes == len(b'"[REDACTED]"')


def test_an_error_response_is_not_selected_or_shortened():
    failed = call_result(
        status_code=404,
        headers=JSON,
        body=json.dumps({"message": "no such pet", "pad": "x" * 5_000}).encode(),
        truncated=False,
        output_schema=None,
        selection=parse_selection("message", "_select"),
        max_json_bytes=1_024,
    )
    assert failed.result["isError"] is True and failed.returned_bytes is None
    assert "no such pet" in failed.result["content"][0]["text"]
    assert len(failed.result["content"]) == 1


def test_json_within_the_limit_is_shown_whole_even_past_the_text_limit():
    body = json.dumps({"names": ["a name of some length"] * 40}).encode()
    shown = call_result(
        status_code=200,
        headers=JSON,
        body=body,
        truncated=False,
        output_schema=None,
        max_text_chars=100,
        max_json_bytes=len(body),
    )
    assert shown.result["content"] == [{"type": "text", "text": body.decode()}]
    assert shown.returned_bytes is None  # the body itself: responseBytes stays its length


def test_a_selection_that_finds_nothing_says_so():
    nothing = call_result(
        status_code=200,
        headers=JSON,
        body=b'{"items": []}',
        truncated=False,
        output_schema=None,
        selection=parse_selection("missing.field", "_select"),
    )
    assert nothing.result["structuredContent"] == {"result": None}
    assert [block["text"] for block in nothing.result["content"]] == [
        "null",
        "[`_select` selected nothing: the expression 'missing.field' gives null on this result.]",
    ]


def test_a_selection_built_of_shared_references_is_cut_without_being_encoded_whole():
    # Each level repeats the one below ten times: 10**12 copies of the body if encoded.
    expression = " | ".join(["[@, @, @, @, @, @, @, @, @, @]"] * 12)
    body = json.dumps({"name": "x" * 50}).encode()
    selected = call_result(
        status_code=200,
        headers=JSON,
        body=body,
        truncated=False,
        output_schema=None,
        selection=parse_selection(expression, "_select"),
        max_json_bytes=2_000,
    )
    text = selected.result["content"][0]["text"]
    assert selected.returned_bytes == len(text.encode()) <= 2_000
    assert selected.result["structuredContent"] == {"result": json.loads(text)}
    assert (
        "the JSON result is larger, over the 2,000-byte limit"
        in (selected.result["content"][1]["text"])
    )
    assert "bytes" not in selected.result["_meta"]["specgate/shortened"]


def test_a_selection_that_takes_too_many_steps_is_stopped_and_the_result_returned_whole():
    step = "[@, @, @, @, @, @, @, @, @, @][]"
    expression = ".".join([step] * 8)  # each projection runs the next ten times over
    body = json.dumps({"id": 1}).encode()
    selected = call_result(
        status_code=200,
        headers=JSON,
        body=body,
        truncated=False,
        output_schema=None,
        selection=parse_selection(expression, "_select"),
        max_json_bytes=2_000,
    )
    assert selected.result["structuredContent"] == {"id": 1}
    assert selected.result["content"][1]["text"] == (
        f"[`_select` was not applied: the expression took more than "
        f"{MAX_SELECTION_STEPS:,} steps on this result]"
    )
    assert selected.returned_bytes is None
