"""Nothing outside a document is ever fetched or opened while it is validated or converted.

Each reference points at a real loopback HTTP server, a real TCP listener (for https, ftp and
scheme-relative forms) or a real temporary file holding a secret; the tests assert that the
server saw no request, the listener no connection, and that the secret appears nowhere in
what the engine returns.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from referencing.exceptions import Unresolvable

from core.testing import LoopbackServer, RecordedRequest, json_reply
from specs.engine import convert, validate_document
from specs.engine.validation import offline_schema_path

HTTP_SECRET = "HTTP-SECRET-7f3a"
FILE_SECRET = "FILE-SECRET-91bc"


class ConnectionCounter:
    """A TCP listener that counts connections and closes each at once (https, ftp, ...)."""

    def __init__(self) -> None:
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@dataclasses.dataclass
class Targets:
    http: LoopbackServer
    tcp: ConnectionCounter
    file: Path

    def refs(self) -> dict[str, str]:
        http = f"127.0.0.1:{self.http.port}"
        tcp = f"127.0.0.1:{self.tcp.port}"
        return {
            "http": f"http://{http}/x.json#/a",
            "http-upper": f"HTTP://{http}/x.json#/a",
            "https": f"https://{tcp}/x.json#/a",
            "file": f"file://{self.file}#/info/title",
            "ftp": f"ftp://{tcp}/x.json#/a",
            "relative": "other.yaml#/x",
            "parent-relative": "../../../../../../etc/passwd",
            "absolute-path": f"{self.file}#/info/title",
            "scheme-relative": f"//{tcp}/x.json",
            "url-encoded-http": quote(f"http://{http}/x.json", safe="") + "#/a",
            "url-encoded-file": f"%66ile://{self.file}#/info/title",
            "encoded-slashes": f"file:%2F%2F{quote(str(self.file), safe='')}",
            "leading-space": f" http://{http}/x.json#/a",
        }

    def assert_untouched(self, *outputs: Any) -> None:
        assert self.http.requests == []
        assert self.tcp.connections == 0
        text = json.dumps(outputs, default=_plain)
        assert HTTP_SECRET not in text
        assert FILE_SECRET not in text


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _answer_with_secret(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return json_reply({"a": {"type": "string", "default": HTTP_SECRET}, "info": {"title": "x"}})


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    # One set for the whole module: the server and the listener must see nothing at all.
    secret_file = tmp_path_factory.mktemp("refs") / "secret.json"
    secret_file.write_text(json.dumps({"info": {"title": FILE_SECRET}, "x": FILE_SECRET}))
    counter = ConnectionCounter()
    with LoopbackServer(_answer_with_secret) as http:
        yield Targets(http=http, tcp=counter, file=secret_file)
    counter.close()


def openapi(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": paths, **extra}


def ok() -> dict[str, Any]:
    return {"200": {"description": "ok"}}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


# Each place builds a document with the external reference there; the pointer is where the
# warning must point.
PLACES: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "allOf": (
        lambda ref: openapi(
            {
                "/a": {
                    "post": {
                        "requestBody": json_body({"allOf": [{"$ref": ref}]}),
                        "responses": ok(),
                    }
                }
            }
        ),
        "/paths/~1a/post/requestBody/content/application~1json/schema/allOf/0",
    ),
    "parameter": (
        lambda ref: openapi({"/a": {"get": {"parameters": [{"$ref": ref}], "responses": ok()}}}),
        "/paths/~1a/get/parameters/0",
    ),
    "parameter-schema": (
        lambda ref: openapi(
            {
                "/a": {
                    "get": {
                        "parameters": [{"name": "q", "in": "query", "schema": {"$ref": ref}}],
                        "responses": ok(),
                    }
                }
            }
        ),
        "/paths/~1a/get/parameters/0/schema",
    ),
    "path-item-parameter": (
        lambda ref: openapi({"/a": {"parameters": [{"$ref": ref}], "get": {"responses": ok()}}}),
        "/paths/~1a/parameters/0",
    ),
    "response": (
        lambda ref: openapi({"/a": {"get": {"responses": {"200": {"$ref": ref}}}}}),
        "/paths/~1a/get/responses/200",
    ),
    "response-schema": (
        lambda ref: openapi(
            {
                "/a": {
                    "get": {"responses": {"200": {"description": "ok", **json_body({"$ref": ref})}}}
                }
            }
        ),
        "/paths/~1a/get/responses/200/content/application~1json/schema",
    ),
    "response-header": (
        lambda ref: openapi(
            {
                "/a": {
                    "get": {
                        "responses": {"200": {"description": "ok", "headers": {"X": {"$ref": ref}}}}
                    }
                }
            }
        ),
        "/paths/~1a/get/responses/200/headers/X",
    ),
    "request-body": (
        lambda ref: openapi({"/a": {"post": {"requestBody": {"$ref": ref}, "responses": ok()}}}),
        "/paths/~1a/post/requestBody",
    ),
    "path-item": (
        lambda ref: openapi({"/a": {"$ref": ref}, "/b": {"get": {"responses": ok()}}}),
        "/paths/~1a",
    ),
    "component-schema": (
        lambda ref: openapi(
            {
                "/a": {
                    "get": {
                        "responses": {
                            "200": {
                                "description": "ok",
                                **json_body({"$ref": "#/components/schemas/S"}),
                            }
                        }
                    }
                }
            },
            components={"schemas": {"S": {"$ref": ref}}},
        ),
        "/components/schemas/S",
    ),
    "component-parameter": (
        lambda ref: openapi(
            {"/a": {"get": {"responses": ok()}}},
            components={"parameters": {"P": {"$ref": ref}}},
        ),
        "/components/parameters/P",
    ),
    "component-response": (
        lambda ref: openapi(
            {"/a": {"get": {"responses": {"200": {"$ref": "#/components/responses/R"}}}}},
            components={"responses": {"R": {"$ref": ref}}},
        ),
        "/components/responses/R",
    ),
    "component-request-body": (
        lambda ref: openapi(
            {
                "/a": {
                    "post": {
                        "requestBody": {"$ref": "#/components/requestBodies/B"},
                        "responses": ok(),
                    }
                }
            },
            components={"requestBodies": {"B": {"$ref": ref}}},
        ),
        "/components/requestBodies/B",
    ),
    "component-security-scheme": (
        lambda ref: openapi(
            {"/a": {"get": {"responses": ok()}}},
            components={"securitySchemes": {"K": {"$ref": ref}}},
        ),
        "/components/securitySchemes/K",
    ),
    "schema-default-value": (
        lambda ref: openapi(
            {
                "/a": {
                    "get": {
                        "parameters": [
                            {
                                "name": "q",
                                "in": "query",
                                "schema": {"type": "object", "default": {"$ref": ref}},
                            }
                        ],
                        "responses": ok(),
                    }
                }
            }
        ),
        "/paths/~1a/get/parameters/0/schema/default",
    ),
}

REF_KINDS = [
    "http",
    "http-upper",
    "https",
    "file",
    "ftp",
    "relative",
    "parent-relative",
    "absolute-path",
    "scheme-relative",
    "url-encoded-http",
    "url-encoded-file",
    "encoded-slashes",
    "leading-space",
]


@pytest.mark.parametrize("kind", REF_KINDS)
@pytest.mark.parametrize("place", list(PLACES))
def test_an_external_reference_is_never_fetched_or_opened(targets, kind, place):
    ref = targets.refs()[kind]
    build, pointer = PLACES[place]

    result = convert(build(ref))

    targets.assert_untouched(result)
    assert result.validation == "full"
    [warning] = [w for w in result.warnings if ref in w["message"]]
    assert warning["pointer"] == pointer
    assert warning["message"].startswith(f"External reference {ref!r} is not followed")
    assert ref not in json.dumps(result.normalized)


def test_validating_alone_reports_and_never_follows_external_references(targets):
    ref = targets.refs()["http"]
    document = openapi({"/a": {"get": {"parameters": [{"$ref": ref}], "responses": ok()}}})

    problems = validate_document(document, "openapi-3.0")

    targets.assert_untouched(problems)
    assert problems == [
        {
            "pointer": "/paths/~1a/get/parameters/0",
            "message": f"External reference {ref!r} is not followed: only references inside the "
            "document (#/…) are used. The parameter is left out.",
        }
    ]


@pytest.mark.parametrize("kind", ["http", "https", "file", "relative", "scheme-relative"])
def test_the_validators_resolver_refuses_to_retrieve_even_if_a_reference_got_through(targets, kind):
    """Defence in depth: the resolver handed to the validator can never retrieve anything."""
    ref = targets.refs()[kind]
    path = offline_schema_path({"components": {"schemas": {"S": {"$ref": ref}}}})

    with pytest.raises(Unresolvable):
        (path / "components" / "schemas" / "S").read_value()

    targets.assert_untouched()


def test_a_31_dynamic_reference_is_taken_out_too(targets):
    ref = targets.refs()["http"]
    document = {
        "openapi": "3.1.0",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/a": {"post": {"requestBody": json_body({"$dynamicRef": ref}), "responses": ok()}}
        },
    }

    result = convert(document)

    targets.assert_untouched(result)
    assert any(ref in w["message"] for w in result.warnings)


def test_in_document_references_keep_working_beside_external_ones(targets):
    document = openapi(
        {
            "/a": {
                "post": {
                    "parameters": [
                        {"$ref": "#/components/parameters/Limit"},
                        {"$ref": targets.refs()["http"]},
                    ],
                    "requestBody": json_body(
                        {
                            "allOf": [
                                {"$ref": "#/components/schemas/Pet"},
                                {"$ref": targets.refs()["file"]},
                            ]
                        }
                    ),
                    "responses": {"200": {"$ref": "#/components/responses/Ok"}},
                }
            }
        },
        components={
            "schemas": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "parameters": {
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}
            },
            "responses": {
                "Ok": {"description": "ok", **json_body({"$ref": "#/components/schemas/Pet"})}
            },
        },
    )

    result = convert(document)

    targets.assert_untouched(result)
    [operation] = result.operations
    # The in-document parameter and the body's in-document allOf member are both used.
    assert operation.input_schema["properties"] == {
        "limit": {"type": "integer"},
        "name": {"type": "string"},
    }
    assert operation.output_schema is not None
    assert [w["pointer"] for w in result.warnings] == [
        "/paths/~1a/post/parameters/1",
        "/paths/~1a/post/requestBody/content/application~1json/schema/allOf/1",
    ]


def test_a_swagger_2_document_is_covered_too(targets):
    ref = targets.refs()["file"]
    document = {
        "swagger": "2.0",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "parameters": [{"$ref": ref}],
                    "responses": {
                        "200": {"description": "ok", "schema": {"$ref": targets.refs()["http"]}}
                    },
                }
            }
        },
        "parameters": {"P": {"$ref": targets.refs()["ftp"]}},
        "definitions": {"D": {"$ref": targets.refs()["relative"]}},
    }

    result = convert(document)

    targets.assert_untouched(result)
    assert {w["pointer"] for w in result.warnings if "External reference" in w["message"]} == {
        "/paths/~1a/get/parameters/0",
        "/paths/~1a/get/responses/200/schema",
        "/parameters/P",
        "/definitions/D",
    }
