"""The Django side of the MCP endpoint: compiled servers from the database, cached per worker.

A worker loads a server (its enabled tools, key hashes and call targets) once
and serves every request from that snapshot. Every GENERATION_CHECK_SECONDS it
compares the server's generation token in the shared cache with the one it
loaded under; services publish a new token on every change
(`core.invalidation.server_changed`), so changes reach every worker within
a few seconds without a database read per call. A snapshot older than
GATEWAY_SNAPSHOT_MAX_AGE_SECONDS is reloaded at its next check all the same, so
a write that bypassed the services (a raw `QuerySet.update()`) shows up too.

Slugs that do not exist are remembered as well (a client retrying a wrong URL
must not cost a query per request), but only the most recent
MISSING_CACHE_MAX of them: clients choose these slugs, servers' own are bounded
by the database.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

from authz import tokens as oauth_tokens
from authz.models import Authorization
from core.aio import keyed_lock
from core.db import usable_connection, write_behind
from core.http import upstream_options
from core.invalidation import (
    CACHE_OUTAGE_WARNING_EVERY_SECONDS,
    GENERATION_CHECK_SECONDS,
    generation_key,
)
from core.observability import metrics, tracing
from core.outbound import OutboundOptions
from core.scopes import weakest_scope
from core.secrets import hash_secret
from gateway import observe
from gateway.runtime import (
    CallContext,
    Caller,
    Grant,
    Refusal,
    ServerRuntime,
    ToolRuntime,
    Unavailable,
)
from gateway.search import ToolDocument, ToolIndex
from servers.models import AccessKey, Server
from servers.selectors import server_mcp_url, tools_list_size
from servers.services import SLUG_PATTERN
from tools.calling import CallTarget, CredentialProvider, execute_call
from tools.definitions import tool_definition, tool_fields
from tools.models import Tool
from usage import limits
from usage.recorder import CallRecord, recorder

logger = logging.getLogger(__name__)

KEY_USE_WRITE_INTERVAL_SECONDS = 60.0
VERIFIED_TOKENS_MAX = 10_000
"""OAuth tokens remembered per server snapshot (forgotten all at once past this)."""
MISSING_CACHE_MAX = 4096
_UNKNOWN = object()
"""The generation of a snapshot loaded while the shared cache was unreachable: matches none."""


@dataclass(frozen=True)
class ServerRef:
    """What the registry keeps beside a snapshot: key hashes → (key id, caller: the key's prefix
    and grant), and the outbound options and result size limit of its calls (from settings,
    read once per snapshot,
    not per call)."""

    keys: dict[str, tuple[str, Caller]]
    options: OutboundOptions
    max_json_bytes: int
    oauth: OAuthAudience | None = None


@dataclass(frozen=True)
class OAuthAudience:
    """What an OAuth access token must say to be accepted here: this server's exact mcpUrl
    as its audience, our issuer and signing key, and a grant id not revoked lately (a revoked
    grant's tokens are refused until they would have expired anyway)."""

    resource: str
    issuer: str
    key: bytes
    owner_id: str
    shared: bool
    """Whether users other than the owner may hold grants (those in the audience)."""
    revoked: frozenset[str]
    grants: dict[str, Grant] = field(default_factory=dict)
    """What each live grant may do now, by id: its scope (a token's own scope can only be
    narrowed by it) and tool allowlist. A grant made after the snapshot has neither narrowed
    nor restricted yet: its token's scope stands until the next reload."""
    verified: dict[str, tuple[Caller, float, str]] = field(default_factory=dict, compare=False)
    """Tokens this snapshot verified: token → (caller, expiry, grant id). A client presents
    the same token for minutes; checking its signature once instead of on every call keeps
    an OAuth call as cheap as a key's. Dropped with the snapshot."""


@dataclass(slots=True)
class _Entry:
    runtime: ServerRuntime | None
    generation: Any
    checked_at: float
    loaded_at: float


@usable_connection
def _load(slug: str) -> ServerRuntime | None:
    server = (
        Server.objects.select_related("user")
        .filter(slug=slug, status="active", user__is_active=True)
        .first()
    )
    if server is None:
        return None
    tools = list(
        Tool.objects.filter(server=server, enabled=True)
        .select_related("operation")
        .order_by("operation__position")
    )
    runtimes = [
        ToolRuntime(**tool_fields(tool), ref=CallTarget.for_tool(tool, server=server))
        for tool in tools
    ]
    catalog = None
    if _is_dynamic(server, tools):
        # Built here, once per snapshot, and only for servers that serve search.
        catalog = ToolIndex(
            [
                ToolDocument(
                    tool=runtime,
                    method=tool.operation.method,
                    path=tool.operation.path,
                    summary=tool.operation.summary,
                    tags=tool.operation.tags,
                )
                for tool, runtime in zip(tools, runtimes, strict=True)
            ]
        )
    names = {tool.pk: tool.name for tool in tools}
    return ServerRuntime(
        server_id=str(server.id),
        slug=server.slug,
        user_id=str(server.user_id),
        name=server.name,
        version=str(server.config_version),
        visibility="public" if server.visibility == "public" else "private",
        tools=tuple(runtimes),
        tools_by_name=MappingProxyType({t.name: t for t in runtimes}),
        instructions=server.description or None,
        catalog=catalog,
        ref=ServerRef(
            keys=_keys(server, names),
            options=upstream_options(propagate_trace=server.trace_propagation),
            max_json_bytes=settings.TOOL_RESULT_JSON_MAX_BYTES,
            oauth=_oauth_audience(server, names) if server.visibility != "public" else None,
        ),
    )


def _is_dynamic(server: Server, tools: list[Tool]) -> bool:
    """Whether SERVER lists the meta-tools; "auto" is measured only for "auto" servers."""
    if server.tool_mode != "auto":
        return server.tool_mode == "dynamic"
    definitions = (tool_definition(**tool_fields(tool)) for tool in tools)
    return tools_list_size(server=server, definitions=definitions).mode == "dynamic"


def _keys(server: Server, tool_names: dict[Any, str]) -> dict[str, tuple[str, Caller]]:
    """The server's keys in use by hash, each with its grant; TOOL_NAMES maps the ids of the
    enabled tools to their names (an allowlisted tool that is disabled is simply absent)."""
    in_use = AccessKey.objects.filter(server=server, revoked_at__isnull=True)
    allowlists: dict[Any, set[str]] = {}
    for key_id, tool_id in AccessKey.tools.through.objects.filter(
        accesskey__in=in_use.filter(restricts_tools=True)
    ).values_list("accesskey_id", "tool_id"):
        allowlist = allowlists.setdefault(key_id, set())
        if tool_id in tool_names:
            allowlist.add(tool_names[tool_id])
    keys = {}
    for key_id, prefix, key_hash, scope, restricts_tools in in_use.values_list(
        "id", "prefix", "key_hash", "scope", "restricts_tools"
    ):
        grant = Grant(scope, frozenset(allowlists.get(key_id, ())) if restricts_tools else None)
        # A key acts for the server's owner, who made it.
        keys[key_hash] = (str(key_id), Caller(prefix, grant, user_id=str(server.user_id)))
    return keys


def _oauth_audience(server: Server, tool_names: dict[Any, str]) -> OAuthAudience:
    # A token lives OAUTH_ACCESS_TOKEN_SECONDS; a grant revoked longer ago than that (and a
    # minute of clock skew) can have no live token left to refuse.
    since = timezone.now() - timedelta(seconds=settings.OAUTH_ACCESS_TOKEN_SECONDS + 60)
    revoked = {
        str(grant_id)
        for grant_id in Authorization.objects.filter(
            server=server, revoked_at__gte=since
        ).values_list("id", flat=True)
    }
    shared = server.visibility == "shared"
    live = Authorization.objects.filter(server=server, revoked_at__isnull=True)
    allowlists: dict[str, set[str]] = {}
    for grant_id, tool_id in Authorization.tools.through.objects.filter(
        authorization__in=live.filter(restricts_tools=True)
    ).values_list("authorization_id", "tool_id"):
        allowlist = allowlists.setdefault(str(grant_id), set())
        if tool_id in tool_names:
            allowlist.add(tool_names[tool_id])
    grants = {}
    rows = live.values_list(
        "id", "scope", "restricts_tools", "user_id", "user__email", "user__is_active", "org_id"
    )
    for grant_id, scope, restricts_tools, user_id, email, active, org_id in rows:
        key = str(grant_id)
        tools = frozenset(allowlists.get(key, ())) if restricts_tools else None
        grants[key] = Grant(scope, tools)
        # On a shared server the audience may have shrunk since these were granted: their
        # tokens stop now.
        if (
            shared
            and user_id != server.user_id
            and (not active or not server.admits(email, org_id))
        ):
            revoked.add(key)
    return OAuthAudience(
        resource=server_mcp_url(slug=server.slug),
        issuer=oauth_tokens.issuer(),
        key=oauth_tokens.signing_key(),
        owner_id=str(server.user_id),
        shared=shared,
        revoked=frozenset(revoked),
        grants=grants,
    )


@usable_connection
def _touch_keys(uses: dict[str, datetime]) -> None:
    for key_id, when in uses.items():
        AccessKey.objects.filter(pk=key_id).update(last_used_at=when)


class DjangoRegistry:
    def __init__(self, provider: CredentialProvider | None = None) -> None:
        self._entries: dict[str, _Entry] = {}
        # Slugs that named no servable server, least recently asked first.
        self._missing: OrderedDict[str, _Entry] = OrderedDict()
        self._provider = provider
        self._key_written: dict[str, float] = {}
        self._cache_warned_at = -CACHE_OUTAGE_WARNING_EVERY_SECONDS

    def forget(self) -> None:
        """Drop every cached server (tests; a worker never needs it)."""
        self._entries.clear()
        self._missing.clear()

    def cached_counts(self) -> tuple[int, int]:
        """(servers cached, unknown slugs remembered)."""
        return len(self._entries), len(self._missing)

    async def get_server(self, slug: str) -> ServerRuntime | None:
        entry = self._entries.get(slug)
        if entry is None:
            entry = self._missing.get(slug)
            if entry is None and not SLUG_PATTERN.match(slug):
                return None  # no server can have this slug: nothing to look up
        now = time.monotonic()
        if entry is not None and now - entry.checked_at < GENERATION_CHECK_SECONDS:
            return entry.runtime
        # One check per slug at a time: the requests that arrive meanwhile wait for its result
        # instead of all reloading the same server from the database.
        async with keyed_lock(f"gateway:{slug}"):
            entry = self._entries.get(slug) or self._missing.get(slug)
            if entry is not None and time.monotonic() - entry.checked_at < GENERATION_CHECK_SECONDS:
                return entry.runtime
            return await self._refresh(slug, entry)

    def check_now(self, slug: str) -> None:
        """Make the next request for SLUG re-check its server (tests skip the check interval)."""
        entry = self._entries.get(slug) or self._missing.get(slug)
        if entry is not None:
            entry.checked_at = -GENERATION_CHECK_SECONDS

    async def _refresh(self, slug: str, entry: _Entry | None) -> ServerRuntime | None:
        now = time.monotonic()
        # Read the token before the rows: a change published during the load is seen next time.
        generation = await self._generation(slug)
        if (
            entry is not None
            and generation is not _UNKNOWN
            and generation == entry.generation
            and now - entry.loaded_at < settings.GATEWAY_SNAPSHOT_MAX_AGE_SECONDS
        ):
            entry.checked_at = now
            return entry.runtime
        try:
            runtime = await sync_to_async(_load, thread_sensitive=False)(slug)
        except DatabaseError:
            if metrics.ENABLED:
                metrics.snapshot_reloads.labels("failed").inc()
            if entry is None:
                raise Unavailable() from None
            # The database is out: keep serving what this worker knew a moment ago, and look
            # again at the next check.
            logger.warning("Cannot reload server %s; serving the cached copy", slug)
            entry.checked_at = now
            return entry.runtime
        if metrics.ENABLED:
            metrics.snapshot_reloads.labels("loaded" if runtime else "missing").inc()
        self._store(slug, _Entry(runtime, generation, checked_at=now, loaded_at=now))
        return runtime

    def _store(self, slug: str, entry: _Entry) -> None:
        if entry.runtime is not None:
            self._missing.pop(slug, None)
            self._entries[slug] = entry
            return
        self._entries.pop(slug, None)
        self._missing[slug] = entry
        self._missing.move_to_end(slug)
        while len(self._missing) > MISSING_CACHE_MAX:
            self._missing.popitem(last=False)

    async def _generation(self, slug: str) -> Any:
        try:
            return await sync_to_async(cache.get, thread_sensitive=False)(generation_key(slug))
        except Exception:
            # A cache outage must not take the endpoint down: reload from the database at
            # each check instead, so changes still apply within GENERATION_CHECK_SECONDS.
            now = time.monotonic()
            if now - self._cache_warned_at >= CACHE_OUTAGE_WARNING_EVERY_SECONDS:
                self._cache_warned_at = now
                logger.warning(
                    "Gateway cannot read the shared cache; reloading servers from the database",
                    exc_info=True,
                )
            return _UNKNOWN

    async def authenticate(
        self, server: ServerRuntime, bearer: str | None
    ) -> Caller | Literal[False] | None:
        if server.visibility == "public":
            return None
        if not bearer:
            return False
        if bearer.count(".") == 2:
            return _oauth_caller(server.ref.oauth, bearer)
        found = server.ref.keys.get(hash_secret(bearer))
        if found is None:
            return False
        key_id, caller = found
        await self._note_key_use(key_id)
        return caller

    async def _note_key_use(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._key_written.get(key_id, -KEY_USE_WRITE_INTERVAL_SECONDS) < (
            KEY_USE_WRITE_INTERVAL_SECONDS
        ):
            return
        self._key_written[key_id] = now
        await write_behind(_touch_keys, {key_id: timezone.now()})

    async def admit(self, server: ServerRuntime, ctx: CallContext, method: str) -> Refusal | None:
        try:
            oauth = server.ref.oauth if server.ref is not None else None
            refusal = await limits.admit_mcp(
                user_id=server.user_id,
                client_ip=ctx.client_ip,
                public=server.visibility == "public",
                tool_call=method == "tools/call",
                # On a shared server each caller (an OAuth grant) has a limit of its own too.
                caller=ctx.key_prefix
                if oauth is not None
                and oauth.shared
                and (ctx.key_prefix or "").startswith("oauth:")
                else None,
            )
        except DatabaseError:
            raise Unavailable() from None
        if refusal is not None and metrics.ENABLED:
            metrics.observe_refusal(refusal.reason)
        return refusal

    async def call_tool(
        self, server: ServerRuntime, tool: ToolRuntime, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        target: CallTarget = tool.ref
        ref: ServerRef = server.ref
        call = execute_call(
            target,
            arguments,
            provider=self._provider,
            options=ref.options,
            max_json_bytes=ref.max_json_bytes,
            caller_id=ctx.caller_id,
        )
        try:
            if tracing.ENABLED and not tracing.in_unsampled_trace():
                with observe.call_span(server, tool.name) as span:
                    outcome = await call
                    observe.end_call(span, outcome)
            else:
                outcome = await call
        except DatabaseError:  # the credentials could not be read
            raise Unavailable() from None
        recorder.record_call(
            target, outcome, ctx.key_prefix or "", ctx.client_name or "", ctx.caller_email
        )
        if metrics.ENABLED:
            metrics.observe_call(
                server.server_id, outcome.error_code, outcome.duration_ms, outcome.upstream_ms
            )
        return outcome.result

    def record_rejected_call(
        self,
        server: ServerRuntime,
        ctx: CallContext,
        tool_name: str,
        message: str,
        *,
        error_code: str | None = None,
    ) -> None:
        if metrics.ENABLED:
            metrics.observe_rejected(server.server_id)
        if tracing.ENABLED:
            observe.note_rejected(tool_name)
        tool = server.tools_by_name.get(tool_name)
        target: CallTarget | None = tool.ref if tool is not None else None
        recorder.record(
            CallRecord.rejected(
                user_id=server.user_id,
                server_id=server.server_id,
                server_name=server.name,
                tool_name=tool_name,
                target=target,
                key_prefix=ctx.key_prefix or "",
                client_name=ctx.client_name or "",
                error_code=error_code,
                caller_email=ctx.caller_email,
            )
        )


def _oauth_caller(audience: OAuthAudience | None, token: str) -> Caller | Literal[False]:
    """The caller of an OAuth access token (a signed JWT: no database read), or False."""
    if audience is None:
        return False
    known = audience.verified.get(token)
    if known is not None:
        caller, expires_at, grant_id = known
        if time.time() < expires_at and grant_id not in audience.revoked:
            return caller
        return False
    claims = oauth_tokens.verify(
        token, resource=audience.resource, issuer=audience.issuer, key=audience.key
    )
    if claims is None or claims.grant_id in audience.revoked:
        return False
    if not audience.shared and claims.user_id != audience.owner_id:
        return False  # a private server: its owner's grants only
    # Request logs show the grant as the key prefix (the owner finds it in the grants list)
    # and the email of its user, which the token carries (no database read).
    grant = Grant(claims.scope)
    current = audience.grants.get(claims.grant_id)
    if current is not None:
        grant = Grant(weakest_scope([claims.scope, current.scope]), current.tools)
    caller = Caller(f"oauth:{claims.grant_id[:8]}", grant, claims.email, user_id=claims.user_id)
    if len(audience.verified) >= VERIFIED_TOKENS_MAX:
        audience.verified.clear()
    audience.verified[token] = (caller, claims.expires_at, claims.grant_id)
    return caller


def allowed_origins() -> list[str]:
    return [settings.PUBLIC_BASE_URL, *settings.MCP_ALLOWED_ORIGINS]


def credential_provider() -> CredentialProvider | None:
    from credentials.injection import provider

    return provider
