"""Linking a person's own upstream account (an oauth2AuthorizationCode credential): the
connect page and the provider's callback.

The connect page (`/oauth/upstream/connect/<server>`) needs the person signed in, as the
consent page does, and says whose account goes where: "link your <provider> account to
<server> as <you>". Only on approval does it pick a fresh `state`, keep it with the PKCE
verifier in the signed-in session, set a short-lived cookie holding the same state, and send
the browser to the provider. The callback accepts a code only when its `state` is the cookie's
and one the signed-in session started, once: a provider URL or a callback URL someone else
opens (another person, another browser) cannot store tokens under anyone's identity.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApiError
from credentials import connections
from credentials.models import Credential
from servers.models import Server
from servers.selectors import user_may_use

from . import sign_in as session
from .views import no_framing

PENDING = "upstream_links"
PENDING_MAX = 5


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return no_framing(render(request, "authz/upstream.html", context, status=status))


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return _page(request, {"error": message}, status)


@xframe_options_deny
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest, server_id: UUID) -> HttpResponse:
    user = session.signed_in_user(request)
    if user is None:
        if request.method != "GET":
            return _refused(request, "Sign-in expired; open the link again.")
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse('authz:sign-in')}?{query}")
    server = Server.objects.filter(id=server_id, status="active").first()
    if server is None or not user_may_use(
        user=user, server=server, org_id=session.signed_in_org(request)
    ):
        return _refused(request, "This is not a server you may use.", 404)
    try:
        credential = connections.link_credential(
            server_id=server.id, scheme=request.GET.get("scheme")
        )
    except ApiError as exc:
        return _refused(request, exc.message, exc.status_code)
    if request.method == "GET":
        return _page(
            request,
            {
                "link": connections.connection_link_page(credential=credential),
                "signed_in_as": user.email or user.clerk_id,
            },
        )
    if request.POST.get("approve") != "true":
        return _page(request, {"cancelled": True})
    state = secrets.token_urlsafe(32)
    start = connections.connection_link_start(credential=credential, state=state)
    pending = dict(request.session.get(PENDING) or {})
    # The newest few only: links opened and abandoned do not pile up in the session.
    for old in sorted(pending, key=lambda key: pending[key]["at"])[: -PENDING_MAX + 1]:
        pending.pop(old)
    pending[state] = {
        "user": str(user.pk),
        "credential": str(credential.pk),
        "verifier": start.verifier,
        "at": time.time(),
    }
    request.session[PENDING] = pending
    response = HttpResponseRedirect(start.url)
    response.set_cookie(
        settings.UPSTREAM_LINK_COOKIE_NAME,
        state,
        max_age=settings.UPSTREAM_LINK_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",  # sent on the provider's redirect back, a top-level GET
    )
    return no_framing(response)


@xframe_options_deny
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    cookie = request.COOKIES.get(settings.UPSTREAM_LINK_COOKIE_NAME, "")
    user = session.signed_in_user(request)
    # Single use: the state leaves the session whatever happens next.
    pending_all = dict(request.session.get(PENDING) or {})
    pending = pending_all.pop(state, None) if state else None
    if pending is not None:
        request.session[PENDING] = pending_all
    if (
        user is None
        or pending is None
        or not cookie
        or not hmac.compare_digest(cookie, state)
        or pending["user"] != str(user.pk)
        or time.time() - float(pending["at"]) > settings.UPSTREAM_LINK_SECONDS
    ):
        return _done(
            request,
            _refused(
                request,
                "This link was not started here by you, was already used, or expired. "
                "Open the link from your tool again.",
            ),
        )
    if "error" in request.GET:
        return _done(
            request, _refused(request, f"The provider did not link: {request.GET['error'][:100]}")
        )
    credential = (
        Credential.objects.select_related("server")
        .filter(pk=pending["credential"], type=connections.TYPE)
        .first()
    )
    if credential is None:
        return _done(request, _refused(request, "The server no longer links this account."))
    try:
        connections.connection_complete(
            user=user,
            credential=credential,
            code=request.GET.get("code", ""),
            verifier=pending["verifier"],
        )
    except ApiError as exc:
        return _done(request, _refused(request, exc.message, 502))
    page = _page(
        request,
        {
            "linked": connections.connection_link_page(credential=credential),
            "signed_in_as": user.email or user.clerk_id,
        },
    )
    return _done(request, page)


def _done(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    response.delete_cookie(settings.UPSTREAM_LINK_COOKIE_NAME, samesite="Lax")
    return response
