"""Every request a tool sends is the request the spec means: the exact bytes, case by case."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from specs.engine import ArgumentError, build_request, convert


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


def test_a_required_path_parameter_by_reference_says_it_cannot_be_empty():
    document = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/keys/{key}": {
                "get": {
                    "parameters": [
                        {
                            "name": "key",
                            "in": "path",
                            "required": True,
                            "schema": {"$ref": "#/components/schemas/Key"},
                        }
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {"schemas": {"Key": {"type": "string"}}},
    }
    [op] = convert(document).operations
    assert op.input_schema["properties"]["key"] == {"$ref": "#/$defs/Key", "minLength": 1}
    assert not Draft202012Validator(op.input_schema).is_valid({"key": ""})


def test_a_form_body_field_it_requires_cannot_be_an_empty_array():
    schema = {
        "type": "object",
        "required": ["Types", "Name"],
        "properties": {
            "Types": {"type": "array", "items": {"type": "string"}},
            "Name": {"type": "string"},
            "Tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    form = {"application/x-www-form-urlencoded": {"schema": schema}}
    op = operation("/subscriptions", "post", requestBody={"content": form})
    properties = op["schema"]["properties"]
    assert properties["Types"]["minItems"] == 1
    assert "minItems" not in properties["Tags"]
    # An empty array is no form field: the body would lack the field its schema requires.
    assert not accepted(op, {"Types": [], "Name": "n"})
    assert build(op, {"Types": ["a"], "Name": ""}).body == b"Types=a&Name="


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


def xml_operations(schemas: dict[str, Any], bodies: dict[str, Any]) -> dict[str, Any]:
    """One POST operation per body schema, each taking application/xml."""
    document = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {
            f"/{name}": {
                "post": {
                    "operationId": name,
                    "requestBody": {"content": {"application/xml": {"schema": schema}}},
                    "responses": {"200": {"description": "ok"}},
                }
            }
            for name, schema in bodies.items()
        },
        "components": {"schemas": schemas},
    }
    result = convert(document)
    assert result.warnings == []
    return {op.tool_name: op for op in result.operations}


def xml_sent(op: Any, arguments: dict[str, Any]) -> bytes:
    plan = build_request(op.mapping, op.method, op.path, arguments)
    assert plan.content_type == "application/xml"
    assert plan.body is not None
    return plan.body


def test_xml_bodies_follow_the_openapi_xml_object_examples():
    # The OpenAPI 3.0 specification's XML Object examples, element for element.
    strings = {"type": "array", "items": {"type": "string"}}
    named_items = {"type": "array", "items": {"type": "string", "xml": {"name": "animal"}}}
    animals = {
        "plain": {"type": "string"},
        "renamed": {"type": "string", "xml": {"name": "animal"}},
        "array": strings,
        "array_items_named": named_items,
        "array_outer_name_ignored": {**named_items, "xml": {"name": "aliens"}},
        "wrapped": {**strings, "xml": {"wrapped": True}},
        "wrapped_items_named": {**named_items, "xml": {"wrapped": True}},
        "wrapped_both_named": {**named_items, "xml": {"name": "aliens", "wrapped": True}},
        "wrapped_outer_named": {**strings, "xml": {"name": "aliens", "wrapped": True}},
    }
    schemas = {
        "Person": {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "format": "int32", "xml": {"attribute": True}},
                "name": {
                    "type": "string",
                    "xml": {"namespace": "https://example.com/schema/sample", "prefix": "sample"},
                },
            },
        },
        **{
            f"Zoo_{case}": {"type": "object", "properties": {"animals": schema}}
            for case, schema in animals.items()
        },
    }
    ops = xml_operations(
        schemas, {name: {"$ref": f"#/components/schemas/{name}"} for name in schemas}
    )
    assert list(ops["Person"].input_schema["properties"]) == ["id", "name"]
    assert xml_sent(ops["Person"], {"id": 123, "name": "example"}) == (
        b'<Person id="123"><sample:name xmlns:sample="https://example.com/schema/sample">'
        b"example</sample:name></Person>"
    )
    two = ["value", "value"]
    expected = {
        "plain": ("value", b"<animals>value</animals>"),
        "renamed": ("value", b"<animal>value</animal>"),
        "array": (two, b"<animals>value</animals><animals>value</animals>"),
        "array_items_named": (two, b"<animal>value</animal><animal>value</animal>"),
        "array_outer_name_ignored": (two, b"<animal>value</animal><animal>value</animal>"),
        "wrapped": (two, b"<animals><animals>value</animals><animals>value</animals></animals>"),
        "wrapped_items_named": (
            two,
            b"<animals><animal>value</animal><animal>value</animal></animals>",
        ),
        "wrapped_both_named": (
            two,
            b"<aliens><animal>value</animal><animal>value</animal></aliens>",
        ),
        "wrapped_outer_named": (
            two,
            b"<aliens><aliens>value</aliens><aliens>value</aliens></aliens>",
        ),
    }
    for case, (value, inner) in expected.items():
        name = f"Zoo_{case}"
        assert (
            xml_sent(ops[name], {"animals": value})
            == f"<{name}>".encode() + inner + f"</{name}>".encode()
        ), case


def test_an_xml_body_takes_names_from_referenced_schemas_and_escapes_text():
    schemas = {
        "Pet": {
            "type": "object",
            "xml": {"name": "pet", "namespace": "urn:pets"},
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "category": {"$ref": "#/components/schemas/Category"},
                "photoUrls": {
                    "type": "array",
                    "xml": {"wrapped": True},
                    "items": {"type": "string", "xml": {"name": "photoUrl"}},
                },
                "tags": {
                    "type": "array",
                    "xml": {"wrapped": True},
                    "items": {"$ref": "#/components/schemas/Tag"},
                },
                "status": {
                    "type": "string",
                    "xml": {"attribute": True, "prefix": "s", "namespace": "urn:s"},
                },
                "vaccinated": {"type": "boolean"},
            },
        },
        "Category": {
            "type": "object",
            "xml": {"name": "category"},
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        },
        "Tag": {
            "allOf": [
                {"$ref": "#/components/schemas/Named"},
                {"type": "object", "properties": {"weight": {"type": "number"}}},
            ],
            "xml": {"name": "tag"},
        },
        "Named": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    op = xml_operations(schemas, {"addPet": {"$ref": "#/components/schemas/Pet"}})["addPet"]
    assert op.mapping["body"]["encoding"] == "xml"
    assert list(op.input_schema["properties"]) == [
        "name",
        "category",
        "photoUrls",
        "tags",
        "status",
        "vaccinated",
    ]
    arguments = {
        # Given out of order: elements follow the schema's property order.
        "vaccinated": False,
        "tags": [{"weight": 1.5, "name": 'a"b'}, {"name": "x"}],
        "status": 'sold & "gone"',
        "photoUrls": [],
        "category": {"name": "Dogs <&> Cats", "id": 7},
        "name": "Rex",
    }
    assert xml_sent(op, arguments) == (
        b'<pet xmlns="urn:pets" xmlns:s="urn:s" s:status="sold &amp; &quot;gone&quot;">'
        b"<name>Rex</name><category><id>7</id><name>Dogs &lt;&amp;&gt; Cats</name></category>"
        b"<photoUrls/>"
        b'<tags><tag><name>a"b</name><weight>1.5</weight></tag><tag><name>x</name></tag></tags>'
        b"<vaccinated>false</vaccinated></pet>"
    )
    # An optional XML body with no arguments is not sent; one with a field is a whole document.
    assert build_request(op.mapping, op.method, op.path, {}).body is None
    assert xml_sent(op, {"name": "é"}) == '<pet xmlns="urn:pets"><name>é</name></pet>'.encode()


def test_an_xml_body_refuses_text_xml_cannot_carry():
    schemas = {"Note": {"type": "object", "properties": {"text": {"type": "string"}}}}
    op = xml_operations(schemas, {"note": {"$ref": "#/components/schemas/Note"}})["note"]
    with pytest.raises(ArgumentError, match="cannot be sent in an XML document"):
        build_request(op.mapping, op.method, op.path, {"text": "bell \x07"})


def test_a_wrapped_array_body_is_one_argument_and_recursion_is_followed():
    schemas = {
        "Node": {
            "type": "object",
            "xml": {"name": "node"},
            "properties": {
                "id": {"type": "string", "xml": {"attribute": True}},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            },
        },
        "Nodes": {
            "type": "array",
            "xml": {"name": "nodes", "wrapped": True},
            "items": {"$ref": "#/components/schemas/Node"},
        },
    }
    op = xml_operations(schemas, {"put": {"$ref": "#/components/schemas/Nodes"}})["put"]
    assert list(op.input_schema["properties"]) == ["body"]
    value = [{"id": "a", "children": [{"id": "b", "children": [{"id": "c"}]}]}, {"id": "d"}]
    assert xml_sent(op, {"body": value}) == (
        b'<nodes><node id="a"><node id="b"><node id="c"/></node></node><node id="d"/></nodes>'
    )


def test_an_xml_body_whose_schema_names_no_root_element_is_a_document_string_with_a_warning():
    schema: dict[str, Any] = {"type": "object", "properties": {"RoleName": {"type": "string"}}}
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/roles": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"text/xml": {"schema": schema}},
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
            "message": "The request body is XML (text/xml) and cannot be written from its "
            "schema (the body schema names no root element (no xml.name and no component "
            "name)); the tool takes it as one XML document string argument, sent as given.",
        }
    ]
    xml = "<CreateRole><RoleName>é</RoleName></CreateRole>"
    plan = build_request(op.mapping, op.method, op.path, {"body": xml})
    assert (plan.body, plan.content_type) == (xml.encode(), "text/xml")
    # Named, the same schema is written from its fields.
    schema["xml"] = {"name": "CreateRole"}
    [op] = convert(document).operations
    plan = build_request(op.mapping, op.method, op.path, {"RoleName": "é"})
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


# A pattern Python cannot compile


def test_a_pattern_python_cannot_compile_is_left_out_with_a_warning_and_kept_in_the_text():
    document = {
        "openapi": "3.1.0",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/people": {
                "post": {
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Search.",
                            "schema": {"type": "string", "pattern": "^\\p{Lu}"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string", "pattern": "^\\p{L}+$"},
                                        "age": {"type": "integer", "minimum": 0},
                                    },
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
    # The schema is one Python's validators accept, so the gateway checks every argument.
    Draft202012Validator.check_schema(op.input_schema)
    properties = op.input_schema["properties"]
    assert properties["name"] == {
        "type": "string",
        "description": "Pattern (not checked): ^\\p{L}+$",
    }
    assert properties["q"]["description"] == "Search.\n\nPattern (not checked): ^\\p{Lu}"
    assert "pattern" not in properties["q"]
    assert not Draft202012Validator(op.input_schema).is_valid({"name": "Zoë", "age": -1})
    pointers = [w["pointer"] for w in result.warnings if "Pattern" in w["message"]]
    assert pointers == [
        "/paths/~1people/post/parameters/0/schema/pattern",
        "/paths/~1people/post/requestBody/content/application~1json/schema/properties/name/pattern",
    ]
    messages = [w["message"] for w in result.warnings]
    assert any("'^\\\\p{L}+$' is not one Python's re module can compile" in m for m in messages)
