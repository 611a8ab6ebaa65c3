"""A Swagger 2.0 document as the OpenAPI 3.0 document that means the same requests.

Tools are converted from Swagger 2.0 natively; this form exists so that what they send can be
checked with OpenAPI 3 tooling (the fidelity benchmark validates built requests against it
with openapi-core). Parameters, bodies and responses are inlined (references to
``#/parameters/*`` and ``#/responses/*`` followed), schemas stay shared under
``components/schemas`` with their references rewritten.
"""

from __future__ import annotations

from typing import Any

from .document import swagger_server_urls
from .refs import RefError, follow

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_SCHEMA_FIELDS = (
    "type", "format", "items", "default", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "enum", "multipleOf",
)  # fmt: skip
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def swagger_to_openapi30(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0.3 equivalent of a Swagger 2.0 document (a new object)."""
    upgraded: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": document.get("info") if isinstance(document.get("info"), dict) else {},
        "servers": [{"url": url} for url in swagger_server_urls(document)] or [{"url": "/"}],
        "paths": {},
    }
    consumes = _media_types(document.get("consumes"))
    produces = _media_types(document.get("produces"))
    paths = _mapping(document.get("paths"))
    for path, raw_item in paths.items():
        item = _follow(document, raw_item)
        if not isinstance(item, dict) or str(path).startswith("x-"):
            continue
        shared = _list(item.get("parameters"))
        new_item: dict[str, Any] = {}
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                new_item[method] = _operation(document, operation, shared, consumes, produces)
        upgraded["paths"][path] = new_item
    components: dict[str, Any] = {}
    definitions = document.get("definitions")
    if isinstance(definitions, dict):
        components["schemas"] = {name: _schema(s) for name, s in definitions.items()}
    schemes = document.get("securityDefinitions")
    if isinstance(schemes, dict):
        components["securitySchemes"] = {
            name: _security_scheme(scheme) for name, scheme in schemes.items()
        }
    if components:
        upgraded["components"] = components
    if isinstance(document.get("security"), list):
        upgraded["security"] = document["security"]
    return upgraded


def _operation(
    document: dict[str, Any],
    operation: dict[str, Any],
    shared: list[Any],
    consumes: list[str],
    produces: list[str],
) -> dict[str, Any]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared, *_list(operation.get("parameters"))]:
        parameter = _follow(document, raw)
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            merged[(parameter["name"], str(parameter.get("in")))] = parameter
    consumes = _media_types(operation.get("consumes")) or consumes or ["application/json"]
    produces = _media_types(operation.get("produces")) or produces or ["application/json"]
    upgraded: dict[str, Any] = {
        key: operation[key]
        for key in ("operationId", "summary", "description", "tags", "deprecated", "security")
        if key in operation
    }
    parameters = [
        _parameter(p) for p in merged.values() if p.get("in") in ("path", "query", "header")
    ]
    if parameters:
        upgraded["parameters"] = parameters
    body = [p for p in merged.values() if p.get("in") == "body"]
    form = [p for p in merged.values() if p.get("in") == "formData"]
    if body:
        schema = _schema(body[-1].get("schema", {}))
        upgraded["requestBody"] = {
            "required": body[-1].get("required") is True,
            "content": {media_type: {"schema": schema} for media_type in consumes},
        }
    elif form:
        upgraded["requestBody"] = _form_body(form, consumes)
    responses = _mapping(operation.get("responses"))
    upgraded["responses"] = {
        str(code): _response(_follow(document, response), produces)
        for code, response in responses.items()
        if not str(code).startswith("x-")
    } or {"default": {"description": ""}}
    return upgraded


def _parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    location = parameter["in"]
    upgraded: dict[str, Any] = {
        "name": parameter["name"],
        "in": location,
        "required": location == "path" or parameter.get("required") is True,
        "schema": _parameter_schema(parameter),
    }
    if parameter.get("description"):
        upgraded["description"] = parameter["description"]
    if parameter.get("allowEmptyValue") is True:
        upgraded["allowEmptyValue"] = True
    if parameter.get("type") == "array":
        style, explode = _collection_style(parameter.get("collectionFormat", "csv"), location)
        upgraded.update(style=style, explode=explode)
    return upgraded


def _collection_style(collection_format: Any, location: str) -> tuple[str, bool]:
    if collection_format == "multi" and location in ("query", "formData"):
        return "form", True
    if collection_format == "ssv" and location == "query":
        return "spaceDelimited", False
    if collection_format == "pipes" and location == "query":
        return "pipeDelimited", False
    return ("simple" if location in ("path", "header") else "form"), False


def _parameter_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = {key: parameter[key] for key in _SCHEMA_FIELDS if key in parameter}
    if parameter.get("x-nullable") is True:
        schema["nullable"] = True
    return _schema(schema)


def _form_body(fields: list[dict[str, Any]], consumes: list[str]) -> dict[str, Any]:
    has_file = any(field.get("type") == "file" for field in fields)
    multipart = has_file or (MULTIPART in consumes and FORM not in consumes)
    properties = {field["name"]: _parameter_schema(field) for field in fields}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [field["name"] for field in fields if field.get("required") is True]
    if required:
        schema["required"] = required
    media: dict[str, Any] = {"schema": schema}
    if not multipart:
        encoding = {}
        for field in fields:
            if field.get("type") == "array":
                style, explode = _collection_style(field.get("collectionFormat", "csv"), "formData")
                encoding[field["name"]] = {"style": style, "explode": explode}
        if encoding:
            media["encoding"] = encoding
    return {
        "required": bool(required),
        "content": {MULTIPART if multipart else FORM: media},
    }


def _response(response: Any, produces: list[str]) -> dict[str, Any]:
    if not isinstance(response, dict):
        return {"description": ""}
    upgraded: dict[str, Any] = {"description": str(response.get("description") or "")}
    if "schema" in response:
        schema = _schema(response["schema"])
        upgraded["content"] = {media_type: {"schema": schema} for media_type in produces}
    return upgraded


def _security_scheme(scheme: Any) -> Any:
    if not isinstance(scheme, dict):
        return scheme
    if scheme.get("type") == "basic":
        return {"type": "http", "scheme": "basic"}
    if scheme.get("type") == "oauth2":
        flow = {"implicit": "implicit", "password": "password"}.get(
            str(scheme.get("flow")), "clientCredentials"
        )
        if scheme.get("flow") == "accessCode":
            flow = "authorizationCode"
        details = {key: scheme[key] for key in ("authorizationUrl", "tokenUrl") if key in scheme}
        return {"type": "oauth2", "flows": {flow: {**details, "scopes": scheme.get("scopes", {})}}}
    return scheme


def _schema(node: Any) -> Any:
    """A Swagger schema as an OpenAPI 3.0 schema: refs re-pointed, file and x-nullable mapped."""
    if isinstance(node, list):
        return [_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    upgraded: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/definitions/"):
            upgraded[key] = "#/components/schemas/" + value[len("#/definitions/") :]
        elif key == "x-nullable":
            upgraded["nullable"] = value
        elif key == "type" and value == "file":
            upgraded.update(type="string", format="binary")
        elif key == "discriminator" and isinstance(value, str):
            upgraded[key] = {"propertyName": value}
        elif key in ("properties", "definitions", "patternProperties"):
            upgraded[key] = (
                {name: _schema(sub) for name, sub in value.items()}
                if isinstance(value, dict)
                else value
            )
        elif key in ("example", "default", "enum", "x-example"):
            upgraded[key] = value
        else:
            upgraded[key] = _schema(value)
    return upgraded


def _follow(document: dict[str, Any], node: Any) -> Any:
    try:
        target, _ = follow(document, node, "")
    except RefError:
        return {}
    return target


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _media_types(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
