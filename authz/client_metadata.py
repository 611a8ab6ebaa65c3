"""Client ID Metadata Documents: OAuth clients whose `client_id` is an https URL.

An MCP client with no prior relationship to Specgate may identify itself by an https URL that
serves a JSON document describing it (draft-ietf-oauth-client-id-metadata-document, adopted by
the MCP 2025-11-25 authorization specification). `fetch_client_metadata` resolves such a
`client_id`: it checks the URL, fetches the document through the outbound guard (the URL is
chosen by whoever starts an authorization, so it must not reach private addresses), validates
it and caches the result.

Only public clients are accepted: a document cannot carry a shared secret, so
`token_endpoint_auth_method` must be absent or "none".
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache

from core import outbound
from core.http import USER_AGENT

# Longer client_ids are refused before any request: they are not stored anywhere sensible.
MAX_CLIENT_ID_LENGTH = 2048
MAX_CLIENT_NAME_LENGTH = 200
# A version in the key: a cached entry of an older shape is simply never read.
_CACHE_PREFIX = "authz:cimd:v1:"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class ClientMetadataError(Exception):
    """The client_id URL or the document it serves is unusable; the message says why and is
    safe to show on the authorization page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """What the authorization server knows about a client from its metadata document.

    `verified` means: the metadata document is served from the client_id's https origin, so
    whoever controls that origin vouches for the name and redirect URIs shown. It is always
    True for a document fetched here (only https client_ids are fetched); self-registered
    (dynamic registration) clients are the unverified ones.
    """

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    client_uri: str | None
    logo_uri: str | None
    verified: bool


def fetch_client_metadata(url: str) -> ClientMetadata:
    """The metadata of the client whose client_id is URL, from the cache or fetched now.

    Raises ClientMetadataError when the URL is not a valid client_id, the document cannot be
    fetched (blocked address, timeout, redirect, non-200, larger than
    CLIENT_METADATA_MAX_BYTES) or does not describe a public client with this client_id.
    """
    check_client_id_url(url)
    key = _cache_key(url)
    cached = cache.get(key)
    if cached is not None:
        return ClientMetadata(**cached)
    try:
        response = outbound.request(
            "GET", url, headers={"Accept": "application/json"}, options=_options()
        )
    except outbound.OutboundError as exc:
        raise _fetch_error(url, exc) from None
    metadata = _parse(url, response)
    cache.set(key, asdict(metadata), _cache_seconds(response))
    return metadata


async def afetch_client_metadata(url: str) -> ClientMetadata:
    """`fetch_client_metadata` for async callers: same checks, same cache."""
    check_client_id_url(url)
    key = _cache_key(url)
    cached = await cache.aget(key)
    if cached is not None:
        return ClientMetadata(**cached)
    try:
        response = await outbound.arequest(
            "GET", url, headers={"Accept": "application/json"}, options=_options()
        )
    except outbound.OutboundError as exc:
        raise _fetch_error(url, exc) from None
    metadata = _parse(url, response)
    await cache.aset(key, asdict(metadata), _cache_seconds(response))
    return metadata


def is_client_id_url(value: str) -> bool:
    """Whether a client_id names a metadata document (rather than a registered client)."""
    return value.startswith("https://")


def check_client_id_url(url: str) -> None:
    """Refuse a client_id that the draft does not allow as a metadata document URL."""
    if len(url) > MAX_CLIENT_ID_LENGTH:
        raise ClientMetadataError(
            f"The client_id URL is longer than {MAX_CLIENT_ID_LENGTH} characters."
        )
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ClientMetadataError("The client_id is not a valid URL.") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ClientMetadataError("A client_id metadata document URL must be an https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise ClientMetadataError("A client_id URL must not contain a username or password.")
    if "#" in url:
        raise ClientMetadataError("A client_id URL must not contain a fragment.")
    if parts.path in ("", "/"):
        raise ClientMetadataError(
            "A client_id URL must have a path naming the metadata document, "
            "e.g. https://client.example/oauth/metadata.json."
        )
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise ClientMetadataError("A client_id URL must not contain . or .. path segments.")


def _options() -> outbound.OutboundOptions:
    return outbound.OutboundOptions(
        connect_timeout=min(settings.OUTBOUND_CONNECT_TIMEOUT, settings.CLIENT_METADATA_TIMEOUT),
        total_timeout=settings.CLIENT_METADATA_TIMEOUT,
        max_response_bytes=settings.CLIENT_METADATA_MAX_BYTES,
        allow_private=settings.OUTBOUND_ALLOW_PRIVATE,
        allowed_networks=tuple(settings.OUTBOUND_ALLOWED_NETWORKS),
        # The document must be served at the client_id itself: a redirect elsewhere would let
        # the name and redirect URIs come from an origin the client_id does not name.
        max_redirects=0,
        user_agent=USER_AGENT,
        extra_ca_file=settings.OUTBOUND_EXTRA_CA_FILE,
    )


def _cache_key(url: str) -> str:
    return _CACHE_PREFIX + hashlib.sha256(url.encode()).hexdigest()


def _fetch_error(url: str, exc: outbound.OutboundError) -> ClientMetadataError:
    if exc.kind == "redirect":
        return ClientMetadataError(
            f"The client metadata document at {_origin(url)} answered with a redirect; it must "
            "be served directly at the client_id URL."
        )
    if exc.kind == "too_large":
        return ClientMetadataError(
            f"The client metadata document at {_origin(url)} is larger than "
            f"{settings.CLIENT_METADATA_MAX_BYTES} bytes."
        )
    return ClientMetadataError(f"Could not fetch the client metadata document: {exc.message}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _parse(url: str, response: outbound.OutboundResponse) -> ClientMetadata:
    origin = _origin(url)
    if response.status_code != 200:
        raise ClientMetadataError(
            f"The client metadata document at {origin} answered HTTP {response.status_code}."
        )
    try:
        document = json.loads(response.content)
    except (UnicodeDecodeError, ValueError):
        raise ClientMetadataError(
            f"The client metadata document at {origin} is not valid JSON."
        ) from None
    if not isinstance(document, dict):
        raise ClientMetadataError(f"The client metadata document at {origin} is not a JSON object.")
    return _validated(url, document)


def _validated(url: str, document: dict[str, Any]) -> ClientMetadata:
    if document.get("client_id") != url:
        raise ClientMetadataError(
            "The client metadata document's client_id does not equal the URL it was fetched "
            "from, character for character."
        )
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise ClientMetadataError(
            "A client metadata document must not contain a client_secret: it is public."
        )
    auth_method = document.get("token_endpoint_auth_method", "none")
    if auth_method != "none":
        # The value is echoed only when it is short text, not whatever the document holds.
        shown = (
            f" {json.dumps(auth_method)}"
            if isinstance(auth_method, str) and len(auth_method) <= 64
            else ""
        )
        raise ClientMetadataError(
            f"The client metadata document asks for token_endpoint_auth_method{shown}; "
            'only public clients ("none") are supported.'
        )
    redirect_uris = document.get("redirect_uris")
    if (
        not isinstance(redirect_uris, list)
        or not redirect_uris
        or not all(isinstance(uri, str) and _is_redirect_uri(uri) for uri in redirect_uris)
    ):
        raise ClientMetadataError(
            "The client metadata document must list redirect_uris: a non-empty array of "
            "absolute URIs without fragments."
        )
    return ClientMetadata(
        client_id=url,
        client_name=_client_name(url, document.get("client_name")),
        redirect_uris=tuple(redirect_uris),
        client_uri=_https_url_or_none(document.get("client_uri")),
        logo_uri=_https_url_or_none(document.get("logo_uri")),
        verified=True,
    )


def _is_redirect_uri(uri: str) -> bool:
    # Native clients use private-use schemes (com.example.app:/callback), so any scheme goes;
    # the authorization endpoint matches the redirect_uri against this list exactly.
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return bool(parts.scheme) and "#" not in uri and uri.strip() == uri


def _client_name(url: str, value: object) -> str:
    if value is None:
        # The name is optional; the host is what the user can check.
        return urlsplit(url).hostname or url
    if not isinstance(value, str) or not value.strip():
        raise ClientMetadataError("The client metadata document's client_name must be a string.")
    if len(value) > MAX_CLIENT_NAME_LENGTH:
        raise ClientMetadataError(
            f"The client metadata document's client_name is longer than "
            f"{MAX_CLIENT_NAME_LENGTH} characters."
        )
    return value.strip()


def _https_url_or_none(value: object) -> str | None:
    # Display-only fields: one that is not an https URL is dropped rather than shown.
    if not isinstance(value, str) or len(value) > MAX_CLIENT_ID_LENGTH:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme == "https" and parts.hostname else None


def _cache_seconds(response: outbound.OutboundResponse) -> int:
    """How long to keep a document: its max-age within the configured bounds, else the default.

    no-store and no-cache get the minimum: the floor is what keeps a busy authorization page
    from fetching the client's document on every visit.
    """
    low = settings.CLIENT_METADATA_CACHE_MIN_SECONDS
    high = settings.CLIENT_METADATA_CACHE_MAX_SECONDS
    directives = response.header("cache-control") or ""
    if re.search(r"\bno-(?:store|cache)\b", directives, re.IGNORECASE):
        return int(low)
    match = _MAX_AGE.search(directives)
    if match is None:
        return int(settings.CLIENT_METADATA_CACHE_SECONDS)
    return int(min(max(int(match.group(1)), low), high))
