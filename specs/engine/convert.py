"""``convert``: an OpenAPI/Swagger document to normalised operations and MCP tool definitions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import document as doc
from .compact import DEFAULT_BUDGETS, Compactor, SchemaBudgets
from .errors import SpecError
from .loader import check_structure
from .naming import assign_tool_names, base_tool_name
from .operations import HTTP_METHODS, BuiltOperation, OperationBuilder
from .refs import RefError, follow, join_pointer, without_external_refs
from .schemas import REQUEST, RESPONSE, SchemaConverter
from .validation import FULL_VALIDATION_CONTAINERS, validate_document

MAX_WARNINGS = 500
# convert() also accepts documents that never went through load_document (e.g. parsed by
# an API framework), so it bounds their shape too; JSON can hold about this many per byte.
MAX_CONTAINERS = 20_000_000


@dataclass
class OperationDef:
    key: str
    operation_id: str | None
    method: str
    path: str
    summary: str
    description: str
    tags: list[str]
    deprecated: bool
    tool_name: str
    tool_description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, Any]
    mapping: dict[str, Any]
    security: list[dict[str, list[str]]] | None
    servers: list[str]
    fingerprint: str = ""


@dataclass
class ConversionResult:
    format: str
    title: str
    version: str
    description: str
    servers: list[str]
    security_schemes: dict[str, dict[str, Any]]
    security: list[dict[str, list[str]]]
    normalized: dict[str, Any]
    operations: list[OperationDef]
    warnings: list[dict[str, str]]
    validation: str = "skipped"  # "full" | "skipped" (too large) | "off"


@dataclass
class _Warnings:
    items: list[dict[str, str]] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    dropped: int = 0

    def __call__(self, pointer: str, message: str) -> None:
        key = (pointer, message)
        if key in self.seen:
            return
        self.seen.add(key)
        if len(self.items) < MAX_WARNINGS:
            self.items.append({"pointer": pointer, "message": message})
        else:
            self.dropped += 1

    def finish(self) -> list[dict[str, str]]:
        if self.dropped:
            self.items.append({"pointer": "", "message": f"{self.dropped} more warnings omitted."})
        return self.items


def convert(
    document: dict[str, Any],
    *,
    previous_names: Mapping[str, str] | None = None,
    description_max: int = 1024,
    validate: bool = True,
    schema_budgets: SchemaBudgets | None = DEFAULT_BUDGETS,
) -> ConversionResult:
    """Convert a parsed document; raises SpecError when it is not usable OpenAPI at all.

    Tool schemas are compacted to ``schema_budgets`` (see compact.py); None keeps them whole.
    """
    if not isinstance(document, dict):
        raise SpecError("The document root must be a mapping (an object).")
    containers = check_structure(document, max_containers=MAX_CONTAINERS)
    warn = _Warnings()
    fmt = doc.detect_format(document, warn)
    # Before anything reads it: what is validated, converted and stored has no reference
    # to anything outside the document.
    document = without_external_refs(document, warn)
    paths = document.get("paths", {})
    if not isinstance(paths, dict):
        raise SpecError(
            "paths must be an object.",
            [{"pointer": "/paths", "message": "paths must be an object mapping paths to items."}],
        )
    problems: list[dict[str, str]] = []
    validation = "off"
    if validate:
        validation = "skipped"
        if containers <= FULL_VALIDATION_CONTAINERS:
            validation = "full"
            problems = validate_document(document, fmt)
    for problem in problems:
        warn(problem["pointer"], problem["message"])

    declared_info = document.get("info")
    info = declared_info if isinstance(declared_info, dict) else {}
    if not info:
        warn("/info", "The document has no info object.")
    security_default = (
        doc.security_requirements(document["security"], "/security", warn)
        if "security" in document
        else []
    )
    converter = _DocumentConverter(document, fmt, warn, description_max, schema_budgets)
    operations = converter.operations(paths, security_default if "security" in document else None)
    declared_paths = any(not str(path).startswith("x-") for path in paths)
    if problems and declared_paths and not operations:
        raise SpecError("The document is not valid and has no usable operation.", problems)
    _name_tools(operations, previous_names)
    for operation, built in zip(operations, converter.built, strict=True):
        operation.fingerprint = converter.fingerprint(operation, built)

    if fmt == doc.SWAGGER_2:
        servers = doc.swagger_server_urls(document)
    else:
        servers = doc.server_urls(document.get("servers"), "/servers", warn)
    return ConversionResult(
        format=fmt,
        title=doc.text(info.get("title")),
        version=doc.text(info.get("version")),
        description=doc.text(info.get("description")),
        servers=servers,
        security_schemes=doc.security_schemes(document, fmt, warn),
        security=security_default,
        normalized=document,
        operations=operations,
        warnings=warn.finish(),
        validation=validation,
    )


def _name_tools(operations: list[OperationDef], previous_names: Mapping[str, str] | None) -> None:
    wanted = [(op.key, base_tool_name(op.operation_id, op.method, op.path)) for op in operations]
    names = assign_tool_names(wanted, previous_names)
    for operation in operations:
        operation.tool_name = names[operation.key]


class _DocumentConverter:
    def __init__(
        self,
        document: dict[str, Any],
        fmt: str,
        warn: _Warnings,
        description_max: int,
        schema_budgets: SchemaBudgets | None,
    ) -> None:
        self._document = document
        self._budgets = schema_budgets
        self._compactor = Compactor(schema_budgets) if schema_budgets is not None else None
        self._fmt = fmt
        self._warn = warn
        self._description_max = description_max
        prefix = "/definitions/" if fmt == doc.SWAGGER_2 else "/components/schemas/"
        self._schemas = SchemaConverter(document, component_prefix=prefix, warn=warn)
        self._builder = OperationBuilder(document, fmt, self._schemas, warn)
        self.built: list[BuiltOperation] = []

    def operations(
        self, paths: dict[str, Any], security_default: list[dict[str, list[str]]] | None
    ) -> list[OperationDef]:
        operations: list[OperationDef] = []
        seen_keys: set[str] = set()
        for path, raw_item in paths.items():
            if path.startswith("x-"):
                continue
            pointer = join_pointer("/paths", path)
            if not path.startswith("/"):
                self._warn(pointer, "A path should start with '/'.")
            try:
                item, _ = follow(self._document, raw_item, pointer)
            except RefError as exc:
                self._warn(pointer, f"{exc} The path is left out.")
                continue
            if not isinstance(item, dict):
                self._warn(pointer, "A path item must be an object.")
                continue
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                operation_pointer = join_pointer(pointer, method)
                if not isinstance(item[method], dict):
                    self._warn(operation_pointer, "An operation must be an object.")
                    continue
                key = f"{method.upper()} {path}"
                if key in seen_keys:
                    self._warn(operation_pointer, f"Duplicate operation {key}; left out.")
                    continue
                seen_keys.add(key)
                operations.append(
                    self._operation(
                        path, item, method, item[method], operation_pointer, security_default
                    )
                )
        return operations

    def _operation(
        self,
        path: str,
        item: dict[str, Any],
        method: str,
        operation: dict[str, Any],
        pointer: str,
        security_default: list[dict[str, list[str]]] | None,
    ) -> OperationDef:
        parameters = self._builder.merged_parameters(path, item, operation, pointer)
        built = self._builder.build(path, operation, parameters, pointer)
        self.built.append(built)
        summary = doc.text(operation.get("summary")).strip()
        description = doc.text(operation.get("description")).strip()
        operation_id = operation.get("operationId")
        deprecated = operation.get("deprecated") is True
        security: list[dict[str, list[str]]] | None
        if "security" in operation:
            security = doc.security_requirements(
                operation["security"], join_pointer(pointer, "security"), self._warn
            )
        else:
            security = security_default
        servers: list[str] = []
        if self._fmt != doc.SWAGGER_2:
            for level, level_pointer in ((operation, pointer), (item, pointer.rsplit("/", 1)[0])):
                if level.get("servers"):
                    servers = doc.server_urls(
                        level["servers"], join_pointer(level_pointer, "servers"), self._warn
                    )
                    break
        tags = operation.get("tags")
        input_schema, output_schema = built.input_schema, built.output_schema
        if self._compactor is not None:
            input_schema = self._compactor.input_schema(input_schema)
            output_schema = self._compactor.output_schema(output_schema)
        return OperationDef(
            key=f"{method.upper()} {path}",
            operation_id=doc.text(operation_id) if operation_id not in (None, "") else None,
            method=method.upper(),
            path=path,
            summary=summary,
            description=description,
            tags=[doc.text(tag) for tag in tags] if isinstance(tags, list) else [],
            deprecated=deprecated,
            tool_name="",
            tool_description=tool_description(
                summary, description, method, path, deprecated, self._description_max
            ),
            input_schema=input_schema,
            output_schema=output_schema,
            annotations=tool_annotations(method, summary),
            mapping=built.mapping,
            security=security,
            servers=servers,
        )

    def fingerprint(self, operation: OperationDef, built: BuiltOperation) -> str:
        """sha256 over everything a tool exposes; shared $defs count by their own hashes.

        The schemas are hashed as built, with the budgets that compact them: the compacted
        form follows from those two, so a change of budgets rewrites every stored tool.
        """
        material = {
            "name": operation.tool_name,
            "description": operation.tool_description,
            "input": _without_defs(built.input_schema),
            "output": _without_defs(built.output_schema),
            "budgets": self._budgets.as_dict() if self._budgets is not None else None,
            "defs": {
                mode: {name: self._schemas.def_hash(name, mode) for name in built.def_names[mode]}
                for mode in (REQUEST, RESPONSE)
            },
            "annotations": operation.annotations,
            "mapping": operation.mapping,
            "security": operation.security,
            "servers": operation.servers,
            "deprecated": operation.deprecated,
        }
        text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _without_defs(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    return {key: value for key, value in schema.items() if key != "$defs"}


def tool_description(
    summary: str, description: str, method: str, path: str, deprecated: bool, limit: int
) -> str:
    """Summary and description, trimmed so the route note always fits within ``limit``."""
    parts = [part for part in (summary, description) if part]
    if len(parts) == 2 and description.startswith(summary):
        parts = [description]
    text = "\n\n".join(parts)
    if deprecated:
        text = f"(Deprecated) {text}".rstrip()
    route = f"HTTP {method.upper()} {path}"
    if not text:
        return _trim(route, limit)
    room = limit - len(route) - 2
    if room < 16:
        return _trim(text, limit)
    return f"{_trim(text, room)}\n\n{route}"


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def tool_annotations(method: str, summary: str) -> dict[str, Any]:
    """MCP tool annotations (docs/api.md, "Tools"): hints only where the method implies them."""
    method = method.upper()
    result: dict[str, Any] = {}
    if summary:
        result["title"] = _trim(summary, 200)
    result["readOnlyHint"] = method in ("GET", "HEAD")
    if method == "DELETE":
        result["destructiveHint"] = True
    if method in ("PUT", "DELETE"):
        result["idempotentHint"] = True
    return result
