"""Client ID Metadata Documents fetched from a real HTTPS server on 127.0.0.1.

The server's certificate comes from a throwaway `trustme` CA that only these tests trust
(OUTBOUND_EXTRA_CA_FILE), and 127.0.0.1 is reachable only through an OUTBOUND_ALLOWED_NETWORKS
exemption, as an operator would configure it; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from authz.client_metadata import (
    ClientMetadata,
    ClientMetadataError,
    afetch_client_metadata,
    fetch_client_metadata,
    is_client_id_url,
)
from core import outbound

from .metadata_host import (
    send,
    serving,
    valid_document,
)


def test_it_reads_a_valid_document(trusted, host_for):
    host = host_for(serving())
    url = host.document_url()

    metadata = fetch_client_metadata(url)

    assert metadata == ClientMetadata(
        client_id=url,
        client_name="Example MCP Client",
        redirect_uris=("http://127.0.0.1:33418/callback", "https://client.example/cb"),
        client_uri="https://client.example/",
        logo_uri="https://client.example/logo.png",
        verified=True,
    )
    assert host.requests[0]["headers"]["Accept"] == "application/json"


def test_the_test_ca_is_trusted_only_through_the_setting(trusted, host_for, settings):
    settings.OUTBOUND_EXTRA_CA_FILE = None
    host = host_for(serving())

    with pytest.raises(ClientMetadataError) as refused:
        fetch_client_metadata(host.document_url())

    assert refused.value.message == (
        "Could not fetch the client metadata document: Could not connect to "
        f"{host.base}: its TLS certificate could not be verified."
    )
    assert host.requests == []


def test_the_async_variant_reads_the_same_document(trusted, host_for):
    host = host_for(serving())
    url = host.document_url()

    async def fetch() -> ClientMetadata:
        try:
            return await afetch_client_metadata(url)
        finally:
            await outbound.aclose_pools()

    metadata = asyncio.run(fetch())

    assert metadata.client_id == url
    assert metadata.redirect_uris[0] == "http://127.0.0.1:33418/callback"


def test_it_names_a_client_without_client_name_by_its_host(trusted, host_for):
    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        document = valid_document(url, logo_uri="http://client.example/logo.png")
        del document["client_name"]
        send(handler, json.dumps(document).encode())

    host = host_for(respond)

    metadata = fetch_client_metadata(host.document_url())

    assert metadata.client_name == "127.0.0.1"
    assert metadata.logo_uri is None  # not https: dropped rather than shown


def test_it_refuses_a_client_id_that_differs_from_the_url(trusted, host_for):
    host = host_for(serving(client_id="https://client.example/metadata.json"))

    with pytest.raises(ClientMetadataError, match="client_id does not equal the URL"):
        fetch_client_metadata(host.document_url())


def test_it_refuses_a_client_id_that_differs_only_by_a_trailing_slash(trusted, host_for):
    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        send(handler, json.dumps(valid_document(url + "/")).encode())

    host = host_for(respond)

    with pytest.raises(ClientMetadataError, match="character for character"):
        fetch_client_metadata(host.document_url())


@pytest.mark.parametrize("redirect_uris", [None, [], "https://client.example/cb", [42], ["/cb"]])
def test_it_refuses_a_document_without_usable_redirect_uris(trusted, host_for, redirect_uris):
    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        document = valid_document(url, redirect_uris=redirect_uris)
        if redirect_uris is None:
            del document["redirect_uris"]
        send(handler, json.dumps(document).encode())

    host = host_for(respond)

    with pytest.raises(ClientMetadataError, match="must list redirect_uris"):
        fetch_client_metadata(host.document_url())


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_it_refuses_a_confidential_client(trusted, host_for, method):
    host = host_for(serving(token_endpoint_auth_method=method))

    with pytest.raises(ClientMetadataError) as refused:
        fetch_client_metadata(host.document_url())

    assert refused.value.message == (
        f'The client metadata document asks for token_endpoint_auth_method "{method}"; '
        'only public clients ("none") are supported.'
    )


def test_it_refuses_a_document_carrying_a_client_secret(trusted, host_for):
    host = host_for(serving(client_secret="hunter2"))

    with pytest.raises(ClientMetadataError, match="must not contain a client_secret"):
        fetch_client_metadata(host.document_url())


@pytest.mark.parametrize("body", [b"<html>hello</html>", b"\xff\xfe", b'["a", "list"]'])
def test_it_refuses_a_document_that_is_not_a_json_object(trusted, host_for, body):
    host = host_for(lambda handler, url: send(handler, body))

    with pytest.raises(ClientMetadataError, match=r"not valid JSON|not a JSON object"):
        fetch_client_metadata(host.document_url())


def test_it_refuses_an_error_status(trusted, host_for):
    host = host_for(lambda handler, url: send(handler, b"{}", status=404))

    with pytest.raises(ClientMetadataError, match="answered HTTP 404"):
        fetch_client_metadata(host.document_url())


def test_it_does_not_follow_redirects(trusted, host_for):
    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        send(handler, b"", status=302, headers={"Location": "/elsewhere.json"})

    host = host_for(respond)

    with pytest.raises(ClientMetadataError, match="answered with a redirect"):
        fetch_client_metadata(host.document_url())

    assert len(host.requests) == 1


def test_it_refuses_an_oversized_document_while_it_is_still_arriving(trusted, host_for, settings):
    settings.CLIENT_METADATA_MAX_BYTES = 5120
    release = threading.Event()
    finished = threading.Event()

    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        # Announce a megabyte, send just over the cap, then stall: a client that waited for
        # the whole body would hit the 5 s timeout instead of the size error.
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b'{"client_name": "' + b"x" * 6000)
        handler.wfile.flush()
        release.wait(10)
        finished.set()

    host = host_for(respond)
    started = time.monotonic()

    try:
        with pytest.raises(ClientMetadataError) as refused:
            fetch_client_metadata(host.document_url())
        elapsed = time.monotonic() - started
        assert not finished.is_set()
    finally:
        release.set()

    assert refused.value.message.endswith("is larger than 5120 bytes.")
    assert elapsed < 4.0  # well inside the 5 s timeout a full read would run into


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_the_guard_refuses_a_private_address_before_connecting(settings, trusted, host_for, name):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    host = host_for(serving())
    url = host.document_url().replace("127.0.0.1", name)

    with pytest.raises(ClientMetadataError, match="it is not a public address"):
        fetch_client_metadata(url)

    assert host.connections == 0
    assert host.requests == []


def test_a_document_is_served_from_the_cache_the_second_time(trusted, host_for):
    host = host_for(serving())
    url = host.document_url()

    first = fetch_client_metadata(url)
    second = fetch_client_metadata(url)

    assert second == first
    assert len(host.requests) == 1


def test_a_max_age_is_honoured_within_the_bounds(trusted, host_for, settings):
    settings.CLIENT_METADATA_CACHE_MIN_SECONDS = 0

    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        body = json.dumps(valid_document(url)).encode()
        send(handler, body, headers={"Cache-Control": "public, max-age=0"})

    host = host_for(respond)
    url = host.document_url()

    fetch_client_metadata(url)
    fetch_client_metadata(url)

    assert len(host.requests) == 2


def test_a_failed_fetch_is_not_cached(trusted, host_for):
    answers = iter([b"not json", None])

    def respond(handler: BaseHTTPRequestHandler, url: str) -> None:
        body = next(answers) or json.dumps(valid_document(url)).encode()
        send(handler, body)

    host = host_for(respond)
    url = host.document_url()

    with pytest.raises(ClientMetadataError):
        fetch_client_metadata(url)
    assert fetch_client_metadata(url).client_id == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/metadata.json", "must be an https:// URL"),
        ("https://client.example", "must have a path"),
        ("https://client.example/", "must have a path"),
        ("https://client.example/metadata.json#part", "must not contain a fragment"),
        ("https://user:pass@client.example/metadata.json", "username or password"),
        ("https://client.example/a/../metadata.json", r"\. or \.\. path segments"),
        ("https://client.example:99999/metadata.json", "not a valid URL"),
        ("https://client.example/" + "a" * 2048, "longer than 2048 characters"),
    ],
)
def test_it_refuses_a_url_that_is_not_a_client_id_without_any_request(
    trusted, host_for, url, reason
):
    host = host_for(serving())

    with pytest.raises(ClientMetadataError, match=reason):
        fetch_client_metadata(url.replace("127.0.0.1", f"127.0.0.1:{host.port}"))

    assert host.connections == 0


def test_only_https_client_ids_name_a_metadata_document():
    assert is_client_id_url("https://client.example/metadata.json")
    assert not is_client_id_url("2f1c6a0e-registered-client")
    assert not is_client_id_url("http://client.example/metadata.json")
