"""convert: documents in, operations with exact tool names, schemas and mappings out."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from specs.engine import SpecError, convert, load_document

FIXTURES = Path(__file__).parent / "fixtures"
CONFORMANCE = Path(__file__).resolve().parents[2] / "gateway/tests/conformance/fixture.openapi.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def openapi(paths: dict[str, Any], version: str = "3.1.0", **extra: Any) -> dict[str, Any]:
    return {"openapi": version, "info": {"title": "T", "version": "1"}, "paths": paths, **extra}


def ok(description: str = "ok") -> dict[str, Any]:
    return {"200": {"description": description}}


def only(result):
    (operation,) = result.operations
    return operation


def by_key(result):
    return {op.key: op for op in result.operations}


def assert_valid(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema, format_checker=None)


# -- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("openapi", "3.1.0", "openapi-3.1"),
        ("openapi", "3.0.3", "openapi-3.0"),
        ("openapi", "3.0", "openapi-3.0"),
        ("swagger", "2.0", "swagger-2.0"),
    ],
)
def test_it_detects_the_format(field, value, expected):
    document = {field: value, "info": {"title": "T", "version": "1"}, "paths": {}}
    assert convert(document).format == expected


def test_it_reads_a_numeric_version_with_a_warning():
    result = convert(openapi({}, version=3.0))  # type: ignore[arg-type]
    assert result.format == "openapi-3.0"
    assert {
        "pointer": "/openapi",
        "message": "The openapi version should be a string, not the number 3.0.",
    } in result.warnings


@pytest.mark.parametrize("version", ["2.0", "4.0.0", "3", "banana", None, ["3.0.0"]])
def test_it_refuses_wrong_openapi_versions(version):
    with pytest.raises(SpecError) as caught:
        convert(openapi({}, version=version))
    assert caught.value.problems[0]["pointer"] == "/openapi"


def test_it_refuses_documents_that_are_not_openapi():
    with pytest.raises(SpecError, match="neither an `openapi` nor a `swagger`"):
        convert({"info": {"title": "x"}, "paths": {}})


def test_it_refuses_paths_that_are_not_a_mapping():
    with pytest.raises(SpecError) as caught:
        convert(openapi([]))  # type: ignore[arg-type]
    assert caught.value.problems == [
        {"pointer": "/paths", "message": "paths must be an object mapping paths to items."}
    ]


def test_it_refuses_an_invalid_document_without_usable_operations():
    document = {"openapi": "3.0.0", "paths": {"/a": {"get": "nope"}}}
    with pytest.raises(SpecError) as caught:
        convert(document)
    assert {p["pointer"] for p in caught.value.problems} >= {"/paths/~1a/get"}


def test_it_keeps_usable_operations_of_an_invalid_document_and_warns():
    document = {"openapi": "3.0.0", "paths": {"/a": {"get": {"operationId": "a"}}}}
    result = convert(document)
    assert [op.tool_name for op in result.operations] == ["a"]
    assert result.validation == "full"
    assert any(
        w["pointer"] == "" and "'info' is a required" in w["message"] for w in result.warnings
    )


def test_it_refuses_a_document_that_contains_itself():
    document: dict[str, Any] = openapi({})
    document["paths"]["/a"] = {"get": {"responses": {"200": document}}}
    with pytest.raises(SpecError, match="nested more than"):
        convert(document)


def test_it_skips_validation_when_asked():
    result = convert({"openapi": "3.0.0", "paths": {"/a": {"get": {}}}}, validate=False)
    assert result.validation == "off"
    assert result.warnings == [{"pointer": "/info", "message": "The document has no info object."}]


# -- the conformance fixture ------------------------------------------------------------


def test_the_conformance_fixture_gives_a_2020_12_tool_with_defs_and_a_closed_root():
    result = convert(load_document(CONFORMANCE.read_text()))
    tools = {op.tool_name: op for op in result.operations}
    assert sorted(tools) == [
        "json_schema_2020_12_tool",
        "test_audio_content",
        "test_error_handling",
        "test_image_content",
        "test_simple_text",
    ]
    tool = tools["json_schema_2020_12_tool"]
    assert tool.input_schema == {
        "$schema": DIALECT,
        "type": "object",
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": False,
        "$defs": {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
            }
        },
    }
    assert tool.mapping == {
        "arguments": {
            "name": {"in": "bodyField", "name": "name"},
            "address": {"in": "bodyField", "name": "address"},
        },
        "order": ["name", "address"],
        "body": {"mediaType": "application/json", "encoding": "json", "required": True},
    }
    assert result.warnings == []
    assert result.servers == ["http://127.0.0.1:9300"]


# -- OpenAPI 3.0 -------------------------------------------------------------------------


def library():
    return convert(load_document((FIXTURES / "openapi30-library.yaml").read_text()))


def test_it_reads_document_facts():
    result = library()
    assert (result.format, result.title, result.version) == ("openapi-3.0", "Library", "1.0")
    assert result.description == "Books and shelves."
    assert result.servers == ["https://eu.library.example/api", "/relative"]
    assert result.security == [{"bearer": []}]
    assert result.security_schemes == {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "key": {"type": "apiKey", "in": "query", "name": "api_key"},
    }
    assert result.warnings == []


def test_it_merges_path_level_parameters_and_the_operation_wins():
    get = by_key(library())["GET /books/{bookId}"]
    assert get.input_schema == {
        "$schema": DIALECT,
        "type": "object",
        "properties": {
            "bookId": {"type": "string", "minLength": 1},
            "verbose": {"type": "boolean"},
        },
        "required": ["bookId"],
    }
    assert get.mapping == {
        "arguments": {
            "bookId": {"in": "path", "name": "bookId", "style": "simple", "explode": False},
            "verbose": {
                "in": "query",
                "name": "verbose",
                "style": "form",
                "explode": True,
                "allowReserved": False,
            },
        },
        "order": ["bookId", "verbose"],
        "body": None,
    }


def test_it_uses_path_level_servers_and_effective_security():
    operations = by_key(library())
    assert operations["GET /books/{bookId}"].servers == ["https://books.library.example"]
    assert operations["GET /books/{bookId}"].security == [{"bearer": []}]
    assert operations["PUT /books/{bookId}"].security == []


def test_it_names_tools_from_operation_ids_else_method_and_path():
    names = [op.tool_name for op in library().operations]
    assert names == ["getBook", "replaceBook", "delete_books_bookId"]


def test_it_describes_and_annotates_tools():
    operations = by_key(library())
    get = operations["GET /books/{bookId}"]
    assert get.tool_description == "Get a book\n\nReturns one book.\n\nHTTP GET /books/{bookId}"
    assert get.annotations == {"title": "Get a book", "readOnlyHint": True}
    delete = operations["DELETE /books/{bookId}"]
    assert delete.deprecated is True
    assert delete.tool_description == "(Deprecated) Delete a book\n\nHTTP DELETE /books/{bookId}"
    assert delete.annotations == {
        "title": "Delete a book",
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": True,
    }
    assert operations["PUT /books/{bookId}"].annotations == {
        "title": "Replace a book",
        "readOnlyHint": False,
        "idempotentHint": True,
    }


def test_a_parameter_and_a_body_field_with_one_name_both_survive():
    put = by_key(library())["PUT /books/{bookId}"]
    properties = put.input_schema["properties"]
    assert properties["title"] == {
        "type": "string",
        "description": "The query parameter 'title' (the body field of the same name is the "
        "'body_title' argument).",
    }
    assert properties["body_title"] == {
        "type": "string",
        "description": "Request body field 'title' (the 'title' argument is the query "
        "parameter). The title",
    }
    assert put.mapping["arguments"]["title"]["in"] == "query"
    assert put.mapping["arguments"]["body_title"] == {"in": "bodyField", "name": "title"}


def test_it_converts_3_0_keywords_and_drops_read_only_fields_from_requests():
    put = by_key(library())["PUT /books/{bookId}"]
    schema = put.input_schema
    assert list(schema["properties"]) == [
        "bookId", "verbose", "title", "body_title", "rating", "secret", "shelf", "genre",
    ]  # fmt: skip
    assert schema["required"] == ["bookId", "body_title"]
    assert schema["properties"]["rating"] == {"type": ["number", "null"], "exclusiveMinimum": 0}
    assert schema["properties"]["genre"] == {
        "type": ["string", "null"],
        "enum": ["fiction", "poetry", None],
    }
    assert schema["$defs"]["Book"]["required"] == ["title"]
    assert "id" not in schema["$defs"]["Book"]["properties"]
    assert_valid(schema)


def test_recursive_schemas_become_shared_defs():
    put = by_key(library())["PUT /books/{bookId}"]
    shelf = put.input_schema["$defs"]["Shelf"]
    assert shelf == {
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "books": {"type": "array", "items": {"$ref": "#/$defs/Book"}},
            "parent": {"$ref": "#/$defs/Shelf"},
        },
    }
    assert sorted(put.input_schema["$defs"]) == ["Book", "Shelf"]


def test_the_output_schema_keeps_read_only_and_drops_write_only_fields():
    get = by_key(library())["GET /books/{bookId}"]
    output = get.output_schema
    assert output is not None
    assert output["$schema"] == DIALECT
    assert output["type"] == "object"
    assert output["required"] == ["title", "id"]
    assert list(output["properties"]) == ["id", "title", "rating", "shelf", "genre"]
    assert "secret" not in output["$defs"]["Book"]["properties"]
    assert output["$defs"]["Book"]["properties"]["id"] == {"type": "string", "readOnly": True}
    assert_valid(output)


def test_an_output_schema_only_for_an_object_json_response():
    document = openapi(
        {
            "/list": {"get": {"responses": {"200": _json_response({"type": "array"})}}},
            "/text": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "t",
                            "content": {"text/plain": {"schema": {"type": "object"}}},
                        }
                    }
                }
            },
            "/obj": {
                "get": {
                    "responses": {
                        "404": _json_response({"type": "object"}),
                        "201": _json_response({"type": "object", "title": "Made"}),
                    }
                }
            },
        }
    )
    operations = by_key(convert(document))
    assert operations["GET /list"].output_schema is None
    assert operations["GET /text"].output_schema is None
    assert operations["GET /obj"].output_schema == {
        "$schema": DIALECT,
        "type": "object",
        "title": "Made",
    }


def _json_response(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "r", "content": {"application/json": {"schema": schema}}}


# -- OpenAPI 3.1 -------------------------------------------------------------------------


def test_it_keeps_3_1_type_lists_const_and_patterns():
    schema = {
        "type": "object",
        "properties": {
            "kind": {"const": "cat"},
            "nickname": {"type": ["string", "null"], "pattern": "^\\d{2}-\\w+$"},
            "payload": {"$ref": "#/components/schemas/Payload"},
        },
    }
    document = openapi(
        {"/pets": {"post": {"requestBody": _json_body(schema), "responses": ok()}}},
        components={
            "schemas": {
                "Payload": {
                    "$defs": {"inner": {"type": "integer"}},
                    "type": "object",
                    "properties": {"n": {"$ref": "#/components/schemas/Payload/$defs/inner"}},
                }
            }
        },
    )
    tool = only(convert(document))
    assert tool.input_schema["properties"] == {
        "kind": {"const": "cat"},
        "nickname": {"type": ["string", "null"], "pattern": "^\\d{2}-\\w+$"},
        "payload": {"$ref": "#/$defs/Payload"},
    }
    assert tool.input_schema["$defs"] == {
        "Payload": {
            "type": "object",
            "properties": {"n": {"$ref": "#/$defs/Payload_defs_inner_4636c5b7"}},
        },
        "Payload_defs_inner_4636c5b7": {"type": "integer"},
    }
    assert_valid(tool.input_schema)


def _json_body(schema: Any, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def test_it_turns_a_non_object_body_into_one_body_argument():
    document = openapi(
        {
            "/tags": {
                "post": {
                    "requestBody": {
                        "description": "Tag names",
                        "content": {"application/json": {"schema": {"type": "array"}}},
                    },
                    "responses": ok(),
                }
            }
        }
    )
    tool = only(convert(document))
    assert tool.input_schema["properties"] == {
        "body": {"type": "array", "description": "Tag names"}
    }
    assert "required" not in tool.input_schema
    assert tool.mapping["arguments"] == {"body": {"in": "body"}}
    assert tool.mapping["body"] == {
        "mediaType": "application/json",
        "encoding": "json",
        "required": False,
    }


def test_it_flattens_all_of_bodies_and_keeps_one_of_bodies_whole():
    components = {
        "schemas": {
            "Base": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "string"}},
            },
            "Cat": {"type": "object", "properties": {"purrs": {"type": "boolean"}}},
            "Dog": {"type": "object", "properties": {"barks": {"type": "boolean"}}},
        }
    }
    extended = {"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"x": {}}}]}
    either = {
        "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
        "discriminator": {"propertyName": "kind"},
    }
    document = openapi(
        {
            "/a": {"post": {"requestBody": _json_body(extended), "responses": ok()}},
            "/b": {"post": {"requestBody": _json_body(either), "responses": ok()}},
        },
        components=components,
    )
    operations = by_key(convert(document))
    flat = operations["POST /a"].input_schema
    assert flat["properties"] == {"id": {"type": "string"}, "x": {}}
    assert flat["required"] == ["id"]
    whole = operations["POST /b"].input_schema
    assert whole["properties"] == {
        "body": {"oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}
    }
    assert sorted(whole["$defs"]) == ["Cat", "Dog"]


def test_it_resolves_every_kind_of_internal_reference():
    document = openapi(
        {
            "/items/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {
                    "parameters": [
                        {"$ref": "#/paths/~1other/get/parameters/0"},
                    ],
                    "responses": {"200": {"$ref": "#/components/responses/Item"}},
                },
                "put": {
                    "requestBody": {"$ref": "#/components/requestBodies/Item"},
                    "responses": ok(),
                },
            },
            "/other": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                    "responses": ok(),
                }
            },
        },
        components={
            "parameters": {"Id": {"$ref": "#/components/parameters/RealId"}, "RealId": {
                "name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}},
            "responses": {"Item": {"description": "i", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Item"}}}}},
            "requestBodies": {"Item": _json_body({"$ref": "#/components/schemas/Item"})},
            "schemas": {"Item": {"type": "object", "properties": {
                "size": {"$ref": "#/components/schemas/Size", "description": "How big"}}},
                "Size": {"type": "integer", "minimum": 1}},
        },
    )  # fmt: skip
    result = convert(document)
    operations = by_key(result)
    get = operations["GET /items/{id}"]
    assert list(get.input_schema["properties"]) == ["id", "q"]
    assert get.input_schema["properties"]["id"] == {"type": "integer"}
    assert get.output_schema is not None
    assert get.output_schema["properties"] == {
        "size": {"$ref": "#/$defs/Size", "description": "How big"}
    }
    put = operations["PUT /items/{id}"]
    assert put.input_schema["properties"]["size"] == {
        "$ref": "#/$defs/Size",
        "description": "How big",
    }
    assert put.input_schema["$defs"] == {"Size": {"type": "integer", "minimum": 1}}
    assert result.warnings == []


def test_external_references_are_not_followed_but_accepted_as_anything():
    document = openapi(
        {
            "/a": {
                "post": {
                    "parameters": [{"$ref": "https://127.0.0.1:9/params.yaml#/Limit"}],
                    "requestBody": _json_body(
                        {"type": "object", "properties": {"b": {"$ref": "other.yaml#/B"}}}
                    ),
                    "responses": ok(),
                }
            }
        }
    )
    result = convert(document)
    tool = only(result)
    assert tool.input_schema["properties"] == {"b": {}}
    messages = {(w["pointer"], w["message"]) for w in result.warnings}
    assert (
        "/paths/~1a/post/parameters/0",
        "External reference 'https://127.0.0.1:9/params.yaml#/Limit' is not followed: only "
        "references inside the document (#/…) are used. The parameter is left out.",
    ) in messages
    assert (
        "/paths/~1a/post/requestBody/content/application~1json/schema/properties/b",
        "External reference 'other.yaml#/B' is not followed: only references inside the "
        "document (#/…) are used. An empty object (for a schema: any value) stands in for it.",
    ) in messages


def test_a_reference_cycle_that_points_at_itself_is_bounded():
    document = openapi(
        {
            "/a": {
                "post": {
                    "parameters": [{"$ref": "#/components/parameters/Loop"}],
                    "requestBody": _json_body({"$ref": "#/components/schemas/Self"}),
                    "responses": {"200": {"$ref": "#/components/responses/Loop"}},
                }
            }
        },
        components={
            "schemas": {"Self": {"$ref": "#/components/schemas/Self"}},
            "parameters": {"Loop": {"$ref": "#/components/parameters/Loop"}},
            "responses": {"Loop": {"$ref": "#/components/responses/Loop"}},
        },
    )
    result = convert(document, validate=False)
    tool = only(result)
    assert tool.input_schema["properties"] == {"body": {"$ref": "#/$defs/Self"}}
    assert tool.input_schema["$defs"] == {"Self": {}}
    assert tool.output_schema is None
    assert {w["message"] for w in result.warnings} >= {
        "The schema refers to itself without describing anything; any value is accepted instead.",
        "Reference '#/components/parameters/Loop' is circular. The parameter is left out.",
        "Reference '#/components/responses/Loop' is circular.",
    }
    assert_valid(tool.input_schema)


def test_dangling_references_are_warned_about():
    body = {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/Nope"}}}
    document = openapi({"/a": {"post": {"requestBody": _json_body(body), "responses": ok()}}})
    result = convert(document, validate=False)
    assert only(result).input_schema["properties"] == {"a": {}}
    assert result.warnings == [
        {
            "pointer": "/paths/~1a/post/requestBody/content/application~1json/schema/properties/a",
            "message": "Reference '#/components/schemas/Nope' does not resolve; any value is "
            "accepted.",
        }
    ]


def test_an_undeclared_path_variable_becomes_a_string_argument():
    result = convert(openapi({"/a/{id}": {"get": {"responses": ok()}}}), validate=False)
    tool = only(result)
    assert tool.input_schema["properties"] == {"id": {"type": "string", "minLength": 1}}
    assert tool.input_schema["required"] == ["id"]


def test_it_sanitises_argument_names_and_keeps_wire_names_in_the_mapping():
    parameters = [
        {"name": "$top", "in": "query", "schema": {"type": "integer"}},
        {"name": "filter[status]", "in": "query", "schema": {"type": "string"}},
        {"name": "X-Id", "in": "header", "schema": {"type": "string"}},
        {"name": "X-Id", "in": "query", "schema": {"type": "string"}},
        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
        {"name": "Content-Type", "in": "header", "schema": {"type": "string"}},
    ]
    document = openapi({"/a": {"get": {"parameters": parameters, "responses": ok()}}})
    tool = only(convert(document))
    assert {name: (m["in"], m["name"]) for name, m in tool.mapping["arguments"].items()} == {
        "top": ("query", "$top"),
        "filter_status": ("query", "filter[status]"),
        "X-Id": ("header", "X-Id"),
        "query_X-Id": ("query", "X-Id"),
        "session": ("cookie", "session"),
    }
    assert tool.mapping["arguments"]["session"] == {
        "in": "cookie", "name": "session", "style": "form", "explode": True,
    }  # fmt: skip


def test_it_maps_styles_and_content_serialised_parameters():
    parameters = [
        {"name": "ids", "in": "path", "required": True, "style": "matrix", "explode": True,
         "schema": {"type": "array", "items": {"type": "integer"}}},
        {"name": "f", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
        {"name": "tags", "in": "query", "style": "pipeDelimited", "explode": False,
         "allowReserved": True, "schema": {"type": "array"}},
        {"name": "where", "in": "query",
         "content": {"application/json": {"schema": {"type": "object"}}}},
        {"name": "bad", "in": "header", "style": "form", "schema": {"type": "string"}},
    ]  # fmt: skip
    document = openapi({"/a/{ids}": {"get": {"parameters": parameters, "responses": ok()}}})
    result = convert(document, validate=False)
    assert only(result).mapping["arguments"] == {
        "ids": {"in": "path", "name": "ids", "style": "matrix", "explode": True},
        "f": {"in": "query", "name": "f", "style": "deepObject", "explode": False,
              "allowReserved": False},
        "tags": {"in": "query", "name": "tags", "style": "pipeDelimited", "explode": False,
                 "allowReserved": True},
        "where": {"in": "query", "name": "where", "contentType": "application/json"},
        "bad": {"in": "header", "name": "bad", "style": "simple", "explode": False},
    }  # fmt: skip
    assert {
        "pointer": "/paths/~1a~1{ids}/get/parameters/4/style",
        "message": "Style 'form' is not valid for a header parameter; 'simple' is used.",
    } in result.warnings


def test_it_maps_form_and_multipart_bodies_with_encodings():
    form = {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"a": {"type": "string"},
                           "b": {"type": "array", "items": {"type": "string"}}}},
                "encoding": {"b": {"style": "form", "explode": False}},
            }
        }
    }  # fmt: skip
    multipart = {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {
                    "meta": {"type": "object"},
                    "file": {"type": "string", "format": "binary"},
                    "icon": {"type": "string", "contentMediaType": "image/png"}}},
                "encoding": {"meta": {"contentType": "application/json"}},
            },
            "application/json": {"schema": {"type": "object"}},
        }
    }  # fmt: skip
    document = openapi(
        {
            "/form": {"post": {"requestBody": form, "responses": ok()}},
            "/upload": {"post": {"requestBody": multipart, "responses": ok()}},
        }
    )
    operations = by_key(convert(document))
    assert operations["POST /form"].mapping == {
        "arguments": {
            "a": {"in": "formField", "name": "a", "style": "form", "explode": True},
            "b": {"in": "formField", "name": "b", "style": "form", "explode": False},
        },
        "order": ["a", "b"],
        "body": {
            "mediaType": "application/x-www-form-urlencoded",
            "encoding": "form",
            "required": False,
        },
    }
    # JSON is preferred when an operation offers it.
    assert operations["POST /upload"].mapping["body"]["mediaType"] == "application/json"
    del multipart["content"]["application/json"]
    upload = by_key(convert(document))["POST /upload"]
    assert upload.mapping["arguments"] == {
        "meta": {"in": "part", "name": "meta", "contentType": "application/json"},
        "file": {"in": "part", "name": "file", "binary": True},
        "icon": {"in": "part", "name": "icon", "binary": True},
    }


# -- Swagger 2.0 ---------------------------------------------------------------------------


def store():
    return convert(load_document((FIXTURES / "swagger2-store.yaml").read_text()))


def test_swagger_document_facts():
    result = store()
    assert result.format == "swagger-2.0"
    assert result.servers == ["https://store.example.com/v2", "http://store.example.com/v2"]
    assert result.security_schemes == {
        "api_key": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
        "basic": {"type": "http", "scheme": "basic"},
        "oauth": {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "https://store.example.com/oauth/authorize",
                    "tokenUrl": "https://store.example.com/oauth/token",
                    "scopes": {"read:pets": "read your pets"},
                }
            },
        },
    }
    assert [op.tool_name for op in result.operations] == [
        "listPets", "addPet", "uploadPhoto", "renamePet",
    ]  # fmt: skip


def test_swagger_collection_formats_map_to_styles():
    listing = by_key(store())["GET /pets"]
    assert {
        name: (m["style"], m["explode"]) for name, m in listing.mapping["arguments"].items()
    } == {
        "tags": ("form", True),
        "ids": ("form", False),
        "sizes": ("pipeDelimited", False),
        "words": ("spaceDelimited", False),
        "cells": ("tabDelimited", False),
        "limit": ("form", False),
    }
    assert listing.input_schema["properties"]["limit"] == {
        "type": "integer", "default": 20, "minimum": 1, "exclusiveMaximum": 100,
    }  # fmt: skip


def test_swagger_body_parameters_flatten_and_drop_read_only_fields():
    add = by_key(store())["POST /pets"]
    assert add.security == []
    assert add.input_schema == {
        "$schema": DIALECT,
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"]},
            "photo": {"format": "binary", "type": "string"},
            "tag": {"$ref": "#/$defs/definitions_Tag_v1_3f5db9d2"},
        },
        "required": ["name"],
        "$defs": {
            "definitions_Tag_v1_3f5db9d2": {
                "type": "object",
                "properties": {"label": {"type": "string"}},
            }
        },
    }
    assert add.mapping["body"] == {
        "mediaType": "application/json",
        "encoding": "json",
        "required": True,
    }
    assert add.output_schema is not None
    assert add.output_schema["properties"]["id"] == {"type": "integer", "readOnly": True}


def test_swagger_form_data_becomes_multipart_with_files_else_urlencoded():
    operations = by_key(store())
    upload = operations["POST /pets/{petId}/photo"]
    assert upload.input_schema["properties"] == {
        "petId": {"type": "integer"},
        "caption": {"type": "string"},
        "file": {"format": "binary", "type": "string"},
    }
    assert upload.input_schema["required"] == ["petId", "file"]
    assert upload.mapping["arguments"]["file"] == {"in": "part", "name": "file", "binary": True}
    assert upload.mapping["body"] == {
        "mediaType": "multipart/form-data",
        "encoding": "multipart",
        "required": True,
    }
    rename = operations["PUT /pets/{petId}/name"]
    assert rename.mapping["arguments"]["aliases"] == {
        "in": "formField", "name": "aliases", "style": "form", "explode": True,
    }  # fmt: skip
    assert rename.mapping["body"]["mediaType"] == "application/x-www-form-urlencoded"


def test_swagger_without_host_keeps_the_base_path_relative():
    document = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "basePath": "/api",
                "paths": {}}  # fmt: skip
    assert convert(document).servers == ["/api"]


# -- names, descriptions, fingerprints -----------------------------------------------------


def test_tool_names_are_valid_unique_and_collisions_get_stable_suffixes():
    long_id = "x" * 80
    document = openapi(
        {
            "/a": {"get": {"operationId": "list items!", "responses": ok()},
                   "post": {"operationId": "list items!", "responses": ok()}},
            "/b": {"get": {"operationId": long_id, "responses": ok()}},
            "/c/{id}.json": {"get": {"operationId": "@@@", "responses": ok()}},
        }
    )  # fmt: skip
    names = [op.tool_name for op in convert(document, validate=False).operations]
    assert names == [
        "list_items",
        "list_items_2b9647",
        "x" * 55 + "_" + "d929cdee",
        "get_c_id_json",
    ]


def test_adding_an_operation_keeps_existing_names_via_previous_names():
    first = openapi({"/b": {"get": {"operationId": "items", "responses": ok()}}})
    names = {op.key: op.tool_name for op in convert(first).operations}
    second = openapi({
        "/a": {"get": {"operationId": "items", "responses": ok()}},
        "/b": {"get": {"operationId": "items", "responses": ok()}},
    })  # fmt: skip
    renamed = {op.key: op.tool_name for op in convert(second, previous_names=names).operations}
    assert renamed == {"GET /b": "items", "GET /a": "items_f302df"}


def test_invalid_previous_names_are_replaced():
    document = openapi({"/b": {"get": {"operationId": "items", "responses": ok()}}})
    result = convert(document, previous_names={"GET /b": "not valid!"})
    assert only(result).tool_name == "items"


def test_descriptions_are_trimmed_and_keep_the_route():
    document = openapi(
        {"/a": {"get": {"summary": "S", "description": "d" * 500, "responses": ok()}}}
    )
    description = only(convert(document, description_max=100)).tool_description
    assert len(description) == 100
    assert description == "S\n\n" + "d" * 83 + "…\n\nHTTP GET /a"


def test_fingerprints_change_only_with_the_tool():
    base = load_document((FIXTURES / "openapi30-library.yaml").read_text())
    before = {op.key: op.fingerprint for op in convert(base).operations}
    assert before == {op.key: op.fingerprint for op in convert(copy.deepcopy(base)).operations}
    changed = copy.deepcopy(base)
    changed["components"]["schemas"]["Shelf"]["properties"]["label"]["maxLength"] = 10
    after = {op.key: op.fingerprint for op in convert(changed).operations}
    assert after["DELETE /books/{bookId}"] == before["DELETE /books/{bookId}"]
    assert after["PUT /books/{bookId}"] != before["PUT /books/{bookId}"]
    assert after["GET /books/{bookId}"] != before["GET /books/{bookId}"]


# -- schema validity -------------------------------------------------------------------------


def test_sloppy_schemas_become_valid_2020_12():
    sloppy = {
        "type": "object",
        "required": True,
        "properties": {
            "a": {"type": "integer", "minimum": 1, "exclusiveMinimum": False,
                  "maximum": "10", "exclusiveMaximum": True},
            "b": {"type": "strng", "minLength": -1, "maxLength": 3.0, "example": "x",
                  "nullable": True},
            "c": {"type": ["string", "int", {"x": 1}], "enum": "one", "required": ["x", "x", 1]},
            "d": {"items": [{"type": "string"}], "additionalItems": False, "uniqueItems": "true"},
            "e": {"allOf": [], "anyOf": {"type": "string"}, "x-extra": 1, "$id": "urn:x",
                  "discriminator": {"propertyName": "k"}, "multipleOf": 0},
            "f": {"$ref": "#/components/schemas/F", "nullable": True},
            "g": "not a schema",
        },
    }  # fmt: skip
    document = openapi(
        {"/a": {"post": {"requestBody": _json_body(sloppy), "responses": ok()}}},
        version="3.0.0",
        components={"schemas": {"F": {"type": "string"}}},
    )
    tool = only(convert(document, validate=False))
    assert tool.input_schema["properties"] == {
        "a": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
        "b": {"maxLength": 3, "examples": ["x"]},
        "c": {"type": ["string"], "enum": ["one"], "required": ["x"]},
        "d": {"uniqueItems": True, "prefixItems": [{"type": "string"}], "items": False},
        "e": {"anyOf": [{"type": "string"}]},
        "f": {"anyOf": [{"$ref": "#/$defs/F"}, {"type": "null"}]},
        "g": {},
    }
    assert_valid(tool.input_schema)


def test_conversion_is_bounded_on_deep_inline_schemas():
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(120):
        schema = {"type": "object", "properties": {"p": schema}}
    document = openapi({"/a": {"post": {"requestBody": _json_body(schema), "responses": ok()}}})
    result = convert(document, validate=False)
    assert_valid(only(result).input_schema)
    assert any("nested too deeply" in w["message"] for w in result.warnings)


_GARBAGE: list[Any] = [
    None, 1, -1, 2.5, True, "x", "", [], {}, [1, {}], {"a": 1}, {"$ref": "#/nope"},
    {"$ref": "#"}, {"$ref": 5}, {"type": {"x": 1}}, ["object"], "csv", {"x": []},
]  # fmt: skip


def _node_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    paths = [path]
    for key, child in children:
        paths += _node_paths(child, (*path, key))
    return paths


def test_garbage_anywhere_gives_a_result_or_a_spec_error():
    import random

    sources = [
        load_document((FIXTURES / "swagger2-store.yaml").read_text()),
        load_document((FIXTURES / "openapi30-library.yaml").read_text()),
    ]
    rng = random.Random(7)
    for _ in range(300):
        document = copy.deepcopy(rng.choice(sources))
        paths = _node_paths(document)[1:]
        for _ in range(rng.randint(1, 4)):
            *parents, last = rng.choice(paths)
            target: Any = document
            try:
                for key in parents:
                    target = target[key]
                target[last] = copy.deepcopy(rng.choice(_GARBAGE))
            except (KeyError, IndexError, TypeError):
                continue
        try:
            result = convert(document, validate=False)
        except SpecError:
            continue
        for operation in result.operations:
            assert_valid(operation.input_schema)
