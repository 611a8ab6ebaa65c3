"""build_request: the exact path, query, headers and body bytes for each style."""

from __future__ import annotations

import json
from typing import Any

import pytest

from specs.engine import ArgumentError, build_request, convert

BLUE = "blue"
COLORS = ["blue", "black", "brown"]
RGB = {"R": 100, "G": 200}


def one(location: str, style: str, explode: bool, **extra: Any) -> dict[str, Any]:
    target = {"in": location, "name": "color", "style": style, "explode": explode, **extra}
    return {"arguments": {"color": target}, "body": None}


@pytest.mark.parametrize(
    ("style", "explode", "expected"),
    [
        ("simple", False, ["/x/blue", "/x/blue,black,brown", "/x/R,100,G,200"]),
        ("simple", True, ["/x/blue", "/x/blue,black,brown", "/x/R=100,G=200"]),
        ("label", False, ["/x/.blue", "/x/.blue,black,brown", "/x/.R,100,G,200"]),
        ("label", True, ["/x/.blue", "/x/.blue.black.brown", "/x/.R=100.G=200"]),
        ("matrix", False, ["/x/;color=blue", "/x/;color=blue,black,brown", "/x/;color=R,100,G,200"]),  # noqa: E501
        ("matrix", True, ["/x/;color=blue", "/x/;color=blue;color=black;color=brown", "/x/;R=100;G=200"]),  # noqa: E501
    ],
)  # fmt: skip
def test_path_styles(style, explode, expected):
    mapping = one("path", style, explode)
    paths = [
        build_request(mapping, "get", "/x/{color}", {"color": v}).path for v in (BLUE, COLORS, RGB)
    ]
    assert paths == expected


@pytest.mark.parametrize(
    ("style", "explode", "expected"),
    [
        ("form", True, ["color=blue", "color=blue&color=black&color=brown", "R=100&G=200"]),
        ("form", False, ["color=blue", "color=blue,black,brown", "color=R,100,G,200"]),
        ("spaceDelimited", False, ["color=blue", "color=blue%20black%20brown", "color=R%20100%20G%20200"]),  # noqa: E501
        ("pipeDelimited", False, ["color=blue", "color=blue%7Cblack%7Cbrown", "color=R%7C100%7CG%7C200"]),  # noqa: E501
        ("tabDelimited", False, ["color=blue", "color=blue%09black%09brown", "color=R%09100%09G%09200"]),  # noqa: E501
        ("deepObject", True, ["color=blue", "color=blue&color=black&color=brown", "color%5BR%5D=100&color%5BG%5D=200"]),  # noqa: E501
    ],
)  # fmt: skip
def test_query_styles(style, explode, expected):
    mapping = one("query", style, explode)
    queries = [
        build_request(mapping, "get", "/x", {"color": v}).query_string for v in (BLUE, COLORS, RGB)
    ]
    assert queries == expected


def test_query_pairs_and_url():
    plan = build_request(one("query", "form", False), "get", "/x", {"color": COLORS})
    assert plan.query == [("color", "blue,black,brown")]
    assert plan.url("https://api.example/v1/") == "https://api.example/v1/x?color=blue,black,brown"


def test_query_values_are_escaped_unless_reserved_characters_are_allowed():
    value = "a/b?c&d=e f,ü"
    plain = build_request(one("query", "form", True), "get", "/x", {"color": value})
    assert plain.query_string == "color=a%2Fb%3Fc%26d%3De%20f%2C%C3%BC"
    reserved = build_request(
        one("query", "form", True, allowReserved=True), "get", "/x", {"color": value}
    )
    assert reserved.query_string == "color=a/b?c%26d%3De%20f,%C3%BC"


def test_nested_deep_objects_and_scalars():
    mapping = one("query", "deepObject", True)
    plan = build_request(mapping, "get", "/x", {"color": {"a": {"b": True}, "n": 1.5, "z": None}})
    assert plan.query == [("color[a][b]", "true"), ("color[n]", "1.5")]


def test_content_serialised_parameters_are_compact_json():
    mapping = {
        "arguments": {"where": {"in": "query", "name": "where", "contentType": "application/json"}}
    }
    plan = build_request(mapping, "get", "/x", {"where": {"a": [1, "é"]}})
    assert plan.query_string == "where=%7B%22a%22%3A%5B1%2C%22%C3%A9%22%5D%7D"


@pytest.mark.parametrize(
    ("value", "path"),
    [("a/b", "/files/a%2Fb/raw"), ("%2F", "/files/%252F/raw"), ("..x", "/files/..x/raw"),
     ("a b?#", "/files/a%20b%3F%23/raw"), (7, "/files/7/raw")],
)  # fmt: skip
def test_path_values_stay_inside_their_segment(value, path):
    mapping = one("path", "simple", False)
    assert build_request(mapping, "get", "/files/{color}/raw", {"color": value}).path == path


@pytest.mark.parametrize("value", ["..", ".", ""])
def test_path_values_cannot_climb_or_vanish(value):
    with pytest.raises(ArgumentError):
        build_request(one("path", "simple", False), "get", "/files/{color}", {"color": value})


def test_a_missing_path_value_is_an_error():
    with pytest.raises(ArgumentError, match="Missing value for path parameter 'color'"):
        build_request(one("path", "simple", False), "get", "/files/{color}", {})


def test_headers_use_the_simple_style_and_refuse_line_breaks():
    mapping = one("header", "simple", False)
    plan = build_request(mapping, "get", "/x", {"color": COLORS})
    assert plan.headers == [("color", "blue,black,brown")]
    exploded = build_request(one("header", "simple", True), "get", "/x", {"color": RGB})
    assert exploded.headers == [("color", "R=100,G=200")]
    with pytest.raises(ArgumentError, match=r"'\\r' cannot be sent"):
        build_request(mapping, "get", "/x", {"color": "a\r\nX-Evil: 1"})


@pytest.mark.parametrize(
    ("value", "bad"),
    [("café", "é"), ("日本", "日"), ("tab\x7fdel", "\x7f"), ("a\x00b", "\x00"), ("x\ny", "\n")],
)
def test_a_header_value_that_cannot_be_sent_is_an_argument_error_naming_the_argument(value, bad):
    mapping = {"arguments": {"xColor": {"in": "header", "name": "X-Color"}}, "body": None}
    with pytest.raises(ArgumentError) as raised:
        build_request(mapping, "get", "/x", {"xColor": value})
    assert str(raised.value) == (
        "Argument 'xColor' is sent in the 'X-Color' header, which can only carry printable "
        f"ASCII characters, spaces and tabs; {bad!r} cannot be sent."
    )


def test_header_values_keep_inner_blanks_and_lose_outer_ones():
    mapping = {"arguments": {"h": {"in": "header", "name": "X-H"}}, "body": None}
    plan = build_request(mapping, "get", "/x", {"h": "  a b\tc~!  "})
    assert plan.headers == [("X-H", "a b\tc~!")]
    as_json = {
        "arguments": {"h": {"in": "header", "name": "X-J", "contentType": "application/json"}}
    }
    plan = build_request(as_json, "get", "/x", {"h": {"city": "Zürich"}})
    assert plan.headers == [("X-J", '{"city":"Z\\u00fcrich"}')]


def test_a_header_name_that_is_not_a_token_is_refused():
    mapping = {"arguments": {"h": {"in": "header", "name": "X Bad"}}, "body": None}
    with pytest.raises(
        ArgumentError, match="Header name 'X Bad' \\(argument 'h'\\) cannot be sent"
    ):
        build_request(mapping, "get", "/x", {"h": "v"})


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("plain-token_1.2", "plain-token_1.2"),
        ("base64/abc+def==", "base64/abc+def=="),
        ("50%", "50%"),
        ("a; admin=1", "a%3B%20admin=1"),
        ("a\r\nSet-Cookie: x", "a%0D%0ASet-Cookie:%20x"),
        ('say "hi", \\ 100%', "say%20%22hi%22%2C%20%5C%20100%25"),
        ("café", "caf%C3%A9"),
    ],
)
def test_cookie_values_outside_cookie_octets_are_percent_encoded(value, sent):
    plan = build_request(one("cookie", "form", False), "get", "/x", {"color": value})
    assert plan.cookies == [("color", sent)]


def test_cookies_use_the_form_style_and_encode_each_item():
    plan = build_request(one("cookie", "form", False), "get", "/x", {"color": COLORS})
    assert plan.cookies == [("color", "blue,black,brown")]
    plan = build_request(one("cookie", "form", False), "get", "/x", {"color": ["a b", "c,d"]})
    assert plan.cookies == [("color", "a%20b,c%2Cd")]
    plan = build_request(one("cookie", "form", True), "get", "/x", {"color": ["é", "x"]})
    assert plan.cookies == [("color", "%C3%A9"), ("color", "x")]
    plan = build_request(one("cookie", "form", True), "get", "/x", {"color": {"k": "v;1"}})
    assert plan.cookies == [("k", "v%3B1")]


@pytest.mark.parametrize("name", ["a=b", "a;b", "a b", "é", "a\nb", ""])
def test_a_cookie_name_that_is_not_a_token_is_refused(name):
    with pytest.raises(ArgumentError, match="cannot be a cookie name"):
        build_request(one("cookie", "form", True), "get", "/x", {"color": {name: "v"}})
    mapping = {"arguments": {"c": {"in": "cookie", "name": name, "style": "form"}}, "body": None}
    with pytest.raises(ArgumentError, match="Argument 'c'"):
        build_request(mapping, "get", "/x", {"c": "v"})


def test_none_values_are_left_out():
    plan = build_request(one("query", "form", True), "get", "/x", {"color": None})
    assert (plan.query_string, plan.body, plan.content_type) == ("", None, None)


def json_body_mapping(required: bool = True) -> dict[str, Any]:
    return {
        "arguments": {
            "id": {"in": "path", "name": "id", "style": "simple", "explode": False},
            "body_id": {"in": "bodyField", "name": "id"},
            "name": {"in": "bodyField", "name": "name"},
        },
        "body": {"mediaType": "application/json", "encoding": "json", "required": required},
    }


def test_json_body_fields_are_gathered_under_their_wire_names():
    plan = build_request(
        json_body_mapping(), "put", "/pets/{id}", {"id": 1, "body_id": 2, "name": "Rex ü"}
    )
    assert plan.method == "PUT"
    assert plan.path == "/pets/1"
    assert plan.body == '{"id":2,"name":"Rex ü"}'.encode()
    assert plan.content_type == "application/json"


def test_an_optional_body_without_fields_is_not_sent():
    plan = build_request(json_body_mapping(required=False), "put", "/pets/{id}", {"id": 1})
    assert plan.body is None
    required = build_request(json_body_mapping(), "put", "/pets/{id}", {"id": 1})
    assert required.body == b"{}"


def test_a_whole_body_argument_is_sent_as_is():
    mapping = {
        "arguments": {"body": {"in": "body"}},
        "body": {"mediaType": "application/vnd.api+json", "encoding": "json", "required": True},
    }
    plan = build_request(mapping, "post", "/tags", {"body": ["a", "b"]})
    assert (plan.body, plan.content_type) == (b'["a","b"]', "application/vnd.api+json")
    raw = {
        "arguments": {"body": {"in": "body"}},
        "body": {"mediaType": "text/plain", "encoding": "raw", "required": True},
    }
    plan = build_request(raw, "post", "/note", {"body": "hello\n"})
    assert (plan.body, plan.content_type) == (b"hello\n", "text/plain")


def test_form_bodies_are_urlencoded():
    mapping = {
        "arguments": {
            "name": {"in": "formField", "name": "name", "style": "form", "explode": True},
            "tags": {"in": "formField", "name": "tags", "style": "form", "explode": True},
            "ids": {"in": "formField", "name": "ids", "style": "form", "explode": False},
        },
        "body": {
            "mediaType": "application/x-www-form-urlencoded",
            "encoding": "form",
            "required": True,
        },
    }
    plan = build_request(
        mapping, "post", "/f", {"name": "a b&c", "tags": ["x", "y"], "ids": [1, 2]}
    )
    assert plan.body == b"name=a+b%26c&tags=x&tags=y&ids=1%2C2"
    assert plan.content_type == "application/x-www-form-urlencoded"


def test_multipart_bodies_have_one_part_per_value():
    mapping = {
        "arguments": {
            "caption": {"in": "part", "name": "caption"},
            "meta": {"in": "part", "name": "meta"},
            "file": {"in": "part", "name": "file", "binary": True, "contentType": "image/png"},
            "tags": {"in": "part", "name": "tags"},
        },
        "body": {"mediaType": "multipart/form-data", "encoding": "multipart", "required": True},
    }
    arguments = {"caption": "Hi", "meta": {"a": 1}, "file": "PNG…", "tags": ["x", "y"]}
    plan = build_request(mapping, "post", "/u", arguments, boundary="BOUNDARY")
    assert plan.content_type == "multipart/form-data; boundary=BOUNDARY"
    assert plan.body == (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="caption"\r\n\r\nHi\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="meta"\r\n'
        b'Content-Type: application/json\r\n\r\n{"a":1}\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n'
        b"Content-Type: image/png\r\n\r\nPNG\xe2\x80\xa6\r\n"
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="tags"\r\n\r\nx\r\n'
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="tags"\r\n\r\ny\r\n'
        b"--BOUNDARY--\r\n"
    )


def test_a_random_boundary_is_used_by_default():
    mapping = {
        "arguments": {"a": {"in": "part", "name": "a"}},
        "body": {"mediaType": "multipart/form-data", "encoding": "multipart", "required": True},
    }
    first = build_request(mapping, "post", "/u", {"a": "1"})
    second = build_request(mapping, "post", "/u", {"a": "1"})
    assert first.content_type != second.content_type
    boundary = first.content_type.split("boundary=")[1]  # type: ignore[union-attr]
    assert first.body is not None and first.body.endswith(f"--{boundary}--\r\n".encode())


def test_a_converted_mapping_round_trips_into_a_request():
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/pets/{id}": {
                "put": {
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},  # noqa: E501
                        {"name": "dry", "in": "query", "schema": {"type": "boolean"}},
                    ],
                    "requestBody": {"content": {"application/json": {"schema": {
                        "type": "object", "properties": {"id": {"type": "integer"},
                                                         "name": {"type": "string"}}}}}},
                    "responses": {"204": {"description": "done"}},
                }
            }
        },
    }  # fmt: skip
    (operation,) = convert(document).operations
    arguments = {"id": 5, "dry": True, "body_id": 6, "name": "Rex"}
    plan = build_request(operation.mapping, operation.method, operation.path, arguments)
    assert (plan.method, plan.path, plan.query_string) == ("PUT", "/pets/5", "dry=true")
    assert json.loads(plan.body or b"") == {"id": 6, "name": "Rex"}


def test_header_parameters_tell_the_model_what_a_header_can_carry():
    document = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/x": {
                "get": {
                    "parameters": [
                        {"name": "X-A", "in": "header", "schema": {"type": "string"}},
                        {
                            "name": "X-B",
                            "in": "header",
                            "schema": {"type": "string", "pattern": "^b"},
                        },
                        {"name": "X-N", "in": "header", "schema": {"type": "integer"}},
                        {
                            "name": "X-J",
                            "in": "header",
                            "content": {"application/json": {"schema": {}}},
                        },
                        {"name": "Bad Name", "in": "header", "schema": {"type": "string"}},
                        {"name": "bad;cookie", "in": "cookie", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    result = convert(document)
    properties = result.operations[0].input_schema["properties"]
    pattern = "^[\\t\\x20-\\x7e]*$"
    assert properties == {
        "X-A": {"type": "string", "pattern": pattern},
        "X-B": {"type": "string", "pattern": "^b", "allOf": [{"pattern": pattern}]},
        "X-N": {"type": "integer", "pattern": pattern},
        "X-J": {},
    }
    assert {w["message"] for w in result.warnings} == {
        "'Bad Name' cannot be sent as a header name; the parameter is left out.",
        "'bad;cookie' cannot be sent as a cookie name; the parameter is left out.",
    }
