"""Round-trip fidelity: is every request a tool builds one the upstream's own spec accepts?

    .venv/bin/python bench/fidelity.py                 # the committed specs (the CI slice)
    .venv/bin/python bench/fidelity.py --corpus        # the corpus bench/corpus.py reads
    .venv/bin/python bench/fidelity.py --corpus --sample 300 --max-operations 40 --json out.json

For every operation (up to --max-operations per document) several argument sets are generated
from the tool's input schema with hypothesis-jsonschema (fixed seed; only sets the tool schema
accepts, as the gateway would refuse the others), the request is built with
``specs.engine.build_request`` and validated against the original operation with openapi-core.
Swagger 2.0 documents are validated against their OpenAPI 3.0 form
(``specs.engine.upgrade.swagger_to_openapi30``).

openapi-core 0.23 pins openapi-spec-validator < 0.9, which the runtime has moved past, so it
lives in its own virtualenv (bench/.cache/fidelity-venv, pinned by requirements-fidelity.txt):
this script builds the requests in the project's interpreter and runs itself there with
``--validate`` to check them.

Each operation is validated against a document holding only its own path (template query and
fragment cut off, as a server sees the path), so the validator's path matching cannot pick a
neighbouring template. Security is not checked (credentials are added by the gateway, not by
the request builder). Failures that are the validator's or the spec's fault are set aside,
each with its reason (see SET_ASIDE).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".cache" / "fidelity-venv"
REQUIREMENTS = ROOT / "requirements-fidelity.txt"
BASE = "https://fidelity.test"
SEED = 20261130
SLICE = [
    *sorted((ROOT / "examples").glob("*.yaml")),
    *sorted((ROOT / "examples").glob("*.json")),
    *sorted((ROOT / "specs" / "tests" / "fixtures").glob("*.yaml")),
    *sorted((ROOT / "gateway" / "tests").glob("*.yaml")),
    *sorted((ROOT / "gateway" / "tests" / "conformance").glob("*.yaml")),
]
# Failures that are not the request builder's: (test on the error text, reason).
SET_ASIDE = [
    (
        re.compile(
            r"Missing required header(?: parameter)?: (Accept|Content-Type|Authorization)\b",
            re.I,
        ),
        "OpenAPI says header parameters named Accept, Content-Type and Authorization are "
        "ignored, so they are not arguments and not sent; openapi-core still requires them.",
    ),
    (
        re.compile(r"DeserializeError: \('deepObject'"),
        "openapi-core 0.23's deepObject deserialiser raises 'not available' on the "
        "filter[color]=red pairs the spec defines (its own test suite has no deepObject "
        "query case); the pairs are what OpenAPI's style table gives.",
    ),
    (
        re.compile(
            r"MediaTypeDeserializeError|MediaTypeNotFound|Content for the following "
            r"mimetype not found"
        ),
        "openapi-core has no deserialiser for the media type (XML, binary, vendor text types), "
        "so it cannot read a body it has not been taught to parse.",
    ),
    (
        re.compile(r"ExplodedFormObject"),
        "openapi-core 0.23 reads an exploded form-style object from a parameter named after "
        "it (its form_loads does location[name]) instead of from the object's own keys "
        "(R=100&G=200), which is what OpenAPI's style table gives and what is sent.",
    ),
    (
        re.compile(
            r"CastError: Failed to cast value to object type|"
            r"Invalid query parameter: \S+ <- InvalidSchemaValue: Value \['\{"
        ),
        "An object inside a form-style array, or a JSON-encoded (content) header: OpenAPI's "
        "style table defines no serialisation for the first (each item is sent as its JSON "
        "text) and openapi-core 0.23 does not decode either before checking it as an object.",
    ),
    (
        re.compile(r"DefaultNotValid"),
        "A query parameter that was not sent: openapi-core fills in the schema's default and "
        "checks it, and the spec's default breaks its own schema (default: none outside "
        "enum: [delivered, ...]; a string '3000000000' for an integer; a time without offset).",
    ),
    (
        re.compile(r"ReadOnlyParameter"),
        "The parameter's schema reuses a readOnly response property (an SSH key's id or "
        "fingerprint); readOnly is about body properties, but openapi-core refuses every "
        "value for it in a request.",
    ),
    (
        re.compile(r"MultipartText"),
        "openapi-core 0.23 checks multipart parts as the text they are on the wire ('721') "
        "against integer, number and boolean schemas without casting them as it does query "
        "and form values; the part sent is the number's text, as multipart requires.",
    ),
    (
        re.compile(r"EmptyBody"),
        "A required form body whose schema requires no field, sent with none: zero bytes "
        "with the form media type is the body the schema allows (an empty object); "
        "openapi-core counts a zero-length body as no body.",
    ),
    (
        re.compile(r"TextBodyDeclaredStructured"),
        "The spec declares a text/plain body with an object or array schema: text is read "
        "as a string, so no text/plain body can be valid (the spec contradicts itself).",
    ),
    (
        re.compile(r"Unknown JSON Schema dialect"),
        "openapi-core cannot load the document's JSON Schema dialect (draft-05 in "
        "jsonSchemaDialect/$schema) and stops before checking anything.",
    ),
    (
        re.compile(r"Value b['\"]"),
        "openapi-core has no deserialiser for the body's media type (e.g. "
        "application/json-patch+json, vendor +json types) and checks the raw bytes against "
        "the schema.",
    ),
    (
        re.compile(r"reference '#/[^']+' could not be resolved"),
        "The spec's discriminator mapping names a schema that does not exist (a dangling "
        "reference in the spec itself).",
    ),
    (
        re.compile(r"unknown format|FormatUnmarshalError|Format checker", re.I),
        "openapi-core does not know the spec's custom format.",
    ),
    (
        re.compile(r"re\.error|bad escape|look-behind|nothing to repeat|PatternError", re.I),
        "The spec's pattern is not a valid Python regular expression (ECMA-262 only).",
    ),
]


# A body schema that names no root element: the tool takes the XML document as the caller wrote
# it (the engine warns), so whether it is valid is the caller's doing, not the builder's.
RAW_XML_BODY = re.compile(r"MediaTypeDeserializeError|ParseError|not of type|body", re.I)
RAW_XML_REASON = (
    "The XML body schema names no root element (no xml.name, no component), so the tool "
    "takes the document as written by the caller and sends it byte for byte (the engine "
    "warns); the generated text is not XML, and no schema-driven check applies."
)


# -- phase 1: build (project interpreter) --------------------------------------------------


def build_cases(
    files: list[Path], *, max_operations: int, cases: int, seed: int
) -> Iterator[dict[str, Any]]:
    from specs.engine import SpecError, build_request, convert, load_document
    from specs.engine.upgrade import swagger_to_openapi30

    for number, file in enumerate(files, 1):
        print(f"[{number}/{len(files)}] {file.name}", file=sys.stderr, flush=True)
        try:
            document = load_document(file.read_bytes())
            # Full schemas: this measures the request builder. Compaction (TOOL_SCHEMA_* budgets)
            # deliberately widens deep parts into open objects, so arguments drawn from a
            # compacted schema may be ones only the upstream can judge.
            result = convert(document, validate=False, schema_budgets=None)
        except (SpecError, OSError) as exc:
            yield {"file": str(file), "skipped": f"not convertible: {exc}"[:200]}
            continue
        spec = result.normalized
        if result.format == "swagger-2.0":
            spec = swagger_to_openapi30(spec)
        yield {"spec": str(file), "specBody": spec}
        for operation in result.operations[:max_operations]:
            for arguments in generate_arguments(operation.input_schema, cases, seed):
                if isinstance(arguments, str):
                    yield _case(file, result.format, operation, spec, generation=arguments)
                    break
                try:
                    plan = build_request(
                        operation.mapping, operation.method, operation.path, arguments
                    )
                except Exception as exc:  # an ArgumentError is a finding too
                    yield _case(file, result.format, operation, spec, build_error=str(exc))
                    continue
                yield _case(file, result.format, operation, spec, plan=plan, arguments=arguments)


def generate_arguments(schema: dict[str, Any], count: int, seed: int) -> list[Any]:
    """Up to COUNT distinct argument sets the schema accepts, the same ones on every run."""
    from jsonschema import Draft202012Validator

    # Formats are checked too: a caller that follows the schema sends a date where it says
    # "date" (the gateway does not assert formats, and the spec's own examples sometimes
    # break them: those are not offered).
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    rng = random.Random(f"{seed}:{json.dumps(schema, sort_keys=True, default=str)[:2000]}")
    unique: dict[str, Any] = {}
    attempts = 0
    deadline = time.monotonic() + 5
    while len(unique) < count and attempts < count * 20 and time.monotonic() < deadline:
        attempts += 1
        # The first attempt gives only what is required, later ones fill optional parts too.
        values = SchemaValues(schema, rng, fill=min(1.0, (attempts - 1) / 3), validator=validator)
        arguments = values.value(schema, 0)
        try:
            accepted = validator.is_valid(arguments)
        except Exception as exc:  # e.g. an ECMA-262 pattern Python's re cannot compile
            return [f"the tool schema cannot be checked in Python: {exc}"[:200]]
        if accepted:
            unique.setdefault(json.dumps(arguments, sort_keys=True), arguments)
    if not unique:
        return ["no argument set the tool schema accepts was found"]
    return list(unique.values())


_MATCHES: dict[tuple[str, int, int, int], str] = {}


def _at_least(length: int) -> Any:
    return lambda text: len(text) >= length


class SchemaValues:
    """Random instances of a JSON Schema 2020-12 (the subset tool schemas use).

    hypothesis-jsonschema would be the obvious choice, but its last release does not run with
    the hypothesis this project pins. Instances are checked against the schema afterwards, so
    this only has to be right often, not always.
    """

    FORMATS = {
        "date-time": "2024-05-06T07:08:09Z",
        "date": "2024-05-06",
        "time": "07:08:09Z",
        "email": "someone@example.com",
        "uuid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "uri": "https://example.com/x",
        "url": "https://example.com/x",
        "hostname": "example.com",
        "ipv4": "192.0.2.1",
        "ipv6": "2001:db8::1",
        "byte": "aGVsbG8=",
        "binary": "hello",
        "int32": "1",
        "int64": "1",
    }

    def __init__(
        self,
        root: dict[str, Any],
        rng: random.Random,
        fill: float,
        budget: int = 500,
        validator: Any = None,
    ) -> None:
        self.root = root
        self.validator = validator
        self.rng = rng
        self.fill = fill
        # Values left to make: recursive schemas with many properties grow exponentially.
        self.budget = budget

    def value(self, schema: Any, depth: int) -> Any:
        self.budget -= 1
        if schema is True or not isinstance(schema, dict) or self.budget < 0:
            return "x"
        if "$ref" in schema and isinstance(schema["$ref"], str):
            target = self._resolve(schema["$ref"])
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.value(merged, depth + 1) if depth < 12 else None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        for examples_key in ("examples",):
            examples = schema.get(examples_key)
            if isinstance(examples, list) and self.validator is not None:
                examples = [e for e in examples if self._conforms(schema, e)]
            if isinstance(examples, list) and examples and self.rng.random() < 0.5:
                return self.rng.choice(examples)
        if "default" in schema and self.rng.random() < 0.3:
            return schema["default"]
        if isinstance(schema.get("allOf"), list):
            merged = dict(schema)
            members = merged.pop("allOf")
            for member in members:
                member = self._resolve(member["$ref"]) if "$ref" in member else member
                if isinstance(member, dict):
                    for key, value in member.items():
                        if key == "properties":
                            merged["properties"] = {**merged.get("properties", {}), **value}
                        elif key == "required":
                            merged["required"] = [*merged.get("required", []), *value]
                        else:
                            merged.setdefault(key, value)
            return self.value(merged, depth + 1)
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                base = {k: v for k, v in schema.items() if k != key}
                choice = self.rng.choice(schema[key])
                choice = self._resolve(choice["$ref"]) if "$ref" in choice else choice
                return self.value(
                    {**base, **choice} if isinstance(choice, dict) else base, depth + 1
                )
        kind = self._type(schema)
        if kind == "null":
            return None
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind in ("integer", "number"):
            return self._number(schema, kind)
        if kind == "string":
            return self._string(schema)
        if kind == "array":
            return self._array(schema, depth)
        return self._object(schema, depth)

    def _conforms(self, schema: dict[str, Any], example: Any) -> bool:
        """Whether one of the spec's examples is valid where it stands (formats included)."""
        bits = {"int32": 31, "int64": 63}.get(str(schema.get("format")))
        if bits and isinstance(example, int) and not -(2**bits) <= example < 2**bits:
            return False  # jsonschema knows no int32/int64; the spec's format still applies
        try:
            return bool(self.validator.evolve(schema=schema).is_valid(example))
        except Exception:
            return False

    def _resolve(self, ref: str) -> Any:
        node: Any = self.root
        for token in ref.lstrip("#").split("/")[1:]:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            node = node.get(token, {}) if isinstance(node, dict) else {}
        return node

    def _type(self, schema: dict[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            options = [t for t in declared if t != "null"] or ["null"]
            if "null" in declared and self.rng.random() < 0.15:
                return "null"
            return self.rng.choice(options)
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return self.rng.choice(["string", "integer", "object"])

    def _number(self, schema: dict[str, Any], kind: str) -> int | float:
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1000))
        high = schema.get("maximum", schema.get("exclusiveMaximum", 1000))
        low, high = (
            (low, high)
            if isinstance(low, (int, float)) and isinstance(high, (int, float))
            else (0, 100)
        )
        if high < low:
            high = low
        if "exclusiveMinimum" in schema:
            low = low + 1 if kind == "integer" else low + 0.5
        if "exclusiveMaximum" in schema:
            high = high - 1 if kind == "integer" else high - 0.5
        if kind == "integer":
            value: int | float = self.rng.randint(int(low), int(max(low, high)))
        else:
            value = round(self.rng.uniform(low, max(low, high)), 2)
        step = schema.get("multipleOf")
        if isinstance(step, (int, float)) and step > 0:
            value = (
                step * round(value / step) if kind != "integer" else int(step * round(value / step))
            )
        return value

    def _string(self, schema: dict[str, Any]) -> str:
        if schema.get("format") in self.FORMATS:
            return self.FORMATS[schema["format"]]
        low = schema.get("minLength", 0) if isinstance(schema.get("minLength"), int) else 0
        high = (
            schema.get("maxLength", max(low, 12))
            if isinstance(schema.get("maxLength"), int)
            else max(low, 12)
        )
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not pattern.startswith("^[\\t"):
            # Without a maxLength the pattern alone bounds the length ("cluster-[a-z]{11,16}").
            limit = schema["maxLength"] if isinstance(schema.get("maxLength"), int) else 4096
            return self._matching(pattern, low, limit)
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        length = self.rng.randint(low, max(low, min(high, low + 12)))
        text = "".join(self.rng.choice(alphabet) for _ in range(length))
        if self.rng.random() < 0.2 and length >= 2:
            text = text[0] + " é/&?#"[self.rng.randrange(6)] + text[2:]
        return text

    def _matching(self, pattern: str, low: int, high: int) -> str:
        """The simplest string hypothesis finds for the pattern, then a random one."""
        from hypothesis import HealthCheck, Phase, find, settings
        from hypothesis import strategies as st

        quiet = settings(
            database=None,
            derandomize=True,
            max_examples=25,
            phases=[Phase.generate],  # the first match is enough; shrinking can take minutes
            suppress_health_check=list(HealthCheck),
        )
        wanted = self.rng.randint(low, max(low, min(high, low + 8)))
        key = (pattern, low, high, wanted)
        if key in _MATCHES:
            return _MATCHES[key]
        found = "x" * max(low, 1)
        # A string matching the whole pattern also matches it anywhere (JSON Schema's test),
        # and is far more often within the length bounds than one with text around a match.
        for fullmatch in (True, False):
            try:
                strategy = st.from_regex(pattern, fullmatch=fullmatch).filter(
                    lambda text: low <= len(text) <= high
                )
            except Exception:  # not a Python regular expression
                break
            for shortest in (wanted, 0):
                try:
                    found = str(find(strategy, _at_least(shortest), settings=quiet))
                    break
                except Exception:
                    continue
            else:
                continue
            break
        _MATCHES[key] = found
        return found

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = schema.get("minItems", 0) if isinstance(schema.get("minItems"), int) else 0
        high = (
            schema.get("maxItems", low + 3) if isinstance(schema.get("maxItems"), int) else low + 3
        )
        count = self.rng.randint(low, max(low, min(high, low + 3))) if depth < 6 else low
        items = schema.get("items", {})
        values = [self.value(items, depth + 1) for _ in range(count)]
        if schema.get("uniqueItems"):
            unique: dict[str, Any] = {}
            for item in values:
                unique.setdefault(json.dumps(item, sort_keys=True), item)
            values = list(unique.values())
        return values

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        declared = schema.get("properties")
        properties: dict[str, Any] = declared if isinstance(declared, dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        chosen = [name for name in properties if name in required]
        if depth < 6:
            chosen += [n for n in properties if n not in required and self.rng.random() < self.fill]
        dependent = schema.get("dependentRequired")
        if isinstance(dependent, dict):
            for name in list(chosen):
                chosen += [d for d in dependent.get(name, []) if d not in chosen]
        result = {name: self.value(properties.get(name, {}), depth + 1) for name in chosen}
        for name in required:
            result.setdefault(name, "x")
        minimum = schema.get("minProperties")
        if (
            isinstance(minimum, int)
            and len(result) < minimum
            and schema.get("additionalProperties") is not False
        ):
            for index in range(minimum - len(result)):
                result[f"k{index}"] = "v"
        return result


def _case(file: Path, fmt: str, operation: Any, spec: Any, **found: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "file": str(file.relative_to(ROOT) if file.is_relative_to(ROOT) else file),
        "format": fmt,
        "method": operation.method,
        "path": operation.path,
        "spec": str(file),
    }
    plan = found.pop("plan", None)
    if plan is not None:
        found.pop("arguments", None)
        case["request"] = {
            "path": plan.path,
            "query": parse_qsl(plan.query_string, keep_blank_values=True),
            "headers": plan.headers,
            "cookies": plan.cookies,
            "body": base64.b64encode(plan.body).decode() if plan.body is not None else None,
            "contentType": plan.content_type,
        }
        case["category"] = category(operation.mapping)
    case.update(found)
    return case


def category(mapping: dict[str, Any]) -> str:
    body = mapping.get("body")
    if not body:
        return "parameters only"
    media = body["mediaType"].split(";")[0].strip().lower()
    if body["encoding"] == "raw" and "xml" in media:
        return "raw body (xml, schema names no root element)"
    if body["encoding"] == "raw":
        return f"raw body ({'xml' if 'xml' in media else media})"
    return f"{body['encoding']} body"


# -- phase 2: validate (fidelity virtualenv, openapi-core) ----------------------------------


def validate_cases(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    from jsonschema_path import SchemaPath
    from openapi_core.testing import MockRequest
    from openapi_core.validation.request import validators

    specs: dict[str, dict[str, Any]] = {}
    for line in lines:
        message = json.loads(line)
        if "specBody" in message:
            specs[message["spec"]] = message["specBody"]
            continue
        case = message
        if "request" not in case:
            yield case
            continue
        spec = specs[case["spec"]]
        is_31 = str(spec.get("openapi", "")).startswith("3.1")
        parameters_cls = (
            validators.V31RequestParametersValidator
            if is_31
            else validators.V30RequestParametersValidator
        )
        body_cls = (
            validators.V31RequestBodyValidator if is_31 else validators.V30RequestBodyValidator
        )
        one_path, template = _single_path_spec(spec, case["path"], case["method"].lower())
        errors: list[str] = []
        built = case["request"]
        if case.get("category") == "xml body" and built["body"] is not None:
            # openapi-core reads XML as an Element and cannot check it against a schema: read
            # the document back by the schema's xml objects and check that JSON instead.
            try:
                one_path, built = _xml_as_json(one_path, template, case["method"].lower(), built)
            except ValueError as exc:
                errors.append(f"XMLReadError: {exc}")
        request = _mock_request(MockRequest, built, template, case["method"])
        schema_path = SchemaPath.from_dict(one_path)
        try:
            for cls in (parameters_cls, body_cls):
                for error in cls(schema_path).iter_errors(request):
                    # An optional body that was not sent: the full validator ignores this one.
                    if type(error).__name__ != "MissingRequestBody":
                        errors.append(_describe(error))
        except Exception as exc:
            errors.append(f"validator crashed: {_describe(exc)}")
        if built["body"] == "" and built.get("contentType"):
            errors = [
                f"EmptyBody: {e}" if e.startswith("MissingRequiredRequestBody") else e
                for e in errors
            ]
        if str(built.get("contentType") or "").startswith("multipart/"):
            errors = [f"MultipartText: {e}" if _only_uncast_text(e) else e for e in errors]
        if str(built.get("contentType") or "").startswith("text/plain"):
            errors = [
                f"TextBodyDeclaredStructured: {e}"
                if re.search(r"is not of type '(object|array)'", e)
                else e
                for e in errors
            ]
        sent = {name for name, _ in built["query"]}
        case["errors"] = [
            _classify(one_path, template, case["method"].lower(), e, sent) for e in errors
        ]
        yield case


def _only_uncast_text(error: str) -> bool:
    """Whether every type error is a number or boolean still in its text form."""
    found = re.findall(r"ValidationError: \"?(.{0,40}?) is not of type '(\w+)'", error)
    return bool(found) and all(
        kind in ("integer", "number", "boolean")
        and re.fullmatch(r"'(-?[0-9.eE+]+|true|false)'", value)
        for value, kind in found
    )


def _classify(spec: dict[str, Any], template: str, method: str, error: str, sent: set[str]) -> str:
    """Tags parameter errors that are openapi-core's reading of the spec, not the request."""
    invalid = re.match(r"InvalidParameter: Invalid (\w+) parameter: (\S+)", error)
    if invalid:
        for parameter in _parameters(spec, template, method):
            if parameter.get("name") != invalid.group(2) or parameter.get("in") != invalid.group(1):
                continue
            if invalid.group(1) == "query" and invalid.group(2) not in sent:
                return f"DefaultNotValid: {error}"
            if '"readOnly": true' in json.dumps(_inline_path_refs(spec, parameter, 0)):
                return f"ReadOnlyParameter: {error}"
        return error
    match = re.match(r"MissingRequiredParameter: Missing required query parameter: (\S+)", error)
    if not match:
        return error
    for parameter in _parameters(spec, template, method):
        if parameter.get("name") == match.group(1) and parameter.get("in") == "query":
            schema = _deref(spec, parameter.get("schema", {}))
            style = parameter.get("style", "form")
            if (
                _kind(spec, schema) == "object"
                and style == "form"
                and parameter.get("explode", True)
            ):
                return f"ExplodedFormObject: {error}"
    return error


def _parameters(spec: dict[str, Any], template: str, method: str) -> list[dict[str, Any]]:
    item = spec["paths"][template]
    found = [*item.get("parameters", []), *item[method].get("parameters", [])]
    return [p for p in (_deref(spec, raw) for raw in found) if isinstance(p, dict)]


def _xml_as_json(
    spec: dict[str, Any], template: str, method: str, built: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The spec with the XML media type read as JSON, and the request with its body read back.

    An independent reader of the OpenAPI XML Object rules (element and attribute names,
    namespaces, wrapped and unwrapped arrays, the root named by ``xml.name`` or the component
    name); it is strict about names, so a body written by other rules fails here.
    """
    import xml.etree.ElementTree as ET

    operation = spec["paths"][template][method]
    body_spec = _deref(spec, operation["requestBody"])
    media_type = built["contentType"]
    media = _deref(spec, body_spec["content"][media_type])
    source = media.get("schema", {})
    try:
        root = ET.fromstring(base64.b64decode(built["body"]))
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    schema = _deref(spec, source)
    want = str(_xml_of(source).get("name") or _xml_of(schema).get("name") or "")
    if not want and isinstance(source, dict) and "$ref" in source:
        want = source["$ref"].rsplit("/", 1)[-1]
    _expect_name(root, want, _xml_of(source) or _xml_of(schema))
    if _kind(spec, schema) == "array":
        value: Any = _read_items(spec, root, schema, want)
    else:
        value = _read(spec, root, schema)
    new_body = {**body_spec, "content": {"application/json": {"schema": source}}}
    new_operation = {**operation, "requestBody": new_body}
    item = {**spec["paths"][template], method: new_operation}
    new_spec = {**spec, "paths": {template: item}}
    data = base64.b64encode(json.dumps(value).encode()).decode()
    return new_spec, {**built, "body": data, "contentType": "application/json"}


def _deref(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 32:
        node, depth = _pointer(spec, node["$ref"]), depth + 1
    return node


def _pointer(spec: dict[str, Any], ref: str) -> Any:
    """The node a local reference (``#/a/b/0``, percent-encoded or not) points at, or {}."""
    target: Any = spec
    for token in ref[2:].split("/"):
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            target = target.get(token, {}) if isinstance(target, dict) else {}
    return target


def _xml_of(schema: Any) -> dict[str, Any]:
    xml = schema.get("xml") if isinstance(schema, dict) else None
    return xml if isinstance(xml, dict) else {}


def _kind(spec: dict[str, Any], schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    declared = schema.get("type")
    types = set(declared) if isinstance(declared, list) else {declared}
    members = schema.get("allOf")
    if isinstance(members, list) and declared is None and "properties" not in schema:
        kinds = [_kind(spec, _deref(spec, member)) for member in members]
        for kind in ("array", "value"):
            if kind in kinds and "object" not in kinds:
                return kind
    if "array" in types:
        return "array"
    if "object" in types or "properties" in schema or "allOf" in schema:
        return "object"
    return "value" if types & {"string", "integer", "number", "boolean"} else "any"


def _properties(spec: dict[str, Any], schema: Any, depth: int = 0) -> dict[str, Any]:
    schema = _deref(spec, schema)
    found: dict[str, Any] = {}
    if not isinstance(schema, dict) or depth > 16:
        return found
    for member in schema.get("allOf", []) if isinstance(schema.get("allOf"), list) else []:
        found.update(_properties(spec, member, depth + 1))
    if isinstance(schema.get("properties"), dict):
        found.update(schema["properties"])
    return found


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _expect_name(element: Any, name: str, xml: dict[str, Any]) -> None:
    namespace, local = _local(element.tag)
    if local != name or namespace != (xml.get("namespace") or ""):
        raise ValueError(f"element {element.tag!r} where {name!r} was expected")


def _effective(spec: dict[str, Any], schema: Any) -> Any:
    """For allOf of a referenced array or value and annotations: that member."""
    schema = _deref(spec, schema)
    members = schema.get("allOf") if isinstance(schema, dict) else None
    if isinstance(members, list) and _kind(spec, schema) in ("array", "value"):
        for member in members:
            if _kind(spec, _deref(spec, member)) == _kind(spec, schema):
                return _effective(spec, member)
    return schema


def _read(spec: dict[str, Any], element: Any, schema: Any) -> Any:
    schema = _effective(spec, schema)
    kind = _kind(spec, schema)
    if kind == "value":
        return _scalar(schema, element.text or "")
    if kind != "object":
        if len(element) == 0 and not element.attrib:
            return element.text or ""
        return {_local(child.tag)[1]: _read(spec, child, {}) for child in element}
    value: dict[str, Any] = {}
    used: set[int] = set()
    for name, raw in _properties(spec, schema).items():
        sub = _deref(spec, raw)
        xml = _xml_of(raw) or _xml_of(sub) or _xml_of(_effective(spec, sub))
        sub = _effective(spec, sub)
        wire = xml.get("name") or name
        if xml.get("attribute"):
            key = f"{{{xml['namespace']}}}{wire}" if xml.get("prefix") else wire
            if key in element.attrib:
                value[name] = _scalar(sub, element.attrib[key])
            continue
        if _kind(spec, sub) == "array":
            if xml.get("wrapped"):
                wrappers = [c for c in element if _local(c.tag)[1] == wire]
                if wrappers:
                    used.update(id(c) for c in wrappers)
                    value[name] = _read_items(spec, wrappers[0], sub, wire)
                continue
            items = _deref(spec, sub.get("items", {}))
            item_name = _xml_of(sub.get("items")).get("name") or _xml_of(items).get("name")
            item_name = item_name or name
            matched = [c for c in element if _local(c.tag)[1] == item_name]
            if matched:
                used.update(id(c) for c in matched)
                value[name] = [_read(spec, c, items) for c in matched]
            continue
        children = [c for c in element if _local(c.tag)[1] == wire]
        if children:
            _expect_name(children[0], wire, xml)
            used.update(id(c) for c in children)
            value[name] = _read(spec, children[0], sub)
    declared = {
        (_xml_of(raw) or _xml_of(_deref(spec, raw))).get("name") or name
        for name, raw in _properties(spec, schema).items()
    }
    for child in element:
        if id(child) not in used:
            if _local(child.tag)[1] in declared:
                raise ValueError(f"element {child.tag!r} is not where the schema puts it")
            value[_local(child.tag)[1]] = _read(spec, child, {})
    return value


def _read_items(spec: dict[str, Any], wrapper: Any, schema: Any, outer: str) -> list[Any]:
    schema = _effective(spec, schema)
    items = _deref(spec, schema.get("items", {}))
    name = _xml_of(schema.get("items")).get("name") or _xml_of(items).get("name") or outer
    values = []
    for child in wrapper:
        if _local(child.tag)[1] != name:
            raise ValueError(f"item element {child.tag!r} where {name!r} was expected")
        values.append(_read(spec, child, items))
    return values


def _scalar(schema: Any, text: str) -> Any:
    declared = schema.get("type") if isinstance(schema, dict) else None
    types = declared if isinstance(declared, list) else [declared]
    for kind in types:
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        if kind in ("integer", "number"):
            try:
                return int(text)
            except ValueError:
                pass
            try:
                return float(text) if kind == "number" else text
            except ValueError:
                pass
    return text


def _single_path_spec(spec: dict[str, Any], path: str, method: str) -> tuple[dict, str]:
    template = path.split("#", 1)[0].split("?", 1)[0] or "/"
    item = dict(spec["paths"][path])
    kept = {key: value for key, value in item.items() if key == method or key == "parameters"}
    # References into other path items would dangle once only this one is left: inline them.
    kept = _inline_path_refs(spec, kept, 0)
    one = {**spec, "servers": [{"url": BASE}], "paths": {template: kept}}
    one.pop("webhooks", None)
    return one, template


def _inline_path_refs(spec: dict[str, Any], node: Any, depth: int) -> Any:
    if isinstance(node, list):
        return [_inline_path_refs(spec, item, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/paths/") and depth < 16:
        return _inline_path_refs(spec, _pointer(spec, ref), depth + 1)
    return {key: _inline_path_refs(spec, value, depth) for key, value in node.items()}


def _mock_request(cls: Any, built: dict[str, Any], template: str, method: str) -> Any:
    names = re.findall(r"\{([^{}/]+)\}", template)
    pattern = re.escape(template)
    for name in names:
        pattern = pattern.replace(re.escape("{" + name + "}"), "([^/]*)", 1)
    match = re.fullmatch(pattern, built["path"])
    view_args = (
        {name: unquote(value) for name, value in zip(names, match.groups(), strict=True)}
        if match
        else None
    )
    headers = dict(built["headers"])
    if built["contentType"]:
        headers["Content-Type"] = built["contentType"]
    body = base64.b64decode(built["body"]) if built["body"] is not None else None
    from werkzeug.datastructures import ImmutableMultiDict

    request = cls(
        BASE,
        method,
        # A server routes on the decoded path ("/Your Pull API Path" is sent as "%20"s);
        # with path variables the template and view_args carry the decoded values instead.
        built["path"] if names else unquote(built["path"]),
        path_pattern=template if match else None,
        view_args=view_args,
        headers=headers,
        cookies={name: unquote(value) for name, value in built["cookies"]},
        data=body,
        content_type=built["contentType"] or "",
    )
    request.parameters.query = ImmutableMultiDict(built["query"])
    return request


def _describe(error: BaseException) -> str:
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__ or error.__context__
    while cause is not None and len(parts) < 4:
        parts.append(f"{type(cause).__name__}: {cause}")
        details = getattr(cause, "schema_errors", None)
        if details:
            parts.extend(f"{type(d).__name__}: {d.message}" for d in list(details)[:2])
        cause = cause.__cause__ or cause.__context__
    text = " <- ".join(parts)
    # Values can be long: keep the start and the innermost cause, which names the problem.
    return text if len(text) <= 900 else f"{text[:450]} … {text[-450:]}"


# -- orchestration ---------------------------------------------------------------------------


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
        )
    return python


def run(files: list[Path], *, max_operations: int, cases: int, seed: int) -> dict[str, Any]:
    """Build every case here, validate them in the fidelity virtualenv, and summarise."""
    python = ensure_venv()
    lines = [
        json.dumps(message)
        for message in build_cases(files, max_operations=max_operations, cases=cases, seed=seed)
    ]
    completed = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--validate"],
        input="\n".join(lines) + "\n",
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        cwd=str(ROOT / "bench"),
    )
    checked = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return summarise(checked)


def summarise(checked: list[dict[str, Any]]) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    per_format: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[dict[str, Any]] = []
    set_aside: list[dict[str, Any]] = []
    not_built: list[dict[str, Any]] = []
    for case in checked:
        where = {k: case.get(k) for k in ("file", "method", "path")}
        if "skipped" in case or "generation" in case:
            not_built.append({**where, "reason": case.get("skipped") or case.get("generation")})
            continue
        if "build_error" in case:
            totals["build errors"] += 1
            failures.append({**where, "errors": [f"build_request: {case['build_error']}"]})
            continue
        totals["built"] += 1
        per_category[case["category"]]["built"] += 1
        per_format[case["format"]]["built"] += 1
        errors = case["errors"]
        if not errors:
            totals["valid"] += 1
            per_category[case["category"]]["valid"] += 1
            per_format[case["format"]]["valid"] += 1
            continue
        reasons = {reason for error in errors for test, reason in SET_ASIDE if test.search(error)}
        if case["category"].startswith("raw body (xml") and all(
            RAW_XML_BODY.search(error) for error in errors
        ):
            reasons = {RAW_XML_REASON}
        if reasons and (
            RAW_XML_REASON in reasons or all(any(t.search(e) for t, _ in SET_ASIDE) for e in errors)
        ):
            totals["set aside"] += 1
            per_category[case["category"]]["set aside"] += 1
            per_format[case["format"]]["set aside"] += 1
            set_aside.append({**where, "reasons": sorted(reasons), "errors": errors[:2]})
            continue
        failures.append({**where, "category": case["category"], "errors": errors[:3]})
    judged = totals["built"] - totals["set aside"]
    return {
        "built": totals["built"],
        "valid": totals["valid"],
        "setAside": totals["set aside"],
        "buildErrors": totals["build errors"],
        "validShare": round(totals["valid"] / judged, 4) if judged else None,
        "perCategory": {k: dict(v) for k, v in sorted(per_category.items())},
        "perFormat": {k: dict(v) for k, v in sorted(per_format.items())},
        "failures": failures,
        "setAsideCases": set_aside,
        "notBuilt": not_built,
    }


def corpus_sample(size: int, seed: int) -> list[Path]:
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    corpus.ensure_corpus()
    files = sorted(corpus.corpus_files())
    if size and size < len(files):
        files = sorted(random.Random(seed).sample(files, size))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", action="store_true")
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--max-operations", type=int, default=40)
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.validate:
        for case in validate_cases(iter(sys.stdin)):
            print(json.dumps(case), flush=True)
        return
    sys.path.insert(0, str(ROOT))
    files = corpus_sample(args.sample, args.seed) if args.corpus else SLICE
    started = time.perf_counter()
    summary = run(files, max_operations=args.max_operations, cases=args.cases, seed=args.seed)
    summary["documents"] = len(files)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k not in ("setAsideCases", "notBuilt")},
            indent=2,
        )[:20000]
    )


if __name__ == "__main__":
    main()
