"""Writes for servers and their access keys."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from billing.selectors import plan_for_user
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.invalidation import server_rows_delete, server_touch
from core.scopes import DEFAULT_SCOPE, SCOPES, strongest_scope, unknown_scopes
from core.secrets import display_prefix, hash_secret, new_secret
from specs.models import Spec, SpecOperation
from tools.models import Tool
from tools.services import tools_create

from .models import AccessKey, Server

ACCESS_KEY_PREFIX = "mcpk_"
SLUG_MAX = 64
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
TAG_SELECTOR = "tag:"
_METHOD_PATH = re.compile(r"^([A-Za-z]+)\s+(/.*)$")
_UPDATABLE = (
    "name",
    "description",
    "slug",
    "base_url",
    "status",
    "visibility",
    "audience",
    "tool_mode",
    "trace_propagation",
)


def ensure_can_create_server(*, user: User) -> None:
    """403 FORBIDDEN when the user's plan allows no more servers."""
    if not settings.PLAN_ENFORCEMENT:
        return
    plan = plan_for_user(user_id=user.pk)
    if plan.max_servers is None:
        return
    count = user.servers.count()
    if count >= plan.max_servers:
        raise Forbidden(
            f"The {plan.name} plan allows {plan.max_servers} servers",
            details={"reason": "server_limit", "limit": plan.max_servers, "plan": plan.name},
        )


def server_create(
    *,
    user: User,
    spec_id: Any,
    name: str,
    slug: str | None = None,
    description: str = "",
    base_url: str | None = None,
    operations: list[str] | None = None,
    tool_mode: str = "auto",
) -> Server:
    """A server with one tool per spec operation, all in one transaction."""
    ensure_can_create_server(user=user)
    spec = Spec.objects.filter(user=user, pk=spec_id).defer("original_text", "document").first()
    if spec is None:
        raise NotFound("Spec not found")
    resolved_base_url = base_url_for(spec=spec, base_url=base_url)
    spec_operations = list(
        spec.operations.only("id", "operation_id", "method", "path", "tags", "tool_name")
    )
    enabled_ids = select_operations(spec_operations, operations) if operations else None
    server = Server(
        user=user,
        spec=spec,
        name=name,
        slug=slug or "",
        description=description,
        base_url=resolved_base_url,
        tool_mode=tool_mode,
    )
    try:
        with transaction.atomic():
            if slug:
                _check_slug_free(slug)
            else:
                server.slug = _free_slug(name)
            server.save()
            tools_create(server=server, operations=spec_operations, enabled_ids=enabled_ids)
            server_touch(server=server)
    except IntegrityError:
        raise _slug_taken(server.slug) from None
    return server


def server_update(*, server: Server, **changes: Any) -> Server:
    """Change any of name, description, slug, base_url, status, visibility, audience,
    tool_mode, trace_propagation. The gateway re-reads the server (and so refuses the OAuth
    tokens of callers no longer in a shared server's audience) within seconds."""
    old_slug = server.slug
    fields = [name for name in _UPDATABLE if name in changes]
    if "base_url" in changes:
        changes["base_url"] = _absolute_http_url(changes["base_url"], "baseUrl")
    if "audience" in changes:
        changes["audience"] = audience_normalized(changes["audience"])
    for name in fields:
        setattr(server, name, changes[name])
    try:
        with transaction.atomic():
            if server.slug != old_slug:
                _check_slug_free(server.slug, exclude=server.pk)
            server.save(update_fields=[*fields, "updated_at"])
            server_touch(server=server, old_slug=old_slug)
    except IntegrityError:
        raise _slug_taken(server.slug) from None
    server.config_version += 1
    return server


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ORG = r"org_[A-Za-z0-9]{1,64}"
# Not-whitespace spelled out so that Python's `re` and an ECMA-262 engine (a client reading
# the schema) agree: Python also counts \x1c-\x1f and \x85 as space, ECMA also \ufeff.
_LOCAL = r"[^@\s\x1c-\x1f\x85\ufeff]+"
AUDIENCE_PATTERN = rf"^(?:(?:{_LOCAL}@|@)?{_LABEL}(?:\.{_LABEL})+|{_ORG})$"
"""An audience entry as given: `ann@example.com`, `@example.com`, `example.com` or a Clerk
organisation id `org_…`."""
_ORG_ENTRY = re.compile(rf"^{_ORG}$")
_AUDIENCE_ENTRY = re.compile(rf"^(?:[^@\s]+)?@{_LABEL}(?:\.{_LABEL})+$")


def audience_normalized(entries: list[str]) -> list[str]:
    """A shared server's audience: email addresses and `@domain` entries (a bare `domain`
    gets its `@`), lower-case, and Clerk organisation ids as they are (`org_…`, case
    matters), each once; 400 naming the entries that are none of these."""
    normalized: list[str] = []
    invalid: list[str] = []
    for raw in entries:
        if _ORG_ENTRY.match(raw.strip()):
            normalized.append(raw.strip())
            continue
        entry = raw.strip().lower()
        if entry and "@" not in entry:
            entry = f"@{entry}"
        if _AUDIENCE_ENTRY.match(entry):
            normalized.append(entry)
        else:
            invalid.append(raw)
    if invalid:
        raise ValidationFailed(
            "audience entries must be email addresses, email domains or organisation ids",
            details={"invalid": invalid},
        )
    return list(dict.fromkeys(normalized))


def server_delete(*, server: Server) -> None:
    """Delete with its tools, keys and credentials; request logs keep the server's name."""
    with transaction.atomic():
        server_touch(server=server)
        server.delete()


def base_url_for(*, spec: Spec, base_url: str | None) -> str:
    """The given base URL, else the spec's first server URL (relative ones resolved)."""
    if base_url:
        return _absolute_http_url(base_url, "baseUrl")
    candidate = spec.servers[0] if spec.servers else ""
    if _is_absolute(candidate):
        return _absolute_http_url(candidate, "baseUrl")
    if spec.source_url:
        # A relative server URL (or none: OpenAPI's default is "/") is relative to the document.
        return _absolute_http_url(urljoin(spec.source_url, candidate or "/"), "baseUrl")
    if candidate:
        message = f"The spec's server URL {candidate!r} is relative; give baseUrl."
    else:
        message = "The spec names no server URL; give baseUrl."
    raise ValidationFailed("A base URL is needed", details={"baseUrl": [message]})


def _is_absolute(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.netloc)


def _absolute_http_url(url: str, field_name: str) -> str:
    def invalid(problem: str) -> ValidationFailed:
        return ValidationFailed("Invalid base URL", details={field_name: [problem]})

    if len(url) > 2000:
        raise invalid("Must be at most 2000 characters.")
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in url):
        raise invalid("Must not contain whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid(f"{url!r} has an invalid port (1-65535).") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid(f"{url!r} is not an absolute http(s) URL.")
    if port == 0:
        raise invalid(f"{url!r} has an invalid port (1-65535).")
    return url.rstrip("/")


def select_operations(operations: Iterable[SpecOperation], selectors: list[str]) -> set[int]:
    """Ids of the operations named by operationId, `METHOD /path` or `tag:NAME`."""
    by_id: dict[str, list[int]] = {}
    by_key: dict[str, int] = {}
    by_tag: dict[str, list[int]] = {}
    for operation in operations:
        if operation.operation_id:
            by_id.setdefault(operation.operation_id, []).append(operation.pk)
        by_key[f"{operation.method.upper()} {operation.path}"] = operation.pk
        for tag in operation.tags:
            by_tag.setdefault(tag, []).append(operation.pk)
    selected: set[int] = set()
    unknown: list[str] = []
    for selector in selectors:
        matched = _match(selector, by_id, by_key, by_tag)
        if matched:
            selected.update(matched)
        else:
            unknown.append(selector)
    if unknown:
        raise ValidationFailed(
            "Unknown operations",
            details={
                "operations": [f"No operation matches {selector!r}." for selector in unknown],
                "unknown": unknown,
            },
        )
    return selected


def _match(
    selector: str,
    by_id: dict[str, list[int]],
    by_key: dict[str, int],
    by_tag: dict[str, list[int]],
) -> list[int]:
    if selector.startswith(TAG_SELECTOR):
        return by_tag.get(selector[len(TAG_SELECTOR) :], [])
    route = _METHOD_PATH.match(selector.strip())
    if route and f"{route[1].upper()} {route[2]}" in by_key:
        return [by_key[f"{route[1].upper()} {route[2]}"]]
    return by_id.get(selector, [])


def _free_slug(name: str) -> str:
    base = (slugify(name)[:SLUG_MAX].strip("-")) or "server"
    taken = set(
        Server.objects.filter(slug__startswith=base[: SLUG_MAX - 4]).values_list("slug", flat=True)
    )
    candidate, counter = base, 2
    while candidate in taken:
        suffix = f"-{counter}"
        candidate = f"{base[: SLUG_MAX - len(suffix)].rstrip('-')}{suffix}"
        counter += 1
    return candidate


def _check_slug_free(slug: str, exclude: Any = None) -> None:
    if Server.objects.filter(slug=slug).exclude(pk=exclude).exists():
        raise _slug_taken(slug)


def _slug_taken(slug: str) -> Conflict:
    return Conflict(
        "That slug is taken", details={"slug": [f"The slug {slug!r} is already in use."]}
    )


# --- Access keys -------------------------------------------------------------------------------


def access_key_create(
    *,
    server: Server,
    name: str,
    scopes: Iterable[str] | None = None,
    tools: Iterable[str] | None = None,
) -> tuple[AccessKey, str]:
    """A new key (and its secret, to show once) granting SCOPES (default: `tools:call`) and,
    when TOOLS names any, only those tools of the server (by name; any name that is no tool of
    the server is a 400 that lists them)."""
    scope = scope_of(scopes)
    allowed = tools_named(server=server, names=tools) if tools is not None else None
    secret = new_secret(ACCESS_KEY_PREFIX)
    with transaction.atomic():
        key = AccessKey.objects.create(
            server=server,
            name=name,
            prefix=display_prefix(secret),
            key_hash=hash_secret(secret),
            scope=scope,
            restricts_tools=allowed is not None,
        )
        if allowed:
            key.tools.set(allowed)
        server_touch(server=server)
    return key, secret


UNCHANGED: Any = object()
"""The default of an update's optional arguments that may also be None: leave it as it is."""


def access_key_update(
    *,
    server: Server,
    key_id: Any,
    name: str | None = None,
    scopes: Iterable[str] | None = None,
    tools: Iterable[str] | None = UNCHANGED,
) -> AccessKey:
    """Rename a key in use, or change what it may do: SCOPES replace its scopes, TOOLS its
    allowlist (None: no allowlist any more); what is not given stays. The secret stays too."""
    key = AccessKey.objects.filter(server=server, pk=key_id, revoked_at__isnull=True).first()
    if key is None:
        raise NotFound("Access key not found")
    fields = []
    if name is not None:
        key.name = name
        fields.append("name")
    if scopes is not None:
        key.scope = scope_of(scopes)
        fields.append("scope")
    allowed = None
    if tools is not UNCHANGED:
        allowed = tools_named(server=server, names=tools) if tools is not None else None
        key.restricts_tools = allowed is not None
        fields.append("restricts_tools")
    with transaction.atomic():
        key.save(update_fields=[*fields, "updated_at"])
        if tools is not UNCHANGED:
            key.tools.set(allowed or [])
        server_touch(server=server)
    return key


def scope_of(scopes: Iterable[str] | None) -> str:
    """The strongest of SCOPES (None: the default scope); a 400 naming every unknown one."""
    if scopes is None:
        return DEFAULT_SCOPE
    scopes = list(scopes)
    unknown = unknown_scopes(scopes)
    if unknown or not scopes:
        known = ", ".join(SCOPES)
        problems = [f"Unknown scope {scope!r}; use {known}." for scope in unknown]
        raise ValidationFailed(
            "Unknown scopes" if unknown else "No scope given",
            details={"scopes": problems or [f"Give at least one of {known}."]},
        )
    return strongest_scope(scopes)


def tools_named(*, server: Server, names: Iterable[str]) -> list[Tool]:
    """The server's tools (enabled or not) with these NAMES; a 400 listing the unknown ones."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise ValidationFailed(
            "No tool given",
            details={"tools": ["Name at least one tool, or leave tools out to allow every tool."]},
        )
    found = list(Tool.objects.filter(server=server, name__in=wanted).only("id", "name"))
    unknown = sorted(set(wanted) - {tool.name for tool in found})
    if unknown:
        raise ValidationFailed(
            "Unknown tools",
            details={
                "tools": [f"The server has no tool named {name!r}." for name in unknown],
                "unknown": unknown,
            },
        )
    return found


def access_key_revoke(*, server: Server, key_id: Any) -> None:
    with transaction.atomic():
        revoked = AccessKey.objects.filter(
            server=server, pk=key_id, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if not revoked:
            raise NotFound("Access key not found")
        server_touch(server=server)


def server_check_update(*, server: Server, changes: dict[str, Any]) -> None:
    """Raise what `server_update` would refuse for CHANGES, without writing anything.

    For forms that must show the refusal beside the field (the admin) before saving.
    """
    if "slug" in changes and changes["slug"] != server.slug:
        if not SLUG_PATTERN.match(changes["slug"]):
            raise ValidationFailed(
                "Invalid slug",
                details={"slug": ["Use lowercase letters, digits and inner hyphens (1-64)."]},
            )
        _check_slug_free(changes["slug"], exclude=server.pk)
    if "base_url" in changes:
        _absolute_http_url(changes["base_url"], "base_url")


def access_keys_revoke(*, keys: Iterable[AccessKey]) -> int:
    """Revoke every key given that is not revoked yet; the count revoked. Revoking is final."""
    revoked = 0
    with transaction.atomic():
        for key in keys:
            if key.revoked_at is not None:
                continue
            access_key_revoke(server=key.server, key_id=key.pk)
            revoked += 1
    return revoked


def access_keys_delete(*, keys: Iterable[AccessKey]) -> int:
    """Delete keys outright (revoking keeps the record; this is for cleaning up)."""
    return server_rows_delete(model=AccessKey, rows=keys)
