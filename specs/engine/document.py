"""Document-level facts: format, servers, security schemes and requirements."""

from __future__ import annotations

import re
from typing import Any

from .errors import SpecError
from .refs import RefError, follow, join_pointer

SWAGGER_2 = "swagger-2.0"
OPENAPI_30 = "openapi-3.0"
OPENAPI_31 = "openapi-3.1"

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?$")
_SERVER_VARIABLE = re.compile(r"\{([^{}]+)\}")
_OAUTH2_FLOWS_V2 = {
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}


def detect_format(document: dict[str, Any], warn: Any) -> str:
    """``openapi-3.1`` | ``openapi-3.0`` | ``swagger-2.0``, or SpecError when it is neither."""
    if "openapi" in document:
        return _openapi_format(document["openapi"], warn)
    if "swagger" in document:
        declared = document["swagger"]
        if declared == "2.0":
            return SWAGGER_2
        if isinstance(declared, (int, float, str)) and str(declared) in ("2", "2.0", "2.0.0"):
            warn("/swagger", f'The swagger version should be the string "2.0", not {declared!r}.')
            return SWAGGER_2
        raise SpecError(
            f"Unsupported Swagger version {declared!r}.",
            [{"pointer": "/swagger", "message": 'Only Swagger "2.0" is supported.'}],
        )
    raise SpecError(
        "Not an OpenAPI document: it has neither an `openapi` nor a `swagger` field.",
        [{"pointer": "", "message": "Missing the `openapi` (3.x) or `swagger` (2.0) field."}],
    )


def _openapi_format(declared: Any, warn: Any) -> str:
    text = declared if isinstance(declared, str) else None
    if isinstance(declared, (int, float)) and not isinstance(declared, bool):
        text = str(declared)
        warn("/openapi", f"The openapi version should be a string, not the number {declared!r}.")
    match = _VERSION.match(text.strip()) if text else None
    if match and match.group(1) == "3":
        minor = int(match.group(2))
        if minor == 0:
            return OPENAPI_30
        if minor == 1:
            return OPENAPI_31
        if minor > 1:
            warn("/openapi", f"OpenAPI {text} is read as OpenAPI 3.1.")
            return OPENAPI_31
    raise SpecError(
        f"Unsupported OpenAPI version {declared!r}.",
        [
            {
                "pointer": "/openapi",
                "message": f"Expected a 3.0.x or 3.1.x version string, got {declared!r}.",
            }
        ],
    )


def text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def server_urls(servers: Any, pointer: str, warn: Any) -> list[str]:
    """Server URLs with their variables replaced by the defaults."""
    if servers is None:
        return []
    if not isinstance(servers, list):
        warn(pointer, "servers must be a list.")
        return []
    urls: list[str] = []
    for index, server in enumerate(servers):
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            warn(join_pointer(pointer, index), "A server needs a url.")
            continue
        raw_variables = server.get("variables")
        variables = raw_variables if isinstance(raw_variables, dict) else {}
        urls.append(_fill_variables(server["url"], variables, join_pointer(pointer, index), warn))
    return list(dict.fromkeys(urls))


def _fill_variables(url: str, variables: dict[str, Any], pointer: str, warn: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        if isinstance(variable, dict):
            if "default" in variable:
                return text(variable["default"])
            enum = variable.get("enum")
            if isinstance(enum, list) and enum:
                return text(enum[0])
        warn(pointer, f"Server variable {match.group(1)!r} has no default; it is left as is.")
        return match.group(0)

    return _SERVER_VARIABLE.sub(replace, url)


def swagger_server_urls(document: dict[str, Any]) -> list[str]:
    host = document.get("host")
    base_path = text(document.get("basePath")).strip()
    if base_path and not base_path.startswith("/"):
        base_path = "/" + base_path
    if not isinstance(host, str) or not host.strip():
        return [base_path] if base_path else []
    declared = document.get("schemes")
    declared = declared if isinstance(declared, list) else []
    schemes = [s for s in declared if s in ("https", "http", "wss", "ws")]
    schemes.sort(key=lambda scheme: scheme not in ("https", "wss"))
    return [f"{scheme}://{host.strip().rstrip('/')}{base_path}" for scheme in schemes or ["https"]]


def security_schemes(document: dict[str, Any], fmt: str, warn: Any) -> dict[str, dict[str, Any]]:
    if fmt == SWAGGER_2:
        raw, pointer = document.get("securityDefinitions"), "/securityDefinitions"
    else:
        components = document.get("components")
        raw = components.get("securitySchemes") if isinstance(components, dict) else None
        pointer = "/components/securitySchemes"
    if not isinstance(raw, dict):
        return {}
    schemes: dict[str, dict[str, Any]] = {}
    for name, scheme in raw.items():
        scheme_pointer = join_pointer(pointer, name)
        try:
            scheme, _ = follow(document, scheme, scheme_pointer)
        except RefError as exc:
            warn(scheme_pointer, str(exc))
            continue
        normalised = _security_scheme(scheme, fmt == SWAGGER_2)
        if normalised is None:
            warn(scheme_pointer, "Unsupported or incomplete security scheme is ignored.")
        else:
            schemes[name] = normalised
    return schemes


def _security_scheme(scheme: Any, swagger: bool) -> dict[str, Any] | None:
    if not isinstance(scheme, dict):
        return None
    kind = scheme.get("type")
    result: dict[str, Any]
    if kind == "apiKey":
        if scheme.get("in") not in ("header", "query", "cookie") or not scheme.get("name"):
            return None
        result = {"type": "apiKey", "in": scheme["in"], "name": text(scheme["name"])}
    elif kind == "basic" and swagger:
        result = {"type": "http", "scheme": "basic"}
    elif kind == "http":
        result = {"type": "http", "scheme": text(scheme.get("scheme")).lower() or "bearer"}
        if scheme.get("bearerFormat"):
            result["bearerFormat"] = text(scheme["bearerFormat"])
    elif kind == "oauth2":
        result = {"type": "oauth2", "flows": _oauth2_flows(scheme, swagger)}
    elif kind == "openIdConnect":
        result = {"type": "openIdConnect", "openIdConnectUrl": text(scheme.get("openIdConnectUrl"))}
    elif kind == "mutualTLS":
        result = {"type": "mutualTLS"}
    else:
        return None
    if scheme.get("description"):
        result["description"] = text(scheme["description"])
    return result


def _oauth2_flows(scheme: dict[str, Any], swagger: bool) -> dict[str, Any]:
    if swagger:
        flow = _OAUTH2_FLOWS_V2.get(text(scheme.get("flow")))
        raw: dict[str, Any] = {flow: scheme} if flow else {}
    else:
        declared = scheme.get("flows")
        raw = declared if isinstance(declared, dict) else {}
    flows: dict[str, Any] = {}
    for name, flow_object in raw.items():
        if not isinstance(flow_object, dict):
            continue
        fields: dict[str, Any] = {
            key: text(flow_object[key])
            for key in ("authorizationUrl", "tokenUrl", "refreshUrl")
            if flow_object.get(key)
        }
        scopes = flow_object.get("scopes")
        fields["scopes"] = (
            {text(k): text(v) for k, v in scopes.items()} if isinstance(scopes, dict) else {}
        )
        flows[name] = fields
    return flows


def security_requirements(value: Any, pointer: str, warn: Any) -> list[dict[str, list[str]]]:
    if not isinstance(value, list):
        warn(pointer, "security must be a list of requirement objects.")
        return []
    requirements: list[dict[str, list[str]]] = []
    for index, requirement in enumerate(value):
        if not isinstance(requirement, dict):
            warn(join_pointer(pointer, index), "A security requirement must be an object.")
            continue
        requirements.append(
            {
                text(name): [text(scope) for scope in scopes] if isinstance(scopes, list) else []
                for name, scopes in requirement.items()
            }
        )
    return requirements
