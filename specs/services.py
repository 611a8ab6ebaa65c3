"""Writes for specs: import (from text, a parsed document or a URL), new revisions, delete.

The engine (`specs.engine`) does the parsing and conversion; this module turns its results
into rows, its errors into API errors, and a new revision into a re-sync of every server's
tools.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from core import outbound
from core.errors import Conflict, PayloadTooLarge, UpstreamFailed, ValidationFailed
from core.http import spec_fetch_options
from tools.models import Tool
from tools.services import SyncCounts, tools_sync_spec

from .engine import ConversionResult, OperationDef, SpecError, convert, load_document
from .engine.compact import SchemaBudgets
from .engine.document import SWAGGER_2
from .engine.upgrade import swagger_to_openapi30
from .models import Spec, SpecOperation

JSON_MEDIA_TYPE = "application/json"
YAML_MEDIA_TYPE = "application/yaml"
NAME_MAX = 200
UNTITLED = "Untitled spec"
MESSAGE_MAX = 1000
# Outbound failures that are the user's input (a refused or malformed URL), not an outage.
_URL_INPUT_ERRORS = {"blocked", "invalid_url"}
# SpecOperation fields copied from the engine's OperationDef on create and on update.
OPERATION_FIELDS = [
    "operation_id",
    "method",
    "path",
    "summary",
    "tags",
    "tool_name",
    "tool_description",
    "input_schema",
    "output_schema",
    "annotations",
    "mapping",
    "security",
    "servers",
    "fingerprint",
    "position",
]
_FIELD_LIMITS = {"operation_id": 500, "path": 2000}


@dataclass(frozen=True)
class SpecSource:
    """The document as the user gave it: its text, media type and where it came from."""

    text: str
    media_type: str
    source_url: str = ""


@dataclass
class OperationDiff:
    """What a new revision did to a spec's operations, by operation key."""

    added: list[SpecOperation] = field(default_factory=list)
    changed: list[SpecOperation] = field(default_factory=list)
    removed: list[SpecOperation] = field(default_factory=list)
    # Unchanged except for their place in the document.
    moved: list[SpecOperation] = field(default_factory=list)


# --- Sources -----------------------------------------------------------------------------------


def spec_source_from_input(
    *, content: str | None = None, document: Any = None, url: str | None = None
) -> SpecSource:
    """Exactly one of content, document or url becomes the spec's original text."""
    if content is not None:
        _check_size(len(content.encode("utf-8", "surrogatepass")), "content")
        return SpecSource(text=content, media_type=_media_type_of(content))
    if document is not None:
        text = json.dumps(document, ensure_ascii=False, indent=2)
        # surrogatepass: a lone surrogate is refused with a 400 when the document is checked.
        _check_size(len(text.encode("utf-8", "surrogatepass")), "document")
        return SpecSource(text=text, media_type=JSON_MEDIA_TYPE)
    if url is not None:
        return spec_source_fetch(url=url)
    raise ValidationFailed(
        "Give the spec as content, document or url",
        details={"body": ["One of content, document or url is required."]},
    )


def spec_source_fetch(*, url: str) -> SpecSource:
    """Fetch a spec by URL through the outbound guard (timeouts, size cap, address policy)."""
    options = spec_fetch_options()
    headers = {"Accept": "application/json, application/yaml, text/yaml, text/plain, */*"}
    try:
        response = outbound.request("GET", url, headers=headers, options=options)
    except outbound.OutboundError as exc:
        if exc.kind == "too_large":
            raise PayloadTooLarge(
                f"The spec at the URL is larger than the {settings.SPEC_MAX_BYTES} byte limit",
                details={"url": [exc.message], "limitBytes": settings.SPEC_MAX_BYTES},
            ) from None
        if exc.kind in _URL_INPUT_ERRORS:
            raise ValidationFailed(
                "The spec URL cannot be fetched", details={"url": [exc.message]}
            ) from None
        raise UpstreamFailed(
            "Fetching the spec URL failed", details={"url": [exc.message], "reason": exc.kind}
        ) from None
    if not 200 <= response.status_code < 300:
        raise UpstreamFailed(
            f"Fetching the spec URL answered HTTP {response.status_code}",
            details={"url": [f"HTTP {response.status_code}"], "statusCode": response.status_code},
        )
    try:
        text = response.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "Invalid spec",
            details={"problems": [{"pointer": "", "message": f"Not UTF-8 text: {exc.reason}."}]},
        ) from None
    content_type = (response.header("content-type") or "").split(";")[0].strip().lower()
    media_type = _media_type_of(text) if content_type in ("", "text/plain") else content_type
    return SpecSource(text=text, media_type=media_type[:32], source_url=url[:2000])


def _check_size(size: int, field_name: str) -> None:
    limit = settings.SPEC_MAX_BYTES
    if size > limit:
        raise PayloadTooLarge(
            f"The spec is larger than the {limit} byte limit",
            details={field_name: [f"{size} bytes; the limit is {limit}."], "limitBytes": limit},
        )


def _media_type_of(text: str) -> str:
    return JSON_MEDIA_TYPE if text.lstrip()[:1] in ("{", "[") else YAML_MEDIA_TYPE


def spec_convert(
    *, source: SpecSource, previous_names: dict[str, str] | None = None
) -> ConversionResult:
    """Parse and convert; any SpecError becomes a 400 listing its problems."""
    try:
        document = load_document(source.text, max_bytes=settings.SPEC_MAX_BYTES)
        result = convert(
            document,
            previous_names=previous_names,
            description_max=settings.TOOL_DESCRIPTION_MAX,
            schema_budgets=SchemaBudgets(
                max_depth=settings.TOOL_SCHEMA_MAX_DEPTH,
                max_input_bytes=settings.TOOL_INPUT_SCHEMA_MAX_BYTES,
                max_output_bytes=settings.TOOL_OUTPUT_SCHEMA_MAX_BYTES,
            ),
        )
    except SpecError as exc:
        raise ValidationFailed(
            f"Invalid spec: {exc}", details={"problems": _problems(exc.problems)}
        ) from None
    _check_operation_fields(result)
    return result


def _problems(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**problem, "pointer": str(problem.get("pointer", "")), "message": _message(problem)}
        for problem in problems
    ]


def _message(problem: dict[str, Any]) -> str:
    # Some validator messages quote the offending value in full, which can be the whole spec.
    message = str(problem.get("message", ""))
    if len(message) <= MESSAGE_MAX:
        return message
    return message[: MESSAGE_MAX - 1] + "…"


def _check_operation_fields(result: ConversionResult) -> None:
    problems = [
        {"pointer": f"/paths/{op.path}", "message": "The path is longer than 2000 characters."}
        for op in result.operations
        if len(op.path) > _FIELD_LIMITS["path"]
    ]
    if problems:
        raise ValidationFailed("Invalid spec", details={"problems": problems})


# --- Create, update, delete --------------------------------------------------------------------


def spec_create(
    *,
    user: User,
    name: str | None = None,
    description: str = "",
    content: str | None = None,
    document: Any = None,
    url: str | None = None,
) -> Spec:
    source = spec_source_from_input(content=content, document=document, url=url)
    result = spec_convert(source=source)
    spec = Spec(user=user, name=name or _default_name(result), description=description or "")
    _apply_result(spec, source, result)
    with transaction.atomic():
        spec.save()
        SpecOperation.objects.bulk_create(
            [_new_operation(spec, op, index) for index, op in enumerate(result.operations)],
            batch_size=500,
        )
    return spec


def spec_update(
    *,
    spec: Spec,
    name: str | None = None,
    description: str | None = None,
    content: str | None = None,
    document: Any = None,
) -> tuple[Spec, SyncCounts]:
    """Rename/redescribe, and with new content make a new revision and re-sync servers.

    Content identical to the current revision (same sha256) is not a new revision.
    """
    result: ConversionResult | None = None
    source: SpecSource | None = None
    if content is not None or document is not None:
        source = spec_source_from_input(content=content, document=document)
        if _sha256(source.text) != spec.sha256:
            previous = dict(spec.operations.values_list("key", "tool_name"))
            result = spec_convert(source=source, previous_names=previous)
    counts = SyncCounts()
    with transaction.atomic():
        spec = Spec.objects.select_for_update().get(pk=spec.pk)
        if name is not None:
            spec.name = name
        if description is not None:
            spec.description = description
        if result is not None and source is not None:
            _apply_result(spec, source, result)
            spec.revision += 1
        spec.save()
        if result is not None:
            counts = _replace_operations(spec, result.operations)
    return spec, counts


def spec_delete(*, spec: Spec) -> None:
    server_ids = [str(pk) for pk in spec.mcp_servers.values_list("id", flat=True)]
    if server_ids:
        raise Conflict(
            "The spec is used by servers; delete them first",
            details={"serverIds": server_ids},
        )
    spec.delete()


def _replace_operations(spec: Spec, operations: list[OperationDef]) -> SyncCounts:
    """Update operation rows in place by key (tools keep pointing at them), then re-sync."""
    diff = operation_diff(spec=spec, operations=operations)
    removed_tools = Tool.objects.filter(operation__in=diff.removed).count()
    # Removed rows go first: their tools go with them (cascade) before names are re-resolved.
    SpecOperation.objects.filter(pk__in=[row.pk for row in diff.removed]).delete()
    SpecOperation.objects.bulk_update(diff.changed, OPERATION_FIELDS, batch_size=200)
    SpecOperation.objects.bulk_update(diff.moved, ["position"], batch_size=500)
    SpecOperation.objects.bulk_create(diff.added, batch_size=500)
    return tools_sync_spec(spec=spec, diff=diff) + SyncCounts(removed=removed_tools)


def operation_diff(*, spec: Spec, operations: list[OperationDef]) -> OperationDiff:
    """Compare new operations with the stored ones by key; changed rows are updated in memory."""
    existing = {row.key: row for row in spec.operations.all()}
    diff = OperationDiff()
    for index, op in enumerate(operations):
        row = existing.pop(op.key, None)
        if row is None:
            diff.added.append(_new_operation(spec, op, index))
        elif row.fingerprint != op.fingerprint:
            _copy_operation(row, op, index)
            diff.changed.append(row)
        elif row.position != index:
            row.position = index
            diff.moved.append(row)
    diff.removed = list(existing.values())
    return diff


def _apply_result(spec: Spec, source: SpecSource, result: ConversionResult) -> None:
    spec.title = result.title[:500]
    spec.version = result.version[:200]
    spec.format = result.format
    spec.source_url = source.source_url or spec.source_url
    spec.original_text = source.text
    spec.original_media_type = source.media_type
    spec.document = result.normalized
    spec.openapi30_document = (
        swagger_to_openapi30(result.normalized) if result.format == SWAGGER_2 else None
    )
    spec.sha256 = _sha256(source.text)
    spec.operation_count = len(result.operations)
    spec.servers = result.servers
    spec.security_schemes = result.security_schemes
    spec.security = result.security
    spec.warnings = _problems(result.warnings)


def _new_operation(spec: Spec, op: OperationDef, position: int) -> SpecOperation:
    row = SpecOperation(spec=spec, key=op.key)
    _copy_operation(row, op, position)
    return row


def _copy_operation(row: SpecOperation, op: OperationDef, position: int) -> None:
    row.operation_id = (op.operation_id or "")[: _FIELD_LIMITS["operation_id"]]
    row.method = op.method
    row.path = op.path
    row.summary = op.summary
    row.tags = op.tags
    row.tool_name = op.tool_name
    row.tool_description = op.tool_description
    row.input_schema = op.input_schema
    row.output_schema = op.output_schema
    row.annotations = op.annotations
    row.mapping = op.mapping
    row.security = op.security
    row.servers = op.servers
    row.fingerprint = op.fingerprint
    row.position = position


def _default_name(result: ConversionResult) -> str:
    return result.title.strip()[:NAME_MAX] or UNTITLED


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
