"""Every request a tool sends is the request the spec means: the exact bytes, case by case."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from specs.engine import build_request, convert


def operation(path: str, method: str = "get", **fields: Any) -> dict[str, Any]:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {path: {method: {"responses": {"200": {"description": "ok"}}, **fields}}},
    }
    [result] = convert(document).operations
    return {
        "mapping": result.mapping,
        "schema": result.input_schema,
        "method": result.method,
        "path": result.path,
    }


def build(op: dict[str, Any], arguments: dict[str, Any]) -> Any:
    return build_request(op["mapping"], op["method"], op["path"], arguments, boundary="B")


def accepted(op: dict[str, Any], arguments: dict[str, Any]) -> bool:
    return Draft202012Validator(op["schema"]).is_valid(arguments)


# 1. '#' and '?' in a path template


def test_a_fragment_in_the_path_template_is_never_sent():
    op = operation("/#X-Amz-Target=DeviceFarm_20150623.ListProjects", "post")
    plan = build(op, {})
    assert (plan.path, plan.query_string) == ("/", "")
    assert plan.url("https://devicefarm.example") == "https://devicefarm.example/"


def test_a_query_in_the_path_template_is_sent_as_query_before_the_arguments():
    op = operation(
        "/{bucket}?uploads&list-type=2#frag",
        parameters=[
            {"name": "bucket", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "prefix", "in": "query", "schema": {"type": "string"}},
        ],
    )
    plan = build(op, {"bucket": "b 1", "prefix": "a/b"})
    assert plan.path == "/b%201"
    assert plan.query_string == "uploads&list-type=2&prefix=a%2Fb"
    assert (
        plan.url("https://s3.example")
        == "https://s3.example/b%201?uploads&list-type=2&prefix=a%2Fb"
    )
    assert plan.query == [("uploads", ""), ("list-type", "2"), ("prefix", "a/b")]


# 2. An optional body keeps its schema's required fields


def test_an_optional_body_once_sent_has_its_required_fields():
    body_schema = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "tag": {"type": "string"}},
    }
    op = operation(
        "/pets", "post", requestBody={"content": {"application/json": {"schema": body_schema}}}
    )
    assert op["schema"]["dependentRequired"] == {"tag": ["name"]}
    assert "required" not in op["schema"]
    assert accepted(op, {}) and accepted(op, {"name": "Rex"})
    assert accepted(op, {"name": "Rex", "tag": "cat"})
    assert not accepted(op, {"tag": "cat"})
    assert build(op, {}).body is None
    assert build(op, {"name": "Rex", "tag": "cat"}).body == b'{"name":"Rex","tag":"cat"}'


def test_a_required_body_keeps_plain_required_fields():
    body_schema = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}},
    }
    op = operation(
        "/pets",
        "post",
        requestBody={"required": True, "content": {"application/json": {"schema": body_schema}}},
    )
    assert op["schema"]["required"] == ["name"]
    assert "dependentRequired" not in op["schema"]


# 4. null for a nullable body field is sent


def test_null_for_a_nullable_body_field_is_sent():
    body_schema = {
        "type": "object",
        "required": ["title"],
        "properties": {"title": {"type": "string", "nullable": True}, "n": {"type": "integer"}},
    }
    op = operation(
        "/notes",
        "post",
        requestBody={"required": True, "content": {"application/json": {"schema": body_schema}}},
    )
    assert accepted(op, {"title": None})
    assert build(op, {"title": None}).body == b'{"title":null}'


def test_null_for_a_parameter_or_form_field_is_left_out():
    op = operation(
        "/f",
        "post",
        parameters=[{"name": "q", "in": "query", "schema": {"type": "string", "nullable": True}}],
        requestBody={
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}
                }
            }
        },
    )
    plan = build(op, {"q": None, "a": None})
    assert (plan.query_string, plan.body) == ("", None)


# 5. Empty collections


def test_a_required_array_parameter_needs_an_item():
    op = operation(
        "/x",
        parameters=[
            {
                "name": "ids",
                "in": "query",
                "required": True,
                "schema": {"type": "array", "items": {"type": "integer"}},
            }
        ],
    )
    assert op["schema"]["properties"]["ids"] == {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 1,
    }
    assert not accepted(op, {"ids": []})


def test_an_empty_array_or_object_parameter_is_left_out_in_every_style():
    op = operation(
        "/x",
        parameters=[
            {
                "name": "a",
                "in": "query",
                "explode": False,
                "schema": {"type": "array", "items": {}},
            },
            {"name": "b", "in": "query", "schema": {"type": "array", "items": {}}},
            {"name": "c", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
            {"name": "d", "in": "header", "schema": {"type": "array", "items": {}}},
            {"name": "e", "in": "cookie", "schema": {"type": "array", "items": {}}},
        ],
    )
    plan = build(op, {"a": [], "b": [], "c": {}, "d": [], "e": []})
    assert (plan.query_string, plan.headers, plan.cookies) == ("", [], [])
    plan = build(op, {"a": [1, 2], "b": []})
    assert plan.query_string == "a=1,2"


def test_a_multipart_body_whose_only_field_is_empty_is_not_sent():
    schema = {"type": "object", "properties": {"files": {"type": "array", "items": {}}}}
    op = operation(
        "/up", "post", requestBody={"content": {"multipart/form-data": {"schema": schema}}}
    )
    plan = build(op, {"files": []})
    assert (plan.body, plan.content_type) == (None, None)
    plan = build(op, {"files": ["a"]})
    assert plan.body == (
        b'--B\r\nContent-Disposition: form-data; name="files"\r\n\r\na\r\n--B--\r\n'
    )


def test_an_empty_json_array_in_a_body_is_a_value():
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {}}}}
    op = operation("/t", "post", requestBody={"content": {"application/json": {"schema": schema}}})
    assert build(op, {"tags": []}).body == b'{"tags":[]}'


# 6. Empty strings


def test_an_empty_query_string_is_left_out_unless_empty_values_are_allowed():
    op = operation(
        "/x",
        parameters=[
            {"name": "q", "in": "query", "schema": {"type": "string"}},
            {"name": "flag", "in": "query", "allowEmptyValue": True, "schema": {"type": "string"}},
        ],
    )
    assert build(op, {"q": "", "flag": ""}).query_string == "flag="


def test_required_path_and_query_strings_say_they_cannot_be_empty():
    op = operation(
        "/items/{id}",
        parameters=[
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
            {
                "name": "e",
                "in": "query",
                "required": True,
                "allowEmptyValue": True,
                "schema": {"type": "string"},
            },
        ],
    )
    properties = op["schema"]["properties"]
    assert properties["id"] == {"type": "string", "minLength": 1}
    assert properties["q"] == {"type": "string", "minLength": 1}
    assert properties["e"] == {"type": "string"}
    assert not accepted(op, {"id": "", "q": "x", "e": ""})
    assert build(op, {"id": "7", "q": "x", "e": ""}).query_string == "q=x&e="


# 3. XML bodies


def test_an_xml_body_is_one_xml_document_argument_sent_as_given_with_a_warning():
    document = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/roles": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/xml": {
                                "schema": {
                                    "type": "object",
                                    "xml": {"name": "CreateRole"},
                                    "properties": {"RoleName": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    result = convert(document)
    [op] = result.operations
    assert op.input_schema["properties"] == {
        "body": {
            "type": "string",
            "description": "The request body: an XML document (text/xml) as text.",
        }
    }
    assert op.input_schema["required"] == ["body"]
    assert result.warnings == [
        {
            "pointer": "/paths/~1roles/post/requestBody/content/text~1xml/schema",
            "message": "The request body is XML (text/xml); the tool takes it as one XML document "
            "string argument, sent as given.",
        }
    ]
    xml = "<CreateRole><RoleName>é</RoleName></CreateRole>"
    plan = build_request(op.mapping, op.method, op.path, {"body": xml})
    assert (plan.body, plan.content_type) == (xml.encode(), "text/xml")


def test_a_body_requiring_names_it_does_not_describe_stays_one_argument():
    schema = {
        "type": "object",
        "required": ["categories", "id"],
        "properties": {"categories": {"type": "array", "items": {}}},
    }
    op = operation(
        "/m",
        "post",
        requestBody={"required": True, "content": {"application/json": {"schema": schema}}},
    )
    assert list(op["schema"]["properties"]) == ["body"]
    assert not accepted(op, {"body": {"categories": []}})
    assert build(op, {"body": {"categories": [], "id": "7"}}).body == b'{"categories":[],"id":"7"}'
