"""A Client ID Metadata Document host over HTTPS on 127.0.0.1 with a throwaway `trustme` CA
that only the tests trust, and its fixtures (the authz tests' conftest imports them)."""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

from core import outbound

Respond = Callable[[BaseHTTPRequestHandler, str], None]


def send(
    handler: BaseHTTPRequestHandler,
    body: bytes,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class MetadataHost:
    """An HTTPS server on 127.0.0.1 that counts the connections it accepts and the requests it
    reads; `respond(handler, url)` writes each answer, `url` being the URL asked for."""

    def __init__(self, cert: trustme.LeafCert, respond: Respond) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = f"{host.base}{self.path}"
                host.requests.append({"path": self.path, "headers": dict(self.headers)})
                respond(self, url)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Any:
                accepted = super().get_request()
                host.connections += 1
                return accepted

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client refusing our certificate is a case under test, not noise

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.httpd = Server(("127.0.0.1", 0), Handler)
        # The handshake happens in the handler's thread, so a stuck client cannot stall accept.
        self.httpd.socket = context.wrap_socket(
            self.httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self.httpd.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def document_url(self) -> str:
        # A fresh path per test: the cache is shared (Redis in CI) and keyed by the URL.
        return f"{self.base}/clients/{uuid.uuid4().hex}/metadata.json"

    def __enter__(self) -> MetadataHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        outbound.close_pools()


def valid_document(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": url,
        "client_name": "Example MCP Client",
        "client_uri": "https://client.example/",
        "logo_uri": "https://client.example/logo.png",
        "redirect_uris": ["http://127.0.0.1:33418/callback", "https://client.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }


def serving(**overrides: Any) -> Respond:
    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        send(handler, json.dumps(valid_document(url, **overrides)).encode())

    return respond


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def trusted(settings, ca: trustme.CA, tmp_path) -> None:
    """The test CA trusted and 127.0.0.1 exempted, private addresses otherwise refused."""
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.OUTBOUND_EXTRA_CA_FILE = str(ca_file)
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CLIENT_METADATA_TIMEOUT = 5.0


@pytest.fixture
def host_for(cert: trustme.LeafCert) -> Iterator[Callable[[Respond], MetadataHost]]:
    hosts: list[MetadataHost] = []

    def start(respond: Respond) -> MetadataHost:
        host = MetadataHost(cert, respond).__enter__()
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.__exit__()
