"""An upstream HTTP response, turned into the MCP CallToolResult a client receives.

Results are plain JSON dicts with MCP's camelCase keys (`content`, `structuredContent`,
`isError`), so they can be serialised straight into a JSON-RPC response. No Django here.

- JSON (application/json, */*+json) becomes text content holding the JSON text, plus
  `structuredContent`: the object itself, or `{"result": value}` for any other root.
- Other textual types become text content, decoded with their charset.
- image/* and audio/* become image and audio content; any other binary body becomes an
  embedded resource blob at `specgate://response`.
- Upstream 4xx/5xx become `isError: true` results with the status and a readable excerpt.
- A tool that declares an output schema gets structured content that conforms to it, or an
  `isError` result saying why not: MCP clients reject a successful result without it.
- A selection (the reserved `_select` argument, tools.projection) narrows a JSON result to
  `{"result": <selected value>}`; a JSON result over `max_json_bytes` is shortened by cutting
  arrays, with notes saying what was left out. Both happen after scrubbing. A selection on a
  result that is not JSON is not applied, and a note says so.
- Known secret values are scrubbed from everything before it is returned, in every spelling
  (core.scrub): the raw text before it is parsed or shown, then each parsed string, keys too.
  A secret inside structured content becomes the string "[REDACTED]", so the content keeps
  the types the tool's output schema promises.
"""

from __future__ import annotations

import base64
import codecs
import functools
import http
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

import jsonschema
from jmespath.exceptions import JMESPathError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from core.fast_validation import Check, compile_check
from core.scrub import Scrubber, scrubber_for
from tools.projection import (
    SELECT,
    Selection,
    Shortened,
    dumps,
    fits,
    shorten,
    shortening_meta,
    shortening_note,
)

__all__ = [
    "RESPONSE_URI",
    "CallResult",
    "body_preview",
    "call_result",
    "error_result",
    "scrub",
]

RESPONSE_URI = "specgate://response"
ERROR_EXCERPT_CHARS = 2_000
ERROR_MESSAGE_CHARS = 500
SCHEMA_ERROR_CHARS = 300
SHORTENED_META = "specgate/shortened"

_JSON_TYPES = frozenset({"application/json", "text/json", "application/x-json"})
_TEXTUAL_TYPES = frozenset(
    {
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/csv",
        "application/x-ndjson",
        "application/graphql",
        "application/sql",
        "application/x-www-form-urlencoded",
    }
)
_TEXTUAL_SUFFIXES = ("+xml", "+yaml")
# The order says which field best explains an error, e.g. RFC 7807's detail before its title.
_MESSAGE_FIELDS = (
    "message",
    "error_description",
    "detail",
    "error",
    "title",
    "msg",
    "description",
    "errors",
)

Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


class CallResult(NamedTuple):
    """A CallToolResult, and the byte size of the JSON it returns when that is not the
    upstream body's (a selected or shortened result); None when it is the body."""

    result: dict[str, Any]
    returned_bytes: int | None = None
    selected: bool = False


def call_result(
    *,
    status_code: int | None,
    headers: Headers,
    body: bytes,
    truncated: bool,
    output_schema: dict[str, Any] | OutputSchema | None,
    max_text_chars: int = 100_000,
    secrets: Iterable[str] = (),
    selection: Selection | None = None,
    max_json_bytes: int | None = None,
    select_argument: str = SELECT,
) -> CallResult:
    """The CallToolResult for one upstream response, with the byte size of what it returns
    (the request log's responseBytes).

    `truncated` says the body was cut at the outbound size cap: the result is then an error
    (the answer is incomplete) that still shows the part that arrived. `secrets` are credential
    values that must not reach the client even when the upstream echoes them back; a basic-auth
    credential should be passed as "user:password" too, so its base64 form is caught.
    `selection` narrows a JSON result and `max_json_bytes` bounds it (tools.projection);
    `select_argument` is the tool's name for the selection argument, which notes mention.
    """
    shaping = _Shaping(selection, max_json_bytes, len(body), select_argument)
    built = _plain(
        _result_for(
            status_code, headers, body, truncated, output_schema, max_text_chars, secrets, shaping
        )
    )
    if truncated:
        built.result.pop("structuredContent", None)
        built.result["isError"] = True
    elif selection is not None and not built.selected and not built.result.get("isError"):
        note = f"[`{selection.argument}` was not applied: the result is not JSON.]"
        built.result["content"].append({"type": "text", "text": note})
    return built


class _Shaping(NamedTuple):
    selection: Selection | None
    max_json_bytes: int | None
    body_size: int
    argument: str


def _plain(built: CallResult | dict[str, Any]) -> CallResult:
    return built if isinstance(built, CallResult) else CallResult(built)


def _result_for(
    status_code: int | None,
    headers: Headers,
    body: bytes,
    truncated: bool,
    output_schema: dict[str, Any] | OutputSchema | None,
    max_text_chars: int,
    secrets: Iterable[str],
    shaping: _Shaping,
) -> CallResult | dict[str, Any]:
    if status_code is None:
        return error_result("The upstream API sent no response.")
    scrubber = scrubber_for(secrets)
    media_type, charset = _content_type(headers)
    if status_code >= 400:
        return _upstream_error(status_code, media_type, charset, body, truncated, scrubber)
    if not body:
        empty = f"The upstream API responded {_status_line(status_code)} with an empty body."
        return _finish([_text_block(empty, truncated, max_text_chars)], None, output_schema)
    if _is_json(media_type):
        text = _scrubbed_text(body, charset, truncated, scrubber)
        return _json_result(
            text, media_type, truncated, output_schema, max_text_chars, scrubber, shaping
        )
    if _is_textual(media_type, body):
        text = _scrubbed_text(body, charset, truncated, scrubber)
        if (output_schema is not None or shaping.selection) and _looks_like_json(text):
            # A mislabelled JSON body still satisfies a tool that promised structured output,
            # and can be selected from.
            return _json_result(
                text, None, truncated, output_schema, max_text_chars, scrubber, shaping
            )
        return _finish([_text_block(text, truncated, max_text_chars)], None, output_schema)
    body = scrubber.scrub_bytes(body)
    return _binary_result(media_type or "application/octet-stream", body, truncated, output_schema)


def error_result(message: str) -> dict[str, Any]:
    """An isError result for a call that produced no upstream response (timeout, refused...)."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


@overload
def scrub(value: str, secrets: Iterable[str]) -> str: ...
@overload
def scrub(value: bytes, secrets: Iterable[str]) -> bytes: ...
def scrub(value: str | bytes, secrets: Iterable[str]) -> str | bytes:
    """VALUE with the secrets replaced in every spelling (see core.scrub)."""
    scrubber = scrubber_for(secrets)
    if isinstance(value, bytes):
        return scrubber.scrub_bytes(value)
    return scrubber.scrub(value)


def body_preview(body: bytes, secrets: Iterable[str], *, limit: int, truncated: bool) -> str:
    """The first LIMIT bytes of an upstream body as text, scrubbed first and then cut.

    `truncated` says the body was itself cut at the size cap, so it may end mid-secret.
    """
    return scrubber_for(secrets).preview(body, limit, cut_short=truncated)


def _scrubbed_text(body: bytes, charset: str | None, truncated: bool, scrubber: Scrubber) -> str:
    text = scrubber.scrub(_decode(body, charset))
    # A body cut at the size cap may end partway through a secret, which no whole-secret
    # pattern sees.
    return scrubber.trim_partial(text) if truncated else text


# --- Content types -----------------------------------------------------------------------------


def _header(headers: Headers, name: str) -> str | None:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        key_text = key.decode("latin-1") if isinstance(key, bytes) else key
        if key_text.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def _content_type(headers: Headers) -> tuple[str | None, str | None]:
    """The media type (lower-cased, without parameters) and charset of a response."""
    value = _header(headers, "content-type")
    return _parsed_content_type(value) if value else (None, None)


@functools.lru_cache(maxsize=256)
def _parsed_content_type(value: str) -> tuple[str | None, str | None]:
    # An upstream sends the same few values on every call: each is parsed once.
    if not value.split(";", 1)[0].strip():
        return None, None
    media_type, *params = (part.strip() for part in value.split(";"))
    charset = None
    for param in params:
        key, _, param_value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = param_value.strip().strip('"') or None
    return media_type.lower(), charset


def _is_json(media_type: str | None) -> bool:
    return media_type is not None and (media_type in _JSON_TYPES or media_type.endswith("+json"))


def _is_textual(media_type: str | None, body: bytes) -> bool:
    if media_type is None:
        return _looks_like_text(body)
    return (
        media_type.startswith("text/")
        or media_type in _TEXTUAL_TYPES
        or media_type.endswith(_TEXTUAL_SUFFIXES)
    )


def _looks_like_text(body: bytes) -> bool:
    # An undeclared body is shown as text only when it is clean UTF-8.
    if b"\x00" in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _decode(body: bytes, charset: str | None) -> str:
    if charset is None or charset.lower() in ("utf-8", "utf8"):
        # utf-8-sig's rule (a leading byte-order mark, which json.loads would reject, is
        # dropped) without its codec, which runs in Python on every call.
        if body.startswith(codecs.BOM_UTF8):
            body = body[3:]
        return body.decode("utf-8", errors="replace")
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8-sig", errors="replace")


# --- Successful responses ----------------------------------------------------------------------


def _json_result(
    text: str,
    media_type: str | None,
    truncated: bool,
    output_schema: dict[str, Any] | OutputSchema | None,
    max_text_chars: int,
    scrubber: Scrubber,
    shaping: _Shaping,
) -> CallResult | dict[str, Any]:
    if truncated:
        # A cut-off document cannot parse; the truncation note says why there is no structure.
        return _finish([_text_block(text, truncated, max_text_chars)], None, output_schema)
    try:
        value = json.loads(text)
    except ValueError:
        if not media_type:
            return _finish([_text_block(text, truncated, max_text_chars)], None, output_schema)
        note = f"[Error: the upstream declared {media_type} but the body is not valid JSON.]"
        return {"content": [_text_block(text, truncated, max_text_chars, [note])], "isError": True}
    # The text was scrubbed in every spelling already; each parsed string is checked again,
    # so no escape the text scrub does not know can carry a secret into structured content.
    value = scrubber.scrub_json(value)
    notes: list[str] = []
    if shaping.selection is not None:
        try:
            selected = shaping.selection.search(value)
        except (JMESPathError, RecursionError) as exc:
            notes.append(f"[`{shaping.selection.argument}` was not applied: {exc}]")
        else:
            return _selected_result(selected, shaping, max_text_chars)
    structured = value if isinstance(value, dict) else {"result": value}
    limit = shaping.max_json_bytes
    # JSON within the limit is shown whole (never cut mid-string); over it, it is shortened.
    shown = max_text_chars if limit is None else max(max_text_chars, limit)
    result = _finish([_text_block(text, truncated, shown)], structured, output_schema)
    # The body's length is at hand: only a body over the limit costs anything more.
    if limit is None or shaping.body_size <= limit or result["isError"]:
        shortened = None
    else:
        shortened = shorten(value, limit)
    if shortened is None:
        if notes:
            result["content"].extend(_note_blocks(notes))
        return result
    structured = (
        shortened.value if isinstance(shortened.value, dict) else {"result": shortened.value}
    )
    if output_schema is not None and _schema_problem(structured, output_schema) is not None:
        # Cutting broke the spec's schema (minItems...): the advertised schema's other branch.
        structured = {"result": shortened.value}
    return _shortened_result(shortened, structured, shaping, notes, shaping.body_size)


def _selected_result(selected: Any, shaping: _Shaping, max_text_chars: int) -> CallResult:
    """A selected value: `{"result": value}` whatever its shape (see tools.projection)."""
    assert shaping.selection is not None
    limit = shaping.max_json_bytes
    notes = []
    if selected is None:
        notes.append(
            f"[`{shaping.selection.argument}` selected nothing: the expression "
            f"{shaping.selection.expression!r} gives null on this result.]"
        )
    if limit is not None and not fits(selected, limit):
        # Certainly too large: cut it without encoding it whole first (it may repeat shared
        # parts of the result many times over).
        shortened = shorten(selected, limit)
        if shortened is not None:
            built = _shortened_result(shortened, {"result": shortened.value}, shaping, notes, None)
            return CallResult(built.result, built.returned_bytes, selected=True)
    text = dumps(selected)
    size = len(text.encode())
    if limit is not None and size > limit:
        shortened = shorten(selected, limit)
        if shortened is not None:
            built = _shortened_result(shortened, {"result": shortened.value}, shaping, notes, size)
            return CallResult(built.result, built.returned_bytes, selected=True)
    shown = max_text_chars if limit is None else max(max_text_chars, limit)
    content = [_text_block(text, False, shown), *_note_blocks(notes)]
    result = {"content": content, "structuredContent": {"result": selected}, "isError": False}
    return CallResult(result, size, selected=True)


def _note_blocks(notes: Iterable[str]) -> list[dict[str, str]]:
    return [{"type": "text", "text": note} for note in notes]


def _shortened_result(
    shortened: Shortened,
    structured: dict[str, Any],
    shaping: _Shaping,
    notes: list[str],
    size: int | None,
) -> CallResult:
    assert shaping.max_json_bytes is not None
    note = shortening_note(shortened, size, shaping.max_json_bytes, shaping.argument)
    content = [{"type": "text", "text": shortened.text}, *_note_blocks([*notes, note])]
    result = {
        "content": content,
        "structuredContent": structured,
        "isError": False,
        "_meta": {SHORTENED_META: shortening_meta(shortened, size, shaping.max_json_bytes)},
    }
    return CallResult(result, shortened.size)


def _binary_result(
    media_type: str,
    body: bytes,
    truncated: bool,
    output_schema: dict[str, Any] | OutputSchema | None,
) -> dict[str, Any]:
    if truncated:
        # Half an image or archive is useless and may break the client that decodes it.
        return error_result(
            f"The upstream API returned {media_type} content larger than the size limit "
            f"(more than {len(body)} bytes), so it was not forwarded."
        )
    data = base64.b64encode(body).decode("ascii")
    if media_type.startswith("image/"):
        block: dict[str, Any] = {"type": "image", "data": data, "mimeType": media_type}
    elif media_type.startswith("audio/"):
        block = {"type": "audio", "data": data, "mimeType": media_type}
    else:
        resource = {"uri": RESPONSE_URI, "mimeType": media_type, "blob": data}
        block = {"type": "resource", "resource": resource}
    return _finish([block], None, output_schema)


def _text_block(
    text: str, truncated: bool, max_chars: int, notes: Iterable[str] = ()
) -> dict[str, str]:
    notes = list(notes)
    if len(text) > max_chars:
        notes.append(
            f"[Truncated: the response has {len(text)} characters; "
            f"only the first {max_chars} are shown.]"
        )
        text = text[:max_chars]
    if truncated:
        notes.append(
            "[Truncated: the upstream response was larger than the size limit and was cut off.]"
        )
    return {"type": "text", "text": "\n\n".join([text, *notes]) if notes else text}


def _finish(
    content: list[dict[str, Any]],
    structured: dict[str, Any] | None,
    output_schema: dict[str, Any] | OutputSchema | None,
) -> dict[str, Any]:
    """Attach structured content, holding a tool with an output schema to its promise."""
    if output_schema is None:
        result: dict[str, Any] = {"content": content}
        if structured is not None:
            result["structuredContent"] = structured
        result["isError"] = False
        return result
    problem = (
        "the upstream response is not a JSON document"
        if structured is None
        else _schema_problem(structured, output_schema)
    )
    if problem is None:
        return {"content": content, "structuredContent": structured, "isError": False}
    note = f"[Error: the tool declares an output schema, but {problem}.]"
    return {"content": [*content, {"type": "text", "text": note}], "isError": True}


@dataclass(frozen=True, eq=False)
class OutputSchema:
    """A tool's output schema with its validator compiled once (per gateway snapshot)."""

    schema: dict[str, Any]
    validator: Any
    valid: Check | None = None
    """jsonschema-rs's pre-check (core.fast_validation): True only for a certainly valid value."""

    @classmethod
    def compile(cls, schema: dict[str, Any]) -> OutputSchema:
        return cls(schema, _validator(json.dumps(schema, sort_keys=True)), compile_check(schema))


def _schema_problem(
    structured: dict[str, Any], output_schema: dict[str, Any] | OutputSchema
) -> str | None:
    if isinstance(output_schema, OutputSchema):
        if output_schema.valid is not None and output_schema.valid(structured):
            return None
        validator = output_schema.validator
    else:
        validator = _validator(json.dumps(output_schema, sort_keys=True))
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(structured))
    except (jsonschema.exceptions.SchemaError, Unresolvable):
        return "that schema is invalid"
    if error is None:
        return None
    return f"the response does not match it: {error.message[:SCHEMA_ERROR_CHARS]}"


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    # Compiling a validator costs far more than validating; tools reuse their schema.
    schema = json.loads(schema_json)
    return validator_for(schema, default=jsonschema.Draft202012Validator)(schema)


# --- Upstream errors ---------------------------------------------------------------------------


def _status_line(status_code: int) -> str:
    try:
        return f"{status_code} {http.HTTPStatus(status_code).phrase}"
    except ValueError:
        return str(status_code)


def _upstream_error(
    status_code: int,
    media_type: str | None,
    charset: str | None,
    body: bytes,
    truncated: bool,
    scrubber: Scrubber,
) -> dict[str, Any]:
    lines = [f"The upstream API responded with HTTP {_status_line(status_code)}."]
    if body and (_is_json(media_type) or _is_textual(media_type, body)):
        text = _scrubbed_text(body, charset, truncated, scrubber).strip()
        message = (
            _json_message(text, scrubber)
            if _is_json(media_type) or _looks_like_json(text)
            else None
        )
        if message:
            lines.append(f"Message: {message}")
        excerpt = text[:ERROR_EXCERPT_CHARS]
        cut = truncated or len(text) > ERROR_EXCERPT_CHARS
        lines.append(f"Body: {excerpt}{' [...]' if cut else ''}")
    elif body:
        lines.append(f"Body: {len(body)} bytes of {media_type or 'binary data'}.")
    return error_result("\n".join(lines))


def _json_message(text: str, scrubber: Scrubber) -> str | None:
    try:
        value = scrubber.scrub_json(json.loads(text))
    except ValueError:
        return None
    message = _find_message(value, depth=0)
    return message[:ERROR_MESSAGE_CHARS] if message else None


def _find_message(value: Any, depth: int) -> str | None:
    """The most telling human-readable field of an error document, e.g. error.message."""
    if depth > 3:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        return _find_message(value[0], depth + 1) if value else None
    if isinstance(value, dict):
        for field in _MESSAGE_FIELDS:
            if field in value:
                found = _find_message(value[field], depth + 1)
                if found:
                    return found
    return None
