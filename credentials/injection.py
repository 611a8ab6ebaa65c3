"""Adding a server's credentials to its upstream calls: the CredentialProvider of tools.calling.

The operation's effective `security` (already resolved by the engine: operation-level over
document-level) picks the credentials: `[]` means none; alternatives are tried in order and
the first whose every scheme has a credential wins; no declared requirement at all means every
configured credential is sent (specs often forget to declare one). A credential of a spec that
declares no scheme goes wherever it says, on every call that does not opt out with `[]`.
What each credential adds to a request is its type's (credentials.types): the type is
resolved once, when a server's credentials are loaded.

Decrypted credentials are held in process memory per server for at most a few seconds, and
re-read sooner when the server's generation (core.invalidation) moves in the shared cache, so
a change takes effect on every worker within MAX_SECRET_AGE_SECONDS. OAuth2 access tokens are
cached in memory and (encrypted) in the shared cache until shortly before they expire; each
person's own access tokens (OAuth2 authorization code, credentials.connections) in this
process's memory only, dropped whenever the server's generation moves (a link, an unlink).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from core import clock, invalidation, outbound
from core.aio import keyed_lock
from core.db import run_orm, usable_connection, write_behind
from core.http import upstream_options
from core.invalidation import CACHE_OUTAGE_WARNING_EVERY_SECONDS
from servers.models import Server
from tools.calling import NO_AUTH, AuthParts, CallContext, CredentialUnavailable, OutgoingRequest
from tools.results import scrub

from . import crypto
from .models import Credential
from .types import Secret, UnknownCredentialType, registry

logger = logging.getLogger(__name__)

VERSION_CHECK_SECONDS = 1.0
MAX_SECRET_AGE_SECONDS = 4.0
TOKEN_EXPIRY_MARGIN_SECONDS = 30
# Used when a token response omits expires_in.
DEFAULT_TOKEN_LIFETIME_SECONDS = 300
LAST_USED_GRANULARITY_SECONDS = 60
TOKEN_ERROR_CHARS = 100


@dataclass(frozen=True)
class Unreadable:
    id: str
    scheme: str
    message: str


@dataclass
class _Entry:
    version: str | None
    loaded_at: float
    checked_at: float
    credentials: dict[str, Secret | Unreadable]


_entries: dict[str, _Entry] = {}
_tokens: dict[tuple[str, int], tuple[str, float]] = {}
# Each person's upstream access token (OAuth2 authorization code), by (credential id, user id):
# (token, expiry, server id). Per process only, never in the shared cache; dropped with the
# server's credentials when its generation moves.
_user_tokens: dict[tuple[str, str], tuple[str, float, str]] = {}
_last_used: dict[str, float] = {}


def token_key(credential_id: str, version: int) -> str:
    return f"cred:oauth:{credential_id}:{version}"


def _forget_servers(names: tuple[str, ...]) -> None:
    # The channel names a server by slug and id; entries are keyed by id.
    for name in names:
        _entries.pop(name, None)
        _forget_user_tokens(name)


def _forget_user_tokens(server_id: str) -> None:
    for key in [key for key, held in _user_tokens.items() if held[2] == server_id]:
        _user_tokens.pop(key, None)


def user_token(key: tuple[str, str]) -> tuple[str, float] | None:
    """A person's access token held by this process, with its expiry (credentials.connections)."""
    held = _user_tokens.get(key)
    return (held[0], held[1]) if held is not None else None


def keep_user_token(server_id: str, key: tuple[str, str], token: str, expires_at: float) -> None:
    _user_tokens[key] = (token, expires_at, str(server_id))


invalidation.on_change(_forget_servers)


def known_secrets(server_id: str) -> tuple[str, ...]:
    """Every secret value of a server this process holds now (for scrubbing stored output)."""
    entry = _entries.get(str(server_id))
    if entry is None:
        return ()
    values: list[str] = []
    for credential in entry.credentials.values():
        if isinstance(credential, Secret):
            values.extend(credential.secrets)
            token = _tokens.get((credential.id, credential.version))
            if token is not None:
                values.append(token[0])
    values.extend(held[0] for held in _user_tokens.values() if held[2] == str(server_id))
    return tuple(values)


def stored_secrets(server_id: str) -> tuple[str, ...]:
    """Every secret value of a server as stored now, with the access tokens known for it.

    For scrubbing records made earlier when they are shown (the admin's tool tests): it reads
    and decrypts the server's credentials, so it is for the odd page view, not the call path.
    """
    values: list[str] = []
    for row in Credential.objects.filter(server_id=server_id):
        credential = decrypt_credential(row)
        if isinstance(credential, Secret):
            values.extend(credential.secrets)
            token = _shared_token(token_key(credential.id, credential.version))
            if token is not None:
                values.append(token)
    return (*values, *known_secrets(server_id))


def _shared_token(shared_key: str) -> str | None:
    try:
        shared = cache.get(shared_key)
        return crypto.decrypt(shared["k"], shared["c"]).decode() if shared else None
    except Exception:
        # Without it the page is still scrubbed of every stored value.
        return None


class CredentialInjector:
    """tools.calling.CredentialProvider over the credentials table and the type registry."""

    async def auth_for(self, request: OutgoingRequest, context: CallContext) -> AuthParts:
        entry = await _entry_for(context.target.server_id)
        chosen = select_credentials(context.target.security, entry.credentials)
        if not chosen:
            return NO_AUTH
        parts = [await _apply(credential, request, context) for credential in chosen]
        await _note_used([credential.id for credential in chosen])
        return AuthParts(
            headers=tuple(pair for part in parts for pair in part.headers),
            query=tuple(pair for part in parts for pair in part.query),
            cookies=tuple(pair for part in parts for pair in part.cookies),
            secrets=tuple(secret for part in parts for secret in part.secrets),
            refreshable=any(part.refreshable for part in parts),
        )


async def _apply(
    credential: Secret | Unreadable, request: OutgoingRequest, context: CallContext
) -> AuthParts:
    if isinstance(credential, Unreadable):
        raise CredentialUnavailable("credential_unreadable", credential.message)
    return await credential.kind.apply(request, credential, context)


def select_credentials(
    security: list[dict[str, list[str]]] | None,
    configured: dict[str, Secret | Unreadable],
) -> list[Secret | Unreadable]:
    """The credentials an operation's effective security requirement asks for, in order."""
    if security is None:
        return list(configured.values())
    if not security:
        return []
    # Credentials of a spec without schemes are named by no requirement; they always go.
    unnamed = [configured[""]] if "" in configured else []
    for requirement in security:
        if all(name in configured for name in requirement):
            return [configured[name] for name in requirement] + unnamed
    return unnamed


# --- Loading and caching ---------------------------------------------------------------------


def _current(entry: _Entry | None, now: float) -> bool:
    return (
        entry is not None
        and now - entry.loaded_at < MAX_SECRET_AGE_SECONDS
        and now - entry.checked_at < VERSION_CHECK_SECONDS
    )


async def _entry_for(server_id: str) -> _Entry:
    entry = _entries.get(server_id)
    if entry is not None and _current(entry, clock.monotonic()):
        return entry
    # One check per server at a time: concurrent calls wait for it instead of each asking
    # the shared cache (and the database) the same question.
    async with keyed_lock(f"credentials:{server_id}"):
        entry = _entries.get(server_id)
        if entry is not None and _current(entry, clock.monotonic()):
            return entry
        return await _refresh_entry(server_id, entry)


async def _refresh_entry(server_id: str, entry: _Entry | None) -> _Entry:
    now = clock.monotonic()
    fresh = entry is not None and now - entry.loaded_at < MAX_SECRET_AGE_SECONDS
    version = await _current_version(server_id)
    if entry is not None and fresh and version == entry.version:
        entry.checked_at = now
        return entry
    if entry is None or version != entry.version:
        # A link or unlink, or a changed credential: the people's tokens are read anew.
        _forget_user_tokens(server_id)
    entry = await run_orm(_load_entry, server_id, version)
    _entries[server_id] = entry
    return entry


_version_warned_at = -CACHE_OUTAGE_WARNING_EVERY_SECONDS


async def _current_version(server_id: str) -> str | None:
    global _version_warned_at
    try:
        key = invalidation.generation_key(server_id)
        value = await sync_to_async(cache.get, thread_sensitive=False)(key)
    except Exception:
        # Without the shared cache, the short MAX_SECRET_AGE_SECONDS still bounds staleness.
        now = clock.monotonic()
        if now - _version_warned_at >= CACHE_OUTAGE_WARNING_EVERY_SECONDS:
            _version_warned_at = now
            logger.warning("Cannot read credentials versions from the shared cache")
        return None
    return str(value) if value is not None else None


@usable_connection
def _load_entry(server_id: str, version: str | None) -> _Entry:
    server = Server.objects.select_related("spec").filter(id=server_id).first()
    schemes = dict(server.spec.security_schemes or {}) if server is not None else {}
    credentials: dict[str, Secret | Unreadable] = {}
    for row in Credential.objects.filter(server_id=server_id):
        credentials[row.scheme] = decrypt_credential(row, schemes.get(row.scheme) or {})
    now = clock.monotonic()
    return _Entry(version, now, now, credentials)


def decrypt_credential(
    row: Credential, definition: Mapping[str, Any] | None = None
) -> Secret | Unreadable:
    """The row decrypted, with its type resolved once here rather than on every call."""
    label = row.name or row.scheme or row.type
    try:
        kind = registry.get(row.type)
        values = json.loads(crypto.decrypt(row.key_id, row.ciphertext))
    except (crypto.DecryptionFailed, UnknownCredentialType) as exc:
        logger.error("Credential %s of server %s: %s", row.id, row.server_id, exc)
        return Unreadable(str(row.id), row.scheme, f"Credential '{label}': {exc}")
    return Secret(
        id=str(row.id),
        version=row.version,
        scheme=row.scheme,
        kind=kind,
        location=row.location,
        param_name=row.param_name,
        token_url=row.token_url,
        scopes=tuple(row.scopes or ()),
        definition=definition or {},
        values=values,
        secrets=kind.secret_values(values),
        authorization_url=row.authorization_url,
        revocation_url=row.revocation_url,
    )


async def _note_used(credential_ids: list[str]) -> None:
    """Record lastUsedAt at minute granularity: one write a minute per credential, not per call."""
    now = clock.monotonic()
    never = -LAST_USED_GRANULARITY_SECONDS
    due = [
        cid
        for cid in credential_ids
        if now - _last_used.get(cid, never) >= LAST_USED_GRANULARITY_SECONDS
    ]
    if not due:
        return
    for cid in due:
        _last_used[cid] = now
    # The call does not wait for this write, as it does not wait for the access key's.
    await write_behind(_touch, due)


@usable_connection
def _touch(credential_ids: list[str]) -> None:
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(
        last_used_at__lt=now - timedelta(seconds=LAST_USED_GRANULARITY_SECONDS)
    )
    try:
        Credential.objects.filter(stale, id__in=credential_ids).update(last_used_at=now)
    except DatabaseError:
        logger.warning("Could not record the use of credentials %s", ", ".join(credential_ids))


# --- OAuth2 client credentials ---------------------------------------------------------------


async def oauth_token(credential: Secret, *, refresh: bool = False) -> str:
    """An access token for the credential: cached until shortly before expiry, or fetched."""
    key = (credential.id, credential.version)
    shared_key = token_key(*key)
    if not refresh:
        token = await _cached_token(key, shared_key)
        if token is not None:
            return token
    token, lifetime = await _fetch_token(credential)
    keep = lifetime - TOKEN_EXPIRY_MARGIN_SECONDS
    if keep <= 0:
        _tokens.pop(key, None)
        await _cache_delete(shared_key)
        return token
    expires_at = clock.time() + keep
    _tokens[key] = (token, expires_at)
    key_id, sealed = crypto.encrypt(token.encode())
    try:
        shared = {"k": key_id, "c": sealed, "e": expires_at}
        await sync_to_async(cache.set, thread_sensitive=False)(shared_key, shared, timeout=keep)
    except Exception:
        logger.warning("Could not share an OAuth2 token of credential %s", credential.id)
    return token


async def _cached_token(key: tuple[str, int], shared_key: str) -> str | None:
    now = clock.time()
    local = _tokens.get(key)
    if local is not None and local[1] > now:
        return local[0]
    try:
        shared = await sync_to_async(cache.get, thread_sensitive=False)(shared_key)
    except Exception:
        return None
    if not isinstance(shared, dict) or shared.get("e", 0) <= now:
        return None
    try:
        token = crypto.decrypt(shared["k"], shared["c"]).decode()
    except crypto.DecryptionFailed:
        return None
    _tokens[key] = (token, float(shared["e"]))
    return token


async def _cache_delete(shared_key: str) -> None:
    try:
        await sync_to_async(cache.delete, thread_sensitive=False)(shared_key)
    except Exception:
        logger.warning("Could not drop a cached OAuth2 token")


async def _fetch_token(credential: Secret) -> tuple[str, float]:
    """POST grant_type=client_credentials; client authentication per RFC 6749 §2.3.1."""
    client_id = credential.values["clientId"]
    client_secret = credential.values["clientSecret"]
    form = {"grant_type": "client_credentials"}
    if credential.scopes:
        form["scope"] = " ".join(credential.scopes)
    response = await _post_token_request(
        credential, form, client_basic_auth(client_id, client_secret)
    )
    if response.status_code in (400, 401):
        # Some servers accept only the body form of client authentication.
        body_auth = form | {"client_id": client_id, "client_secret": client_secret}
        response = await _post_token_request(credential, body_auth, None)
    return _token_from(credential, response)


async def _post_token_request(
    credential: Secret, form: dict[str, str], authorization: str | None
) -> outbound.OutboundResponse:
    with token_endpoint_unreachable("The OAuth2 token endpoint could not be used"):
        return await outbound.arequest(
            "POST",
            credential.token_url,
            options=upstream_options(),
            **token_endpoint_post(form, authorization),
        )


def client_basic_auth(client_id: str, client_secret: str) -> str:
    """The Authorization header of HTTP Basic client authentication (RFC 6749 §2.3.1: each
    part form-encoded first)."""
    basic = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode())
    return f"Basic {basic.decode('ascii')}"


def token_endpoint_post(
    form: Mapping[str, str], authorization: str | None
) -> outbound.RequestExtras:
    """What a POST of FORM to an OAuth2 token or revocation endpoint carries besides its URL."""
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    return {"headers": headers, "content": urlencode(form), "sensitive_headers": {"authorization"}}


@contextmanager
def token_endpoint_unreachable(message: str) -> Iterator[None]:
    """An outbound failure inside becomes CredentialUnavailable("oauth_token_unreachable")
    with MESSAGE and the failure's own (never a secret: outbound errors carry none)."""
    try:
        yield
    except outbound.OutboundError as exc:
        raise CredentialUnavailable(
            "oauth_token_unreachable", f"{message}: {exc.message}"
        ) from None


def _token_from(credential: Secret, response: outbound.OutboundResponse) -> tuple[str, float]:
    origin = _origin(credential.token_url)
    document = _token_document(response)
    if response.status_code >= 300:
        error = str(document.get("error") or "")[:TOKEN_ERROR_CHARS]
        error = scrub(error, credential.secrets)
        detail = f" ({error})" if error else ""
        raise CredentialUnavailable(
            "oauth_token_rejected",
            f"The OAuth2 token endpoint {origin} answered HTTP {response.status_code}{detail}.",
        )
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise CredentialUnavailable(
            "oauth_token_invalid",
            f"The OAuth2 token endpoint {origin} answered without an access_token.",
        )
    try:
        lifetime = float(document.get("expires_in", DEFAULT_TOKEN_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
    return token, lifetime


def _token_document(response: outbound.OutboundResponse) -> dict[str, Any]:
    media_type = (response.header("content-type") or "").split(";", 1)[0].strip().lower()
    text = response.content.decode("utf-8", "replace")
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text))
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def forget_cached() -> None:
    """Drop every decrypted credential and token this process holds (tests, key changes)."""
    _entries.clear()
    _tokens.clear()
    _user_tokens.clear()
    _last_used.clear()


provider = CredentialInjector()
