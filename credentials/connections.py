"""Each person's own upstream account: the tokens of an OAuth2 authorization-code credential.

A person links their account once (authz's connect page and callback drive the browser; the
code exchange and the storage are here), and every call made for them uses their tokens:

- The hot path (`access_token`) reads the per-process cache of decrypted access tokens
  (credentials.injection, dropped with the server's credentials on the invalidation channel,
  never shared between processes); no database read while the token is fresh.
- When it is about to expire, or the upstream answered 401 to it, `current_token` reads the
  person's `Connection` and refreshes it: once across every worker (a Redis lock when
  REDIS_URL is set, a row lock in the database otherwise), re-reading the newest refresh token
  under the lock, since providers rotate refresh tokens and refuse an old one as reused.
- A refresh token the provider refuses marks the connection `needsReconnect`; a credential
  that now asks for scopes the person never consented to needs a new link too. Either way the
  call fails with the link to fix it, never with the upstream's bare 401.

The OAuth client is oauthlib's (the library django-oauth-toolkit, our authorization server,
stands on): its transport-agnostic `WebApplicationClient` builds the PKCE pair and the request
bodies and `parse_token_response` reads the answers, while every request goes out through
core.outbound (address guard, timeouts, size caps).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import WebApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error
from oauthlib.oauth2.rfc6749.parameters import parse_token_response

from accounts.models import User
from core import clock, outbound
from core.aio import keyed_lock
from core.db import run_orm, usable_connection
from core.errors import NotFound, ValidationFailed
from core.http import upstream_options
from core.invalidation import server_changed
from servers.models import Server
from servers.selectors import user_may_use
from tools.calling import CallContext, CredentialUnavailable

from . import crypto, injection
from .models import Connection, Credential
from .types import Secret

logger = logging.getLogger(__name__)

TYPE = "oauth2AuthorizationCode"
CONNECT_PATH = "/oauth/upstream/connect"
CALLBACK_PATH = "/oauth/upstream/callback"
LOCK_SECONDS = 30
VERIFIER_LENGTH = 64


def redirect_uri() -> str:
    """The callback every provider must have registered for the server's OAuth client."""
    return f"{settings.PUBLIC_BASE_URL}{CALLBACK_PATH}"


def connect_url(server_id: Any, scheme: str = "") -> str:
    """The Specgate page where a person links their account (it asks them to sign in)."""
    query = f"?{urlencode({'scheme': scheme})}" if scheme else ""
    return f"{settings.PUBLIC_BASE_URL}{CONNECT_PATH}/{server_id}{query}"


def provider_name(authorization_url: str) -> str:
    """How pages and messages name the provider: its host."""
    return (urlsplit(authorization_url).hostname or "upstream").removeprefix("www.")


def missing_scopes(connection: Connection, required: Any) -> list[str]:
    """The scopes the credential asks for now that the person did not consent to."""
    return sorted(set(required or ()) - set(connection.scopes or ()))


def connection_status(connection: Connection, required: Any) -> str:
    """`connected`, `needsReconnect` (the provider refused its refresh token) or
    `needsConsent` (the server's credential now asks for more scopes)."""
    if connection.status == "needsReconnect":
        return "needsReconnect"
    return "needsConsent" if missing_scopes(connection, required) else "connected"


# --- The call path ------------------------------------------------------------------------------


async def access_token(credential: Secret, context: CallContext) -> str:
    """The access token of the person the call is made for: cached, or read and refreshed."""
    provider = provider_name(credential.authorization_url)
    user_id = context.caller_id
    if user_id is None:
        raise CredentialUnavailable(
            "upstream_account_no_caller",
            f"This tool acts as each caller's own {provider} account, and a call to a public "
            "server has no signed-in caller to act for. The server's owner can make it "
            "private or shared.",
        )
    key = (credential.id, user_id)
    cached = injection.user_token(key)
    if cached is not None and not context.refresh and _fresh(cached[1]):
        return cached[0]
    sent = cached[0] if cached is not None and context.refresh else None
    # One refresh per person at a time in this process; other processes wait on the lock.
    async with keyed_lock(f"upstream:{credential.id}:{user_id}"):
        cached = injection.user_token(key)
        if cached is not None and cached[0] != sent and _fresh(cached[1]):
            return cached[0]
        token, expires_at = await run_orm(
            current_token,
            credential=credential,
            server_id=context.target.server_id,
            user_id=user_id,
            stale=sent,
        )
    injection.keep_user_token(context.target.server_id, key, token, expires_at)
    return token


def _fresh(expires_at: float) -> bool:
    return expires_at - injection.TOKEN_EXPIRY_MARGIN_SECONDS > clock.time()


@dataclass(frozen=True)
class _Tokens:
    access: str
    refresh: str
    expires_at: float


def _open(row: Connection) -> _Tokens:
    values = json.loads(crypto.decrypt(row.key_id, row.ciphertext))
    expires_at = row.access_expires_at.timestamp() if row.access_expires_at else 0.0
    return _Tokens(values["access_token"], values.get("refresh_token") or "", expires_at)


def _seal(access: str, refresh: str) -> tuple[str, str]:
    payload = {"access_token": access, "refresh_token": refresh}
    return crypto.encrypt(json.dumps(payload).encode())


@usable_connection
def current_token(
    *, credential: Secret, server_id: str, user_id: str, stale: str | None
) -> tuple[str, float]:
    """The person's access token and its expiry, refreshed when it is about to expire or is
    STALE (the one the upstream refused). Raises CredentialUnavailable with the link to fix."""
    row = _usable_row(credential, server_id, user_id)
    tokens = _readable(row, credential, server_id)
    if _fresh(tokens.expires_at) and tokens.access != stale:
        return tokens.access, tokens.expires_at
    with _single_flight(row.pk) as locked:
        if locked is None:
            raise _not_linked(credential, server_id)
        # The newest tokens, which another worker may have stored while this one waited.
        tokens = _readable(locked, credential, server_id)
        if locked.status == "connected" and _fresh(tokens.expires_at) and tokens.access != stale:
            return tokens.access, tokens.expires_at
        refreshed = _refresh(locked, tokens, credential)
    if refreshed is None:
        _mark_reconnect(row)
        raise _reconnect(credential, server_id)
    return refreshed


def _readable(row: Connection, credential: Secret, server_id: str) -> _Tokens:
    try:
        return _open(row)
    except crypto.DecryptionFailed as exc:
        logger.error("Connection %s: %s", row.pk, exc)
        raise CredentialUnavailable(
            "credential_unreadable",
            f"Your linked {provider_name(credential.authorization_url)} account cannot be read "
            f"(its encryption key is gone). Link it again: {connect_url(server_id, row.scheme)}",
        ) from None


def _usable_row(credential: Secret, server_id: str, user_id: str) -> Connection:
    row = Connection.objects.filter(
        user_id=user_id, server_id=server_id, scheme=credential.scheme
    ).first()
    if row is None:
        raise _not_linked(credential, server_id)
    if row.status == "needsReconnect":
        raise _reconnect(credential, server_id)
    missing = missing_scopes(row, credential.scopes)
    if missing:
        raise CredentialUnavailable(
            "upstream_consent_needed",
            f"This tool now needs access you have not granted to your "
            f"{provider_name(credential.authorization_url)} account ({', '.join(missing)}). "
            f"Link it again to consent: {connect_url(server_id, credential.scheme)}",
        )
    return row


def _not_linked(credential: Secret, server_id: str) -> CredentialUnavailable:
    provider = provider_name(credential.authorization_url)
    return CredentialUnavailable(
        "upstream_account_needed",
        f"This tool acts as your own {provider} account, which you have not linked to this "
        f"server yet. Connect it here, then call the tool again: "
        f"{connect_url(server_id, credential.scheme)}",
    )


def _reconnect(credential: Secret, server_id: str) -> CredentialUnavailable:
    provider = provider_name(credential.authorization_url)
    return CredentialUnavailable(
        "upstream_reconnect_needed",
        f"Your {provider} account link has expired or was revoked by {provider}. Link it "
        f"again here, then call the tool again: {connect_url(server_id, credential.scheme)}",
    )


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=LOCK_SECONDS, socket_connect_timeout=2)


@contextmanager
def _single_flight(connection_id: Any) -> Iterator[Connection | None]:
    """Hold the connection's refresh lock across every worker; yields its newest row."""
    if settings.REDIS_URL:
        lock = _redis(settings.REDIS_URL).lock(
            f"upstream:refresh:{connection_id}",
            timeout=LOCK_SECONDS,
            blocking_timeout=LOCK_SECONDS,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError:
            acquired = False
        if not acquired:
            raise CredentialUnavailable(
                "oauth_token_busy", "The upstream account's token could not be refreshed now."
            )
        try:
            yield Connection.objects.filter(pk=connection_id).first()
        finally:
            try:
                lock.release()
            except redis.RedisError:
                logger.warning("The refresh lock of connection %s had expired", connection_id)
        return
    with transaction.atomic():
        yield Connection.objects.select_for_update().filter(pk=connection_id).first()


def _refresh(row: Connection, tokens: _Tokens, credential: Secret) -> tuple[str, float] | None:
    """New tokens stored for ROW, or None when the provider refused its refresh token (the
    caller marks the connection outside the lock's transaction, which would undo it)."""
    if not tokens.refresh:
        return None
    body = WebApplicationClient(credential.values["clientId"]).prepare_refresh_body(
        refresh_token=tokens.refresh
    )
    try:
        answer = _token_request(credential, dict(parse_qsl(body)))
    except InvalidGrantError:
        return None
    access = answer["access_token"]
    # A provider that does not rotate refresh tokens keeps the old one valid.
    refresh = answer.get("refresh_token") or tokens.refresh
    expires_at = _expiry(answer)
    key_id, ciphertext = _seal(access, refresh)
    Connection.objects.filter(pk=row.pk).update(
        key_id=key_id,
        ciphertext=ciphertext,
        access_expires_at=datetime.fromtimestamp(expires_at, UTC),
        token_version=F("token_version") + 1,
        refreshed_at=timezone.now(),
        status="connected",
        updated_at=timezone.now(),
    )
    return access, expires_at


def _mark_reconnect(row: Connection) -> None:
    Connection.objects.filter(pk=row.pk).update(status="needsReconnect", updated_at=timezone.now())
    # Other workers drop the access tokens they hold for this server's callers.
    server_changed(str(row.server_id))


def _expiry(answer: dict[str, Any]) -> float:
    try:
        lifetime = float(answer.get("expires_in", injection.DEFAULT_TOKEN_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        lifetime = injection.DEFAULT_TOKEN_LIFETIME_SECONDS
    return clock.time() + lifetime


def _token_request(credential: Secret, form: dict[str, str]) -> dict[str, Any]:
    """POST FORM to the token endpoint with the client's authentication (HTTP Basic, or in the
    body when the provider refuses Basic); the parsed answer, or an OAuth2Error raised."""
    client_id = credential.values["clientId"]
    client_secret = credential.values["clientSecret"]
    response = _post(
        credential.token_url, form, injection.client_basic_auth(client_id, client_secret)
    )
    if response.status_code == 401 or _error_of(response) == "invalid_client":
        body_auth = form | {"client_id": client_id, "client_secret": client_secret}
        response = _post(credential.token_url, body_auth, None)
    try:
        answer = dict(parse_token_response(response.content.decode("utf-8", "replace")))
    except InvalidGrantError:
        raise
    except OAuth2Error as exc:
        origin = _origin(credential.token_url)
        raise CredentialUnavailable(
            "oauth_token_rejected",
            f"The OAuth2 token endpoint {origin} answered HTTP {response.status_code} "
            f"({exc.error}).",
        ) from None
    return answer


def _error_of(response: outbound.OutboundResponse) -> str:
    try:
        document = json.loads(response.content)
    except ValueError:
        return ""
    return str(document.get("error") or "") if isinstance(document, dict) else ""


def _post(url: str, form: dict[str, str], authorization: str | None) -> outbound.OutboundResponse:
    with injection.token_endpoint_unreachable(
        f"The OAuth2 endpoint {_origin(url)} could not be used"
    ):
        return outbound.request(
            "POST",
            url,
            options=upstream_options(),
            **injection.token_endpoint_post(form, authorization),
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


# --- Linking and unlinking ----------------------------------------------------------------------


def link_credential(*, server_id: Any, scheme: str | None) -> Credential:
    """The server's authorization-code credential for SCHEME (or its only one); 404 without."""
    credentials = Credential.objects.select_related("server").filter(server_id=server_id, type=TYPE)
    if scheme is not None:
        credentials = credentials.filter(scheme=scheme)
    found = list(credentials[:2])
    if not found:
        raise NotFound("This server has no upstream account to link")
    if len(found) > 1:
        raise ValidationFailed(
            "Which security scheme?",
            details={"scheme": ["Required: the server links accounts for several schemes."]},
        )
    return found[0]


def connection_link_url(
    *, user: User, server_id: Any, scheme: str | None = None, org_id: str = ""
) -> str:
    """The connect page's URL for one of SERVER_ID's accounts: 404 unless USER may use it, as
    the connect page decides (ORG_ID: their active Clerk organisation)."""
    server = Server.objects.filter(id=server_id, status="active").first()
    if server is None or not user_may_use(user=user, server=server, org_id=org_id):
        raise NotFound("Server not found")
    credential = link_credential(server_id=server.id, scheme=scheme)
    return connect_url(server.id, credential.scheme)


@dataclass(frozen=True)
class LinkStart:
    """Where to send the browser (the provider's authorization endpoint), and what the
    callback must see again: the state and the PKCE verifier."""

    url: str
    state: str
    verifier: str


def connection_link_start(*, credential: Credential, state: str) -> LinkStart:
    secret = injection.decrypt_credential(credential)
    if not isinstance(secret, Secret):
        raise ValidationFailed(secret.message)
    client = WebApplicationClient(secret.values["clientId"])
    verifier = client.create_code_verifier(VERIFIER_LENGTH)
    params = [
        ("response_type", "code"),
        ("client_id", secret.values["clientId"]),
        ("redirect_uri", redirect_uri()),
        ("state", state),
        ("code_challenge", client.create_code_challenge(verifier, "S256")),
        ("code_challenge_method", "S256"),
    ]
    if secret.scopes:
        params.append(("scope", " ".join(secret.scopes)))
    return LinkStart(add_params_to_uri(credential.authorization_url, params), state, verifier)


def connection_complete(
    *, user: User, credential: Credential, code: str, verifier: str
) -> Connection:
    """Exchange the provider's CODE for USER's tokens and store them (encrypted), replacing a
    link they had for the same scheme, whose refresh token is then revoked upstream when the
    credential names a revocation endpoint (best effort, as on unlink)."""
    secret = injection.decrypt_credential(credential)
    if not isinstance(secret, Secret):
        raise ValidationFailed(secret.message)
    body = WebApplicationClient(secret.values["clientId"]).prepare_request_body(
        code=code, redirect_uri=redirect_uri(), code_verifier=verifier, include_client_id=False
    )
    try:
        answer = _token_request(secret, dict(parse_qsl(body)))
    except (OAuth2Error, CredentialUnavailable) as exc:
        message = exc.message if isinstance(exc, CredentialUnavailable) else exc.error
        raise ValidationFailed(f"The provider did not issue tokens: {message}") from None
    expires_at = _expiry(answer)
    previous = Connection.objects.filter(
        user=user, server=credential.server, scheme=credential.scheme
    ).first()
    key_id, ciphertext = _seal(answer["access_token"], answer.get("refresh_token") or "")
    connection, _ = Connection.objects.update_or_create(
        user=user,
        server=credential.server,
        scheme=credential.scheme,
        defaults={
            "status": "connected",
            "scopes": list(credential.scopes or ()),
            "key_id": key_id,
            "ciphertext": ciphertext,
            "access_expires_at": datetime.fromtimestamp(expires_at, UTC),
            "refreshed_at": timezone.now(),
        },
    )
    Connection.objects.filter(pk=connection.pk).update(token_version=F("token_version") + 1)
    server_changed(str(credential.server_id))
    if previous is not None and credential.revocation_url:
        # The replaced tokens are still live at the provider: nothing here can use them now.
        _revoke(credential, previous)
    return connection


def connection_delete(*, user: User, connection_id: Any) -> None:
    """Unlink: revoke the refresh token upstream when the credential names a revocation
    endpoint (best effort: the link is gone either way), then forget the tokens."""
    connection = Connection.objects.filter(user=user, id=connection_id).first()
    if connection is None:
        raise NotFound("Connection not found")
    credential = Credential.objects.filter(
        server_id=connection.server_id, scheme=connection.scheme, type=TYPE
    ).first()
    if credential is not None and credential.revocation_url:
        _revoke(credential, connection)
    connection.delete()
    server_changed(str(connection.server_id))


def _revoke(credential: Credential, connection: Connection) -> None:
    secret = injection.decrypt_credential(credential)
    if not isinstance(secret, Secret):
        return
    try:
        tokens = _open(connection)
    except crypto.DecryptionFailed:
        return
    token, hint = (
        (tokens.refresh, "refresh_token") if tokens.refresh else (tokens.access, "access_token")
    )
    client_id = secret.values["clientId"]
    try:
        response = _post(
            credential.revocation_url,
            {"token": token, "token_type_hint": hint},
            injection.client_basic_auth(client_id, secret.values["clientSecret"]),
        )
    except CredentialUnavailable as exc:
        logger.warning("Could not revoke connection %s upstream: %s", connection.pk, exc.message)
        return
    if response.status_code >= 300:
        logger.warning(
            "Revoking connection %s upstream answered HTTP %s", connection.pk, response.status_code
        )


def connection_link_page(*, credential: Credential) -> dict[str, str]:
    """What the connect page names: the provider, the server and the scopes asked."""
    return {
        "provider": provider_name(credential.authorization_url),
        "server": credential.server.name,
        "scopes": " ".join(credential.scopes or ()),
    }
