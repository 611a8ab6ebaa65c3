"""load_document: JSON and YAML text in, a bounded plain document out, or SpecError."""

from __future__ import annotations

import time

import pytest

from specs.engine import SpecError, load_document


def test_it_reads_json_and_yaml_alike():
    assert load_document('{"openapi": "3.1.0", "paths": {}}') == {"openapi": "3.1.0", "paths": {}}
    assert load_document(b"openapi: 3.1.0\npaths: {}\n") == {"openapi": "3.1.0", "paths": {}}


def test_it_keeps_yaml_keys_and_dates_as_json_text():
    document = load_document("200: {description: ok}\ndate: 2024-01-31\nyes: 1\n")
    assert document == {"200": {"description": "ok"}, "date": "2024-01-31", "true": 1}


def test_it_strips_a_utf8_byte_order_mark():
    assert load_document("\ufeffa: 1".encode()) == {"a": 1}


def test_it_refuses_bytes_that_are_not_utf8():
    with pytest.raises(SpecError, match="not UTF-8 text"):
        load_document(b"openapi: 3.0.0\n\xff\xfe garbage")


def test_it_reports_yaml_syntax_errors_with_line_and_column():
    with pytest.raises(SpecError) as caught:
        load_document("openapi: 3.0.0\npaths:\n  /a: [1,\n")
    problem = caught.value.problems[0]
    assert (problem["line"], problem["column"]) == (4, 1)
    assert "line 4, column 1" in str(caught.value)


def test_it_reports_json_syntax_errors_with_line_and_column():
    with pytest.raises(SpecError) as caught:
        load_document('{\n  "openapi": "3.0.0",\n  "paths": [}\n')
    assert "JSON syntax error at line 3, column 13" in str(caught.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text", "42", "null"])
def test_it_refuses_roots_that_are_not_mappings(text):
    with pytest.raises(SpecError, match="root must be a mapping"):
        load_document(text)


def test_it_refuses_documents_over_the_size_limit():
    with pytest.raises(SpecError, match="larger than the 100 byte limit"):
        load_document("a: " + "x" * 200, max_bytes=100)


def test_it_refuses_empty_documents():
    with pytest.raises(SpecError, match="empty"):
        load_document("  \n")


def test_it_refuses_binary_garbage():
    garbage = bytes(range(256)) * 64
    with pytest.raises(SpecError):
        load_document(garbage)


def test_it_refuses_a_billion_laughs_quickly():
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    started = time.monotonic()
    with pytest.raises(SpecError, match="expands to too many nodes"):
        load_document("\n".join(lines))
    assert time.monotonic() - started < 2


def test_it_refuses_a_self_referencing_alias():
    with pytest.raises(SpecError, match="nested more than"):
        load_document("a: &loop\n  b: *loop\n")


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_it_refuses_ten_megabytes_of_json_nesting_quickly(opening):
    text = opening * (10_000_000 // len(opening))
    started = time.monotonic()
    with pytest.raises(SpecError, match="nested more than 256 levels"):
        load_document(text, max_bytes=20_000_000)
    assert time.monotonic() - started < 5


def test_it_refuses_deep_yaml_nesting():
    text = "".join(" " * depth + "a:\n" for depth in range(300)) + " " * 300 + "a: 1\n"
    with pytest.raises(SpecError, match="nested more than 256 levels"):
        load_document(text)


def test_it_turns_yaml_only_types_into_json_types():
    document = load_document("b: !!binary aGk=\ns: !!set {x, y}\no: !!omap [{k: 1}]\n")
    assert document == {"b": "aGk=", "s": ["x", "y"], "o": [["k", 1]]}


def test_it_refuses_python_object_tags():
    with pytest.raises(SpecError):
        load_document("a: !!python/object/apply:os.system ['true']\n")
