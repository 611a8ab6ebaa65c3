"""Serialise tool arguments into an HTTP request, following a tool's argument mapping."""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from .errors import ArgumentError
from .xml import scalar_text
from .xml import serialise as serialise_xml

_PATH_VARIABLE = re.compile(r"\{([^{}/]+)\}")
_DELIMITERS = {"spaceDelimited": " ", "pipeDelimited": "|", "tabDelimited": "\t"}
# Reserved characters a parameter with allowReserved may send as they are; '&', '=' and '#'
# stay encoded because sending them raw would change the meaning of the query string.
_RESERVED_SAFE = ":/?[]@!$'()*+,;"
_FORBIDDEN_IN_HEADERS = re.compile(r"[\r\n\x00]")
# What an HTTP header value can carry: visible ASCII, spaces and tabs (RFC 9110 field-vchar
# without obs-text, which clients refuse to encode). Leading and trailing blanks are not part
# of a value (RFC 9110 5.5), so they are trimmed before this check.
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
# RFC 9110 token: what a header or cookie name may be.
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 6265 cookie-octet, except "%", which is only sent as is in a value that needs no encoding.
_COOKIE_OCTETS = "!#$&'()*+-./:<=>?@[]^_`{|}~"
_COOKIE_VALUE = re.compile(r"[!#$%&'()*+\-./0-9:<=>?@A-Z\[\]^_`a-z{|}~]*")


@dataclass
class RequestPlan:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    cookies: list[tuple[str, str]]
    body: bytes | None
    content_type: str | None
    query_string: str = ""
    """The query exactly as it must be sent (already percent-encoded, without ``?``)."""
    _unused: list[str] = field(default_factory=list, repr=False)

    def url(self, base_url: str) -> str:
        url = base_url.rstrip("/") + self.path
        return f"{url}?{self.query_string}" if self.query_string else url


def build_request(
    op_mapping: dict[str, Any],
    method: str,
    path_template: str,
    arguments: dict[str, Any],
    *,
    boundary: str | None = None,
) -> RequestPlan:
    """Serialise ``arguments`` (already validated against the input schema) per the mapping."""
    try:
        return _build_request(op_mapping, method, path_template, arguments, boundary=boundary)
    except UnicodeEncodeError:
        # JSON lets a client send a lone surrogate ("\ud800"); no encoding can carry it on.
        raise ArgumentError(
            "Arguments must be valid Unicode (an unpaired surrogate was found)."
        ) from None


def _build_request(
    op_mapping: dict[str, Any],
    method: str,
    path_template: str,
    arguments: dict[str, Any],
    *,
    boundary: str | None,
) -> RequestPlan:
    path_values: dict[str, str] = {}
    query: list[tuple[str, str, str]] = []
    headers: list[tuple[str, str]] = []
    cookies: list[tuple[str, str]] = []
    body_fields: list[tuple[dict[str, Any], Any]] = []
    whole_body: list[Any] = []
    targets = op_mapping.get("arguments", {})
    body_mapping = op_mapping.get("body")
    for argument in op_mapping.get("order") or list(targets):
        if argument not in arguments:
            continue
        target = targets[argument]
        value = arguments[argument]
        location = target["in"]
        if _absent(target, value, body_mapping):
            continue
        if location == "path":
            path_values[target["name"]] = _path_value(target, value)
        elif location == "query":
            query.extend(_query_pairs(target, value))
        elif location == "header":
            headers.append((target["name"], _header_value(argument, target, value)))
        elif location == "cookie":
            cookies.extend(_cookie_pairs(argument, target, value))
        elif location == "body":
            whole_body.append(value)
        else:
            body_fields.append((target, value))
    body, content_type = _body(body_mapping, body_fields, whole_body, boundary)
    path, template_query = _fill_path(path_template, path_values)
    encoded_query = [encoded for _, _, encoded in query]
    return RequestPlan(
        method=method.upper(),
        path=path,
        query=[*template_query, *((name, raw) for name, raw, _ in query)],
        headers=headers,
        cookies=cookies,
        body=body,
        content_type=content_type,
        query_string="&".join([*_encoded_pairs(template_query), *encoded_query]),
    )


def _absent(target: dict[str, Any], value: Any, body: dict[str, Any] | None) -> bool:
    """Whether a value means "not given": it is then left out of the request.

    ``None`` is left out, except in a JSON body, where null is a value and is sent. An empty
    array or object is undefined in RFC 6570 (which OpenAPI's styles follow) and cannot be a
    form field or a multipart part, so it is left out too; a JSON body sends it. An empty
    query string is left out unless the parameter allows empty values.
    """
    location = target["in"]
    json_body = body is not None and body.get("encoding") == "json"
    if value is None:
        return not (location in ("bodyField", "body") and json_body)
    if value in ([], {}) and location not in ("body", "bodyField"):
        return True
    structured = json_body or (body is not None and body.get("encoding") == "xml")
    if value in ([], {}) and location == "bodyField" and not structured:
        return True
    return value == "" and location == "query" and not target.get("allowEmptyValue")


# -- values ---------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _items(value: Any) -> list[tuple[str, str]] | list[str] | str:
    """A value as a list of key/value pairs (object), a list of strings (array) or a string."""
    if isinstance(value, dict):
        return [(str(key), scalar_text(item)) for key, item in value.items() if item is not None]
    if isinstance(value, list):
        return [scalar_text(item) for item in value]
    return scalar_text(value)


def _pct(text: str, safe: str = "") -> str:
    return quote(text, safe=safe)


# -- path -----------------------------------------------------------------------------------


def _path_value(target: dict[str, Any], value: Any) -> str:
    name = target["name"]
    if "contentType" in target:
        value = _json(value)
    items = _items(value)
    style = target.get("style", "simple")
    explode = target.get("explode", False)
    if isinstance(items, str):
        if items == "":
            raise ArgumentError(f"Path parameter {name!r} must not be empty.")
        encoded = _pct(items)
        if style == "label":
            return f".{encoded}"
        if style == "matrix":
            return f";{_pct(name)}={encoded}"
        return encoded
    if isinstance(items, list) and items and isinstance(items[0], tuple):
        pairs = [(_pct(k), _pct(v)) for k, v in items]
        if explode:
            sep = {"label": ".", "matrix": ";"}.get(style, ",")
            joined = sep.join(f"{k}={v}" for k, v in pairs)
            return {"label": f".{joined}", "matrix": f";{joined}"}.get(style, joined)
        flat = ",".join(f"{k},{v}" for k, v in pairs)
        return {"label": f".{flat}", "matrix": f";{_pct(name)}={flat}"}.get(style, flat)
    values = [_pct(item) for item in items]  # type: ignore[arg-type]
    if not values:
        raise ArgumentError(f"Path parameter {name!r} must not be empty.")
    if style in _DELIMITERS:
        return _pct(_DELIMITERS[style]).join(values)
    if style == "label":
        return "." + ("." if explode else ",").join(values)
    if style == "matrix":
        if explode:
            return "".join(f";{_pct(name)}={item}" for item in values)
        return f";{_pct(name)}=" + ",".join(values)
    return ",".join(values)


def _fill_path(template: str, values: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    """The path to send and the query pairs written into the template itself.

    OpenAPI appends the path to the server URL, so in ``/#X-Amz-Target=Service.Action`` what
    follows ``#`` is a fragment (never sent) and in ``/search?type=all`` what follows ``?`` is
    query; neither is percent-encoded into the path.
    """
    literals, names, pairs = _parsed_template(template)
    pieces = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        if name not in values:
            raise ArgumentError(f"Missing value for path parameter {name!r}.")
        pieces += (values[name], literal)
    path = "".join(pieces)
    if "." in path and any(segment in (".", "..") for segment in path.split("/")):
        # quote() leaves dots alone; a value of "." or ".." would climb out of the route.
        raise ArgumentError("A path parameter must not be '.' or '..'.")
    path = path if path.startswith("/") else "/" + path
    return path, list(pairs)


@functools.lru_cache(maxsize=4096)
def _parsed_template(
    template: str,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A path template split once, not on every call: its literal pieces, percent-encoded
    (one more than its variables), the variables' names, and its literal query pairs."""
    template, _, _ = template.partition("#")
    template, has_query, literal_query = template.partition("?")
    literals: list[str] = []
    names: list[str] = []
    position = 0
    for match in _PATH_VARIABLE.finditer(template):
        literals.append(_pct(template[position : match.start()], safe="/:@!$&'()*+,;=~%"))
        names.append(match.group(1))
        position = match.end()
    literals.append(_pct(template[position:], safe="/:@!$&'()*+,;=~%"))
    pairs = parse_qsl(literal_query, keep_blank_values=True) if has_query else []
    return tuple(literals), tuple(names), tuple(pairs)


def _encoded_pairs(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{_pct(name)}={_pct(value)}" if value else _pct(name) for name, value in pairs]


# -- query ----------------------------------------------------------------------------------


def _query_pairs(target: dict[str, Any], value: Any) -> list[tuple[str, str, str]]:
    """(name, raw value, encoded ``name=value``) triples for one query parameter."""
    name = target["name"]
    safe = _RESERVED_SAFE if target.get("allowReserved") else ""

    def pair(key: str, raw: str, encoded_value: str | None = None) -> tuple[str, str, str]:
        encoded = encoded_value if encoded_value is not None else _pct(raw, safe)
        return key, raw, f"{_pct(key)}={encoded}"

    if "contentType" in target:
        return [pair(name, _json(value))]
    items = _items(value)
    style = target.get("style", "form")
    explode = target.get("explode", style == "form")
    if isinstance(items, str):
        return [pair(name, items)]
    if style == "deepObject" and isinstance(value, dict):
        return [pair(f"{name}[{key}]", raw) for key, raw in _deep_pairs(value)]
    if isinstance(items, list) and items and isinstance(items[0], tuple):
        if explode and style == "form":
            return [pair(k, v) for k, v in items]
        flat = [part for kv in items for part in kv]
    else:
        if explode:
            return [pair(name, str(item)) for item in items]
        flat = list(items)  # type: ignore[arg-type]
    delimiter = _DELIMITERS.get(style, ",")
    raw = delimiter.join(flat)
    encoded = _pct(delimiter, safe=",").join(_pct(part, safe) for part in flat)
    return [pair(name, raw, encoded)]


def _deep_pairs(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            if item is not None:
                inner = f"{prefix}][{key}" if prefix else str(key)
                pairs.extend(_deep_pairs(item, inner))
        return pairs
    return [
        (
            prefix,
            scalar_text(value)
            if not isinstance(value, list)
            else ",".join(map(scalar_text, value)),
        )
    ]


# -- headers and cookies --------------------------------------------------------------------


def _header_value(argument: str, target: dict[str, Any], value: Any) -> str:
    name = target["name"]
    if not TOKEN.fullmatch(name):
        raise ArgumentError(f"Header name {name!r} (argument {argument!r}) cannot be sent.")
    if "contentType" in target:
        # JSON escapes keep any text sendable: "\u00e9" means the same as "é".
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    else:
        items = _items(value)
        if isinstance(items, str):
            text = items
        elif items and isinstance(items[0], tuple):
            sep = "=" if target.get("explode") else ","
            text = ",".join(f"{k}{sep}{v}" for k, v in items)
        else:
            text = ",".join(items)  # type: ignore[arg-type]
    text = text.strip(" \t")
    if not HEADER_VALUE.fullmatch(text):
        bad = next(char for char in text if not HEADER_VALUE.fullmatch(char))
        raise ArgumentError(
            f"Argument {argument!r} is sent in the {name!r} header, which can only carry "
            f"printable ASCII characters, spaces and tabs; {bad!r} cannot be sent."
        )
    return text


def _cookie_pairs(argument: str, target: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """Cookie name/value pairs; values outside RFC 6265's cookie-octets are percent-encoded.

    A value (or, for an array or object, each item) made only of cookie-octets is sent as it
    is; any other is sent as UTF-8 percent-encoding, "%" included, which the frameworks that
    decode cookie values turn back into the original text. Names must be RFC 9110 tokens.
    """
    name = target["name"]
    items = _items(_json(value) if "contentType" in target else value)
    if isinstance(items, str):
        pairs = [(name, _cookie_text(items))]
    elif items and isinstance(items[0], tuple):
        encoded = [(k, _cookie_text(v)) for k, v in items]
        if target.get("explode"):
            pairs = encoded
        else:
            pairs = [(name, ",".join(part for k, v in encoded for part in (_cookie_text(k), v)))]
    elif target.get("explode"):
        pairs = [(name, _cookie_text(item)) for item in items]  # type: ignore[arg-type]
    else:
        pairs = [(name, ",".join(_cookie_text(item) for item in items))]  # type: ignore[arg-type]
    for cookie_name, _ in pairs:
        if not TOKEN.fullmatch(cookie_name):
            raise ArgumentError(
                f"Argument {argument!r}: {cookie_name!r} cannot be a cookie name (only "
                "letters, digits and !#$%&'*+-.^_`|~ can)."
            )
    return pairs


def _cookie_text(text: str) -> str:
    if _COOKIE_VALUE.fullmatch(text):
        return text
    return quote(text, safe=_COOKIE_OCTETS)


# -- bodies ---------------------------------------------------------------------------------


def _body(
    body: dict[str, Any] | None,
    fields: list[tuple[dict[str, Any], Any]],
    whole: list[Any],
    boundary: str | None,
) -> tuple[bytes | None, str | None]:
    if body is None or (not fields and not whole and not body.get("required")):
        return None, None
    if whole and body["encoding"] in ("form", "multipart") and isinstance(whole[0], dict):
        # A whole form body: its empty members are left out like empty field arguments.
        whole = [{k: v for k, v in whole[0].items() if v is not None and v not in ([], {})}]
    media_type = body["mediaType"]
    encoding = body["encoding"]
    if encoding == "json":
        content_type = "application/json" if media_type.strip() == "*/*" else media_type
        value: Any = whole[0] if whole else {t["name"]: v for t, v in fields}
        return _json(value).encode("utf-8"), content_type
    if encoding == "xml":
        value = whole[0] if whole else {t["name"]: v for t, v in fields}
        return serialise_xml(body["xml"], value), media_type
    if encoding == "raw":
        value = whole[0] if whole else {t["name"]: v for t, v in fields}
        data = value if isinstance(value, str) else _json(value)
        return data.encode("utf-8"), media_type
    if whole and isinstance(whole[0], dict):
        style_for = "formField" if encoding == "form" else "part"
        fields = [({"in": style_for, "name": k}, v) for k, v in whole[0].items()] + fields
    if encoding == "form":
        pairs = [pair for target, value in fields for pair in _form_pairs(target, value)]
        return urlencode(pairs).encode("ascii"), media_type
    boundary = boundary or f"specgate-{secrets.token_hex(16)}"
    return _multipart(fields, boundary), f"multipart/form-data; boundary={boundary}"


def _form_pairs(target: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    style = target.get("style", "form")
    if style == "deepObject" and isinstance(value, dict):
        return [(f"{target['name']}[{k}]", v) for k, v in _deep_pairs(value)]
    return [(name, raw) for name, raw, _ in _query_pairs({**target, "style": style}, value)]


def _multipart(fields: list[tuple[dict[str, Any], Any]], boundary: str) -> bytes:
    chunks: list[bytes] = []
    for target, value in fields:
        values = value if isinstance(value, list) else [value]
        for item in values:
            chunks.append(_part(target, item, boundary))
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)


def _part(target: dict[str, Any], value: Any, boundary: str) -> bytes:
    name = target["name"]
    if _FORBIDDEN_IN_HEADERS.search(name):
        raise ArgumentError(f"Part name {name!r} must not contain CR, LF or NUL.")
    disposition = f'form-data; name="{_quote_name(name)}"'
    content_type = target.get("contentType")
    if target.get("binary"):
        disposition += f'; filename="{_quote_name(name)}"'
        content_type = content_type or "application/octet-stream"
    if isinstance(value, (dict, list)):
        data = _json(value).encode("utf-8")
        content_type = content_type or "application/json"
    else:
        data = scalar_text(value).encode("utf-8")
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode("utf-8") + b"\r\n" + data + b"\r\n"


def _quote_name(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', "%22")
