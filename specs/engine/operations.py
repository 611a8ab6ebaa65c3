"""One OpenAPI operation to a flat input schema plus the mapping that undoes the flattening."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .document import SWAGGER_2, text
from .naming import argument_name, unique_name
from .refs import RefError, follow, join_pointer
from .schemas import DIALECT, REQUEST, RESPONSE, SchemaConverter
from .xml import NotSerialisable, PlanCompiler

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAMETER_LOCATIONS = ("path", "query", "header", "cookie")
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_PATH_VARIABLE = re.compile(r"\{([^{}/]+)\}")
_STYLES = {
    "path": ("simple", "label", "matrix"),
    "query": ("form", "spaceDelimited", "pipeDelimited", "deepObject"),
    "header": ("simple",),
    "cookie": ("form",),
}
_DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
# Swagger 2.0 collectionFormat -> (style, explode); tabDelimited has no 3.x name.
_COLLECTION_FORMATS = {
    "csv": ("form", False),
    "ssv": ("spaceDelimited", False),
    "tsv": ("tabDelimited", False),
    "pipes": ("pipeDelimited", False),
    "multi": ("form", True),
}
_SWAGGER_PARAMETER_KEYWORDS = (
    "type", "format", "items", "default", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "enum", "multipleOf", "x-nullable", "description",
)  # fmt: skip
# The characters a header value can carry (see request.HEADER_VALUE), as a JSON Schema
# pattern (ECMA-262 and Python agree on it) so a model knows before it calls.
HEADER_VALUE_PATTERN = "^[\\t\\x20-\\x7e]*$"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_WHOLE_OBJECT_KEYWORDS = (
    "oneOf", "anyOf", "not", "if", "patternProperties", "minProperties", "maxProperties",
    "dependentRequired", "dependentSchemas", "dependencies",
)  # fmt: skip
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


@dataclass
class _Argument:
    wire_name: str
    location: str
    schema: Any
    required: bool
    mapping: dict[str, Any]
    # A field an optional body's schema requires: needed only when the body is sent.
    required_in_body: bool = False
    property_name: str = ""


@dataclass
class BuiltOperation:
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    mapping: dict[str, Any]
    def_names: dict[str, list[str]] = field(default_factory=dict)


def is_json_media_type(media_type: str) -> bool:
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json") or essence == "*/*"


def is_xml_media_type(media_type: str) -> bool:
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence in ("application/xml", "text/xml") or essence.endswith("+xml")


def _media_rank(media_type: str) -> int:
    essence = media_type.split(";", 1)[0].strip().lower()
    if essence == "application/json":
        return 0
    if is_json_media_type(media_type) and essence != "*/*":
        return 1
    if essence == FORM:
        return 2
    if essence.startswith("multipart/"):
        return 3
    if essence == "*/*":
        return 4
    return 5


def body_encoding(media_type: str) -> str:
    essence = media_type.split(";", 1)[0].strip().lower()
    if is_json_media_type(media_type):
        return "json"
    if essence == FORM:
        return "form"
    if essence.startswith("multipart/"):
        return "multipart"
    return "raw"


class OperationBuilder:
    """Builds tool schemas and mappings for the operations of one document."""

    def __init__(
        self, document: dict[str, Any], fmt: str, schemas: SchemaConverter, warn: Any
    ) -> None:
        self._document = document
        self._swagger = fmt == SWAGGER_2
        self._schemas = schemas
        self._warn = warn

    # -- parameters ----------------------------------------------------------------------

    def merged_parameters(
        self, path: str, path_item: dict[str, Any], operation: dict[str, Any], pointer: str
    ) -> list[tuple[dict[str, Any], str]]:
        """Path-level then operation-level parameters; the operation wins by (name, in)."""
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        path_pointer = pointer.rsplit("/", 1)[0]
        for source, base in ((path_item, path_pointer), (operation, pointer)):
            raw = source.get("parameters")
            if raw is None:
                continue
            if not isinstance(raw, list):
                self._warn(join_pointer(base, "parameters"), "parameters must be a list.")
                continue
            for index, item in enumerate(raw):
                item_pointer = join_pointer(base, "parameters", index)
                parameter = self._parameter(item, item_pointer)
                if parameter is not None:
                    merged[(parameter[0]["name"], parameter[0]["in"])] = parameter
        return self._reconcile_path_parameters(path, list(merged.values()), pointer)

    def _parameter(self, item: Any, pointer: str) -> tuple[dict[str, Any], str] | None:
        try:
            parameter, target_pointer = follow(self._document, item, pointer)
        except RefError as exc:
            self._warn(pointer, f"{exc} The parameter is left out.")
            return None
        locations = (
            ("path", "query", "header", "body", "formData")
            if self._swagger
            else PARAMETER_LOCATIONS
        )
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            self._warn(pointer, "A parameter needs a name; it is left out.")
            return None
        if parameter.get("in") not in locations:
            self._warn(pointer, f"Parameter location {parameter.get('in')!r} is not supported.")
            return None
        if parameter["in"] in ("header", "cookie") and not _TOKEN.fullmatch(parameter["name"]):
            self._warn(
                pointer,
                f"{parameter['name']!r} cannot be sent as a {parameter['in']} name; "
                "the parameter is left out.",
            )
            return None
        header = parameter["name"].lower() if parameter["in"] == "header" else ""
        # OpenAPI 3 says these headers are ignored; Swagger 2.0 often declares auth this way.
        if header in _IGNORED_HEADERS and not (self._swagger and header == "authorization"):
            return None
        return parameter, target_pointer

    def _reconcile_path_parameters(
        self, path: str, parameters: list[tuple[dict[str, Any], str]], pointer: str
    ) -> list[tuple[dict[str, Any], str]]:
        variables = list(dict.fromkeys(_PATH_VARIABLE.findall(path)))
        declared = {p["name"] for p, _ in parameters if p["in"] == "path"}
        kept = []
        for parameter, parameter_pointer in parameters:
            if parameter["in"] == "path" and parameter["name"] not in variables:
                self._warn(
                    parameter_pointer,
                    f"Path parameter {parameter['name']!r} is not in the path template; "
                    "it is left out.",
                )
                continue
            kept.append((parameter, parameter_pointer))
        for variable in variables:
            if variable not in declared:
                self._warn(
                    pointer,
                    f"Path variable {{{variable}}} is not declared; it is taken as a string.",
                )
                kept.append(({"name": variable, "in": "path", "schema": {"type": "string"}}, ""))
        return kept

    # -- the operation -------------------------------------------------------------------

    def build(
        self,
        path: str,
        operation: dict[str, Any],
        parameters: list[tuple[dict[str, Any], str]],
        pointer: str,
    ) -> BuiltOperation:
        refs: set[str] = set()
        arguments: list[_Argument] = []
        body_parameters: list[tuple[dict[str, Any], str]] = []
        for parameter, parameter_pointer in parameters:
            if parameter["in"] in ("body", "formData"):
                body_parameters.append((parameter, parameter_pointer))
            else:
                arguments.append(self._parameter_argument(parameter, parameter_pointer, refs))
        if self._swagger:
            body, body_arguments = self._swagger_body(operation, body_parameters, refs)
        else:
            body, body_arguments = self._openapi_body(operation, pointer, refs)
        properties, required, mapping_arguments = _name_arguments(arguments, body_arguments)
        input_schema: dict[str, Any] = {"$schema": DIALECT, "type": "object"}
        input_schema["properties"] = properties
        if required:
            input_schema["required"] = required
        when_sent = _required_when_body_sent(body_arguments)
        if when_sent:
            input_schema["dependentRequired"] = when_sent
        if body is not None and body.pop("closed", False):
            # Every argument is a declared property, so the body's closedness carries over.
            input_schema["additionalProperties"] = False
        if refs:
            input_schema["$defs"] = self._schemas.defs_for(refs, REQUEST)
        # "order" keeps the document's parameter order: stored as PostgreSQL jsonb, the
        # "arguments" object comes back with its keys re-sorted.
        mapping = {"arguments": mapping_arguments, "order": list(mapping_arguments), "body": body}
        output_schema, output_refs = self._output_schema(operation, pointer)
        return BuiltOperation(
            input_schema,
            output_schema,
            mapping,
            {REQUEST: sorted(input_schema.get("$defs", ())), RESPONSE: output_refs},
        )

    def _parameter_argument(
        self, parameter: dict[str, Any], pointer: str, refs: set[str]
    ) -> _Argument:
        location = parameter["in"]
        name = parameter["name"]
        mapping: dict[str, Any] = {"in": location, "name": name}
        if self._swagger:
            schema_source = {k: parameter[k] for k in _SWAGGER_PARAMETER_KEYWORDS if k in parameter}
            schema = self._schemas.convert(schema_source, REQUEST, pointer, refs)
            style, explode = self._collection_format(parameter, location)
            mapping.update(style=style, explode=explode)
        else:
            schema, content_type = self._parameter_schema(parameter, pointer, refs)
            if content_type:
                mapping["contentType"] = content_type
            else:
                mapping.update(self._style(parameter, location, pointer))
        if location == "query" and not self._swagger and "contentType" not in mapping:
            mapping["allowReserved"] = parameter.get("allowReserved") is True
        if location == "query" and parameter.get("allowEmptyValue") is True:
            mapping["allowEmptyValue"] = True
        if location == "header" and "contentType" not in mapping:
            schema = _sendable_in_header(schema)
        schema = _describe(schema, text(parameter.get("description")))
        if parameter.get("deprecated") is True and isinstance(schema, dict):
            schema["deprecated"] = True
        if "example" in parameter and isinstance(schema, dict) and "examples" not in schema:
            schema["examples"] = [parameter["example"]]
        required = location == "path" or parameter.get("required") is True
        if required and location in PARAMETER_LOCATIONS and "contentType" not in mapping:
            schema = _not_empty(schema, empty_string_allowed=mapping.get("allowEmptyValue", False))
        return _Argument(name, location, schema, required, mapping)

    def _parameter_schema(
        self, parameter: dict[str, Any], pointer: str, refs: set[str]
    ) -> tuple[Any, str | None]:
        if "schema" in parameter:
            source = parameter["schema"]
            schema = self._schemas.convert(source, REQUEST, join_pointer(pointer, "schema"), refs)
            return schema, None
        content = parameter.get("content")
        if isinstance(content, dict) and content:
            media_type, media = next(iter(content.items()))
            source = media.get("schema", {}) if isinstance(media, dict) else {}
            media_pointer = join_pointer(pointer, "content", media_type, "schema")
            return self._schemas.convert(source, REQUEST, media_pointer, refs), text(media_type)
        self._warn(pointer, "The parameter has no schema; any value is accepted.")
        return {}, None

    def _style(self, parameter: dict[str, Any], location: str, pointer: str) -> dict[str, Any]:
        style = parameter.get("style", _DEFAULT_STYLE[location])
        if style not in _STYLES[location]:
            self._warn(
                join_pointer(pointer, "style"),
                f"Style {style!r} is not valid for a {location} parameter; "
                f"{_DEFAULT_STYLE[location]!r} is used.",
            )
            style = _DEFAULT_STYLE[location]
        explode = parameter.get("explode")
        if not isinstance(explode, bool):
            explode = style == "form"
        return {"style": style, "explode": explode}

    def _collection_format(self, parameter: dict[str, Any], location: str) -> tuple[str, bool]:
        declared = parameter.get("collectionFormat", "csv")
        style, explode = _COLLECTION_FORMATS.get(text(declared), ("", False))
        if not style or (explode and location not in ("query", "formData")):
            style, explode = "form", False
        if style == "form" and location in ("path", "header"):
            style = "simple"
        return style, explode

    # -- request bodies ------------------------------------------------------------------

    def _openapi_body(
        self, operation: dict[str, Any], pointer: str, refs: set[str]
    ) -> tuple[dict[str, Any] | None, list[_Argument]]:
        if "requestBody" not in operation:
            return None, []
        body_pointer = join_pointer(pointer, "requestBody")
        try:
            request_body, body_pointer = follow(
                self._document, operation["requestBody"], body_pointer
            )
        except RefError as exc:
            self._warn(body_pointer, f"{exc} The body is accepted as any JSON value.")
            request_body = {"content": {"application/json": {}}}
        content = request_body.get("content") if isinstance(request_body, dict) else None
        if not isinstance(content, dict) or not content:
            self._warn(body_pointer, "The request body has no content; it is left out.")
            return None, []
        media_type = min(content, key=_media_rank)
        media = content[media_type] if isinstance(content[media_type], dict) else {}
        schema_pointer = join_pointer(body_pointer, "content", media_type, "schema")
        declared = media.get("encoding")
        encodings = declared if isinstance(declared, dict) else {}
        return self._body(
            source=media.get("schema", {}),
            pointer=schema_pointer,
            media_type=text(media_type),
            required=request_body.get("required") is True,
            description=text(request_body.get("description")),
            encodings=encodings,
            refs=refs,
        )

    def _swagger_body(
        self,
        operation: dict[str, Any],
        parameters: list[tuple[dict[str, Any], str]],
        refs: set[str],
    ) -> tuple[dict[str, Any] | None, list[_Argument]]:
        consumes = operation.get("consumes", self._document.get("consumes"))
        consumes = [c for c in consumes if isinstance(c, str)] if isinstance(consumes, list) else []
        body_parameters = [(p, ptr) for p, ptr in parameters if p["in"] == "body"]
        if body_parameters:
            parameter, pointer = body_parameters[-1]
            media_type = min(consumes, key=_media_rank) if consumes else "application/json"
            return self._body(
                source=parameter.get("schema", {}),
                pointer=join_pointer(pointer, "schema"),
                media_type=media_type,
                required=parameter.get("required") is True,
                description=text(parameter.get("description")),
                encodings={},
                refs=refs,
            )
        fields = [(p, ptr) for p, ptr in parameters if p["in"] == "formData"]
        if not fields:
            return None, []
        has_file = any(p.get("type") == "file" for p, _ in fields)
        multipart = has_file or (MULTIPART in consumes and FORM not in consumes)
        media_type = MULTIPART if multipart else FORM
        arguments = []
        for parameter, pointer in fields:
            argument = self._parameter_argument(parameter, pointer, refs)
            argument.location = "body"
            if argument.required:
                argument.schema = _not_empty(argument.schema, empty_string_allowed=True)
            if multipart:
                argument.mapping = _part_mapping(parameter["name"], argument.schema, None)
            else:
                style, explode = self._collection_format(parameter, "formData")
                argument.mapping = {
                    "in": "formField",
                    "name": parameter["name"],
                    "style": style,
                    "explode": explode,
                }
            arguments.append(argument)
        required = any(argument.required for argument in arguments)
        body = {
            "mediaType": media_type,
            "encoding": body_encoding(media_type),
            "required": required,
        }
        return body, arguments

    def _body(
        self,
        *,
        source: Any,
        pointer: str,
        media_type: str,
        required: bool,
        description: str,
        encodings: dict[str, Any],
        refs: set[str],
    ) -> tuple[dict[str, Any], list[_Argument]]:
        encoding = body_encoding(media_type)
        body = {"mediaType": media_type, "encoding": encoding, "required": required}
        if is_xml_media_type(media_type):
            try:
                body["xml"] = PlanCompiler(self._schemas.resolve).compile(source, pointer)
            except NotSerialisable as reason:
                # The schema does not say which XML it means: the caller writes the document
                # and it is sent as given.
                self._warn(
                    pointer,
                    f"The request body is XML ({media_type}) and cannot be written from its "
                    f"schema ({reason}); the tool takes it as one XML document string "
                    "argument, sent as given.",
                )
                note = f"The request body: an XML document ({media_type}) as text."
                schema = {"type": "string", "description": f"{note} {description}".strip()}
                return body, [_Argument("body", "body", schema, required, {"in": "body"})]
            body["encoding"] = encoding = "xml"
        shape = self._object_shape(source, pointer, 0, set()) if encoding != "raw" else None
        if shape is None:
            schema = _describe(self._schemas.convert(source, REQUEST, pointer, refs), description)
            return body, [_Argument("body", "body", schema, required, {"in": "body"})]
        arguments = []
        for name, (node, node_pointer) in shape.properties.items():
            if self._schemas.hidden_in(REQUEST, node, node_pointer):
                continue
            schema = self._schemas.convert(node, REQUEST, node_pointer, refs)
            field_required = required and name in shape.required
            required_in_body = not required and name in shape.required
            if encoding in ("form", "multipart") and name in shape.required:
                # An empty array or object is no form field or part at all.
                schema = _not_empty(schema, empty_string_allowed=True)
            if encoding in ("json", "xml"):
                mapping: dict[str, Any] = {"in": "bodyField", "name": name}
            elif encoding == "form":
                mapping = _form_mapping(name, encodings.get(name))
            else:
                mapping = _part_mapping(name, schema, encodings.get(name))
            arguments.append(
                _Argument(name, "body", schema, field_required, mapping, required_in_body)
            )
        body["closed"] = shape.closed
        return body, arguments

    def _object_shape(
        self, node: Any, pointer: str, depth: int, seen: set[str]
    ) -> _ObjectShape | None:
        """Properties of an object body (following refs and merging allOf), or None."""
        node, pointer = self._schemas.resolve(node, pointer)
        if not isinstance(node, dict) or depth > 16 or pointer in seen:
            return None
        seen = seen | {pointer}
        # Constraints on the object as a whole cannot be said of separate arguments.
        if any(k in node for k in _WHOLE_OBJECT_KEYWORDS):
            return None
        declared = node.get("type", "object")
        if declared != "object" and declared != ["object"]:
            return None
        shape = _ObjectShape({}, [], node.get("additionalProperties") is False)
        members = node.get("allOf")
        if isinstance(members, list):
            shape.closed = False
            for index, member in enumerate(members):
                part = self._object_shape(
                    member, join_pointer(pointer, "allOf", index), depth + 1, seen
                )
                if part is None:
                    return None
                shape.properties.update(part.properties)
                shape.required.extend(part.required)
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                shape.properties[name] = (sub, join_pointer(pointer, "properties", name))
        required = node.get("required")
        if isinstance(required, list):
            shape.required.extend(r for r in required if isinstance(r, str))
        if not shape.properties and depth == 0:
            return None
        if depth == 0 and not set(shape.required) <= set(shape.properties):
            # Required names the schema does not describe cannot become arguments.
            return None
        return shape

    # -- responses -----------------------------------------------------------------------

    def _output_schema(
        self, operation: dict[str, Any], pointer: str
    ) -> tuple[dict[str, Any] | None, list[str]]:
        found = self._success_schema(operation, pointer)
        if found is None:
            return None, []
        source, schema_pointer = self._schemas.resolve(*found)
        refs: set[str] = set()
        schema = self._schemas.convert(source, RESPONSE, schema_pointer, refs)
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return None, []
        output = {"$schema": DIALECT, **schema}
        if refs:
            output["$defs"] = self._schemas.defs_for(refs, RESPONSE)
        return output, sorted(output.get("$defs", ()))

    def _success_schema(self, operation: dict[str, Any], pointer: str) -> tuple[Any, str] | None:
        responses = operation.get("responses")
        if not isinstance(responses, dict):
            return None
        codes = sorted(str(code) for code in responses if re.fullmatch(r"2\d\d", str(code)))
        codes += [code for code in responses if str(code).upper() == "2XX"]
        produces = operation.get("produces", self._document.get("produces"))
        for code in codes:
            response_pointer = join_pointer(pointer, "responses", code)
            try:
                response, response_pointer = follow(
                    self._document, responses[code], response_pointer
                )
            except RefError as exc:
                self._warn(response_pointer, str(exc))
                continue
            if not isinstance(response, dict):
                continue
            if self._swagger:
                json_ok = not isinstance(produces, list) or any(
                    isinstance(p, str) and is_json_media_type(p) for p in produces
                )
                if "schema" in response and json_ok:
                    return response["schema"], join_pointer(response_pointer, "schema")
                continue
            content = response.get("content")
            if not isinstance(content, dict):
                continue
            for media_type, media in content.items():
                if (
                    is_json_media_type(str(media_type))
                    and isinstance(media, dict)
                    and "schema" in media
                ):
                    return media["schema"], join_pointer(
                        response_pointer, "content", media_type, "schema"
                    )
        return None


@dataclass
class _ObjectShape:
    properties: dict[str, tuple[Any, str]]
    required: list[str]
    closed: bool


def _form_mapping(name: str, encoding: Any) -> dict[str, Any]:
    encoding = encoding if isinstance(encoding, dict) else {}
    style = encoding.get("style", "form")
    if style not in ("form", "spaceDelimited", "pipeDelimited", "deepObject"):
        style = "form"
    explode = encoding.get("explode")
    mapping: dict[str, Any] = {
        "in": "formField",
        "name": name,
        "style": style,
        "explode": explode if isinstance(explode, bool) else style == "form",
    }
    if encoding.get("allowReserved") is True:
        mapping["allowReserved"] = True
    return mapping


def _part_mapping(name: str, schema: Any, encoding: Any) -> dict[str, Any]:
    mapping: dict[str, Any] = {"in": "part", "name": name}
    if isinstance(encoding, dict) and isinstance(encoding.get("contentType"), str):
        mapping["contentType"] = encoding["contentType"].split(",")[0].strip()
    if isinstance(schema, dict) and schema.get("type") == "array":
        schema = schema.get("items")
    if isinstance(schema, dict) and (
        schema.get("format") == "binary" or "contentMediaType" in schema
    ):
        mapping["binary"] = True
    return mapping


def _not_empty(schema: Any, *, empty_string_allowed: bool) -> Any:
    """A required parameter's schema, refusing the values that would send nothing.

    An empty array or object is undefined in RFC 6570 and so left out of the request, and an
    empty string is not a path segment nor (without allowEmptyValue) a query value: the
    parameter would be missing. The keywords only apply to their own types.
    """
    if not isinstance(schema, dict):
        return schema
    declared = schema.get("type")
    types = set(declared) if isinstance(declared, list) else {declared}
    extra: dict[str, int] = {}
    if "array" in types:
        extra["minItems"] = 1
    if "object" in types:
        extra["minProperties"] = 1
    if ("string" in types or declared is None) and not empty_string_allowed:
        # Without a type (a $ref, say) the value may still be a string; minLength only
        # applies to strings.
        extra["minLength"] = 1
    kept = {
        key: value
        for key, value in extra.items()
        if not (isinstance(schema.get(key), int) and schema[key] >= value)
    }
    return {**schema, **kept} if kept else schema


def _sendable_in_header(schema: Any) -> Any:
    """The schema, with strings limited to what a header value can carry."""
    if schema is True:
        return {"pattern": HEADER_VALUE_PATTERN}
    if not isinstance(schema, dict):
        return schema
    if "pattern" not in schema:
        return {**schema, "pattern": HEADER_VALUE_PATTERN}
    if schema["pattern"] == HEADER_VALUE_PATTERN:
        return schema
    return {**schema, "allOf": [*schema.get("allOf", []), {"pattern": HEADER_VALUE_PATTERN}]}


def _describe(schema: Any, description: str) -> Any:
    if not description:
        return schema
    if schema is True:
        return {"description": description}
    if isinstance(schema, dict):
        # A pattern left out of the schema (see schemas.py) stays in the description.
        kept = str(schema.get("description", "")).partition("Pattern (not checked): ")[2]
        if kept:
            description = f"{description}\n\nPattern (not checked): {kept}"
        return {**schema, "description": description}
    return schema


def _name_arguments(
    parameters: list[_Argument], body_fields: list[_Argument]
) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Give every argument a unique schema property name.

    Parameters come first and keep their (sanitised) names; a body field whose name is taken
    becomes ``body_<name>``, and both descriptions say which argument is which.
    """
    taken: set[str] = set()
    named: list[tuple[str, _Argument]] = []
    by_wire: dict[str, tuple[str, _Argument]] = {}
    for argument in parameters:
        name = unique_name(argument_name(argument.wire_name), taken, argument.location)
        argument.property_name = name
        taken.add(name)
        named.append((name, argument))
        by_wire.setdefault(argument.wire_name, (name, argument))
    for argument in body_fields:
        wanted = argument_name(argument.wire_name)
        name = unique_name(wanted, taken, "body")
        argument.property_name = name
        taken.add(name)
        if name != wanted and argument.mapping["in"] != "body" and wanted in by_wire:
            other_name, other = by_wire[wanted]
            argument.schema = _prefix_description(
                argument.schema,
                f"Request body field '{argument.wire_name}' (the '{other_name}' argument is "
                f"the {other.location} parameter).",
            )
            other.schema = _prefix_description(
                other.schema,
                f"The {other.location} parameter '{other.wire_name}' (the body field of the "
                f"same name is the '{name}' argument).",
            )
        named.append((name, argument))
    properties = {name: argument.schema for name, argument in named}
    required = [name for name, argument in named if argument.required]
    mapping = {name: argument.mapping for name, argument in named}
    return properties, required, mapping


def _required_when_body_sent(fields: list[_Argument]) -> dict[str, list[str]]:
    """For an optional body: once any of its fields is given, the ones its schema requires.

    The body is sent as soon as one field is given, and then it must be a body the schema
    accepts, so each field depends on the required ones (``dependentRequired``).
    """
    needed = [field.property_name for field in fields if field.required_in_body]
    if not needed:
        return {}
    return {
        field.property_name: [name for name in needed if name != field.property_name]
        for field in fields
        if any(name != field.property_name for name in needed)
    }


def _prefix_description(schema: Any, note: str) -> Any:
    if schema is True or not isinstance(schema, dict):
        return {"description": note} if schema is True else schema
    existing = schema.get("description")
    return {**schema, "description": f"{note} {existing}" if existing else note}
