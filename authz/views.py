"""The authorization server's HTTP side: metadata, sign-in, consent, and the protocol
endpoints of django-oauth-toolkit wrapped with CORS.

Endpoints (README: "Connecting MCP clients with OAuth"):
- `/.well-known/oauth-authorization-server` (RFC 8414) and, per server,
  `/.well-known/oauth-protected-resource/mcp/<slug>` (RFC 9728);
- `/oauth/register` (RFC 7591), `/oauth/authorize`, `/oauth/token`, `/oauth/revoke` (RFC 7009);
- `/oauth/sign-in`: the page the authorization endpoint sends a signed-out browser to.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlsplit, urlunsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import Application
from oauth2_provider.views import AuthorizationView, RevokeTokenView, TokenView
from oauth2_provider.views.dynamic_client_registration import DynamicClientRegistrationView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from core.scopes import SCOPES, TOOLS_CALL, implied_scopes, strongest_scope
from credentials.connections import CONNECT_PATH
from servers.models import Server
from servers.selectors import server_for_mcp_url, server_mcp_url, user_may_use
from usage import ratelimit

from . import sign_in as session
from .client_metadata import ClientMetadataError, fetch_client_metadata, is_client_id_url
from .cors import open_cors
from .selectors import grant_allowlist
from .services import client_from_metadata
from .tokens import issuer

SCOPE_WORDS = {
    "tools:read": "See the list of this server's tools (call none of them)",
    "tools:call:readonly": "List tools and call those that only read (change nothing)",
    "tools:call": "List and call every enabled tool, including ones that change data",
}


def _url(name: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse(name)}"


@open_cors
@require_GET
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    """RFC 8414."""
    return JsonResponse(
        {
            "issuer": issuer(),
            "authorization_endpoint": _url("authz:authorize"),
            "token_endpoint": _url("authz:token"),
            "registration_endpoint": _url("authz:register"),
            "revocation_endpoint": _url("authz:revoke"),
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_post",
                "client_secret_basic",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "none",
                "client_secret_post",
                "client_secret_basic",
            ],
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
            "service_documentation": f"{settings.PUBLIC_BASE_URL}/api/docs",
        }
    )


@open_cors
@require_GET
def protected_resource_metadata(request: HttpRequest, slug: str) -> JsonResponse:
    """RFC 9728, one document per private or shared server: `resource` is exactly its
    mcpUrl."""
    server = (
        Server.objects.filter(slug=slug, status="active", user__is_active=True)
        .exclude(visibility="public")
        .only("name", "slug")
        .first()
    )
    if server is None:
        raise Http404("No server that needs authorization here")
    return JsonResponse(
        {
            "resource": server_mcp_url(slug=server.slug),
            "authorization_servers": [issuer()],
            "scopes_supported": list(SCOPES),
            "bearer_methods_supported": ["header"],
            "resource_name": server.name,
        }
    )


def _safe_next(request: HttpRequest) -> str:
    """Where to go after signing in: only back into the authorization endpoint or the page
    that links an upstream account."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts=None, require_https=request.is_secure()
    ) or not target.startswith((reverse("authz:authorize"), f"{CONNECT_PATH}/")):
        return ""
    return target


@xframe_options_deny
def sign_in_page(request: HttpRequest) -> HttpResponse:
    """Sign in for the authorization flow: Clerk's sign-in page when configured (its session
    cookie on the way back), or a pasted token (`manage.py create_token`, `sgp_` token)."""
    next_url = _safe_next(request)
    error = ""
    if request.method == "POST" or (settings.CLERK_SIGN_IN_URL and "__session" in request.COOKIES):
        address = request.META.get("REMOTE_ADDR", "")
        limit = ratelimit.Limit(f"oauth:sign-in:{address}", settings.OAUTH_SIGN_INS_PER_MINUTE)
        if ratelimit.hit([limit]) is not None:
            error = "Too many sign-in attempts; wait a minute and try again."
        else:
            token = (
                request.POST.get("token", "")
                if request.method == "POST"
                else request.COOKIES["__session"]
            )
            try:
                user, org_id = session.user_for_token(token)
            except session.SignInFailed as exc:
                error = str(exc)
            else:
                session.sign_in(request, user, org_id)
                return HttpResponseRedirect(next_url or reverse("authz:signed-in"))
    elif settings.CLERK_SIGN_IN_URL:
        back = (
            f"{settings.PUBLIC_BASE_URL}{reverse('authz:sign-in')}?{urlencode({'next': next_url})}"
        )
        return HttpResponseRedirect(
            f"{settings.CLERK_SIGN_IN_URL}?{urlencode({'redirect_url': back})}"
        )
    response = render(
        request,
        "authz/sign_in.html",
        {"next": next_url, "error": error},
        status=400 if error else 200,
    )
    return no_framing(response)


@xframe_options_deny
def signed_in_page(request: HttpRequest) -> HttpResponse:
    return no_framing(render(request, "authz/signed_in.html"))


def no_framing(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response["Cache-Control"] = "no-store"
    # Not "no-referrer": browsers then send `Origin: null` with the forms, which CSRF refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


def _invalid_target(state: str | None, redirect_uri: str, description: str) -> OAuthToolkitError:
    return OAuthToolkitError(
        error=CustomOAuth2Error(error="invalid_target", description=description, state=state),
        redirect_uri=redirect_uri,
    )


@method_decorator(xframe_options_deny, name="dispatch")
class ConsentView(AuthorizationView):
    """The authorization endpoint: django-oauth-toolkit's checks (client, exact redirect URI,
    PKCE), then ours: S256 only, and exactly one `resource`, the mcpUrl of a server the
    signed-in user may use. Signed-out browsers go to the sign-in page first."""

    template_name = "authz/consent.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = session.signed_in_user(request)
        if user is None:
            if request.method != "GET":
                return no_framing(HttpResponse("Sign-in expired; start again.", status=400))
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('authz:sign-in')}?{query}")
        request.user = user
        # Read by the validator when it saves the code (`save_authorization_code`): the grant
        # remembers the organisation its user was admitted with.
        user.specgate_org = session.signed_in_org(request)  # type: ignore[attr-defined]
        client_id = request.GET.get("client_id", "") if request.method == "GET" else ""
        if is_client_id_url(client_id):
            # A Client ID Metadata Document: the client is whatever its https URL says, fetched
            # (through the outbound guard, cached) instead of looked up among registrations.
            try:
                client_from_metadata(metadata=fetch_client_metadata(client_id))
            except ClientMetadataError as exc:
                # No redirect: nothing vouches for the redirect URI of an unusable document.
                error = {"error": "invalid_client", "description": exc.message}
                return no_framing(
                    render(request, "authz/consent.html", {"error": error}, status=400)
                )
        return no_framing(super().dispatch(request, *args, **kwargs))

    def redirect(self, redirect_to: str, application: Application | None) -> HttpResponse:
        """Every redirect back to the client names the issuer (RFC 9207), errors included."""
        parts = urlsplit(redirect_to)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(name == "iss" for name, _ in query):
            redirect_to = urlunsplit(parts._replace(query=urlencode([*query, ("iss", issuer())])))
        return super().redirect(redirect_to, application)

    def validate_authorization_request(self, request: HttpRequest) -> tuple[Any, Any]:
        scopes, credentials = super().validate_authorization_request(request)
        state, redirect_uri = credentials.get("state"), credentials["redirect_uri"]
        if credentials.get("code_challenge_method") != "S256":
            raise OAuthToolkitError(
                error=CustomOAuth2Error(
                    error="invalid_request",
                    description="PKCE with code_challenge_method S256 is required.",
                    state=state,
                ),
                redirect_uri=redirect_uri,
            )
        self.server = self._server_for(request.GET.getlist("resource"), state, redirect_uri)
        return scopes, credentials

    def _server_for(self, resources: list[str], state: str | None, redirect_uri: str) -> Server:
        if len(resources) != 1:
            raise _invalid_target(
                state, redirect_uri, "Exactly one resource (the mcpUrl) is required."
            )
        server = server_for_mcp_url(url=resources[0])
        user = self.request.user
        org_id = getattr(user, "specgate_org", "")
        if server is None or not user_may_use(user=user, server=server, org_id=org_id):
            raise _invalid_target(state, redirect_uri, "The resource is not a server you may use.")
        return server

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        application: Application | None = context.get("application")
        if application is None:  # a tampered form: the error is all there is to show
            return context
        scopes = [scope for scope in context.get("scopes", []) if scope in SCOPES]
        strongest = strongest_scope(scopes) if scopes else TOOLS_CALL
        context.update(
            server=self.server,
            client_name=application.name or "An unnamed client",
            verified=application.registration_source == Application.RegistrationSource.CIMD,
            client_id=application.client_id,
            redirect_host=urlparse(context.get("redirect_uri") or "").netloc,
            # The person may grant less than the client asked for, never more.
            scope_choices=[
                {"scope": scope, "words": SCOPE_WORDS[scope], "asked": scope == strongest}
                for scope in reversed(implied_scopes(strongest))
            ],
            signed_in_as=self.request.user,
            shared_caller=self.server.user_id != self.request.user.pk,
            kept_tools=grant_allowlist(
                user=self.request.user, application=application, server=self.server
            ),
        )
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        resources = (form.cleaned_data.get("resource") or "").split()
        try:
            self.server = self._server_for(
                resources, form.cleaned_data.get("state"), form.cleaned_data["redirect_uri"]
            )
        except OAuthToolkitError as error:
            application = Application.objects.filter(
                client_id=form.cleaned_data["client_id"]
            ).first()
            return self.error_response(error, application)
        return super().form_valid(form)


token = open_cors(TokenView.as_view())
revoke = open_cors(RevokeTokenView.as_view())
_register = DynamicClientRegistrationView.as_view()


@open_cors
@csrf_exempt
def register(request: HttpRequest) -> HttpResponse:
    """RFC 7591, open to anonymous clients as MCP needs: OAUTH_REGISTRATIONS_PER_MINUTE a
    minute per client address; registrations never used expire (`unused_clients_delete`)."""
    if request.method == "POST":
        address = request.META.get("REMOTE_ADDR", "")
        limit = ratelimit.Limit(
            f"oauth:register:{address}", settings.OAUTH_REGISTRATIONS_PER_MINUTE
        )
        wait = ratelimit.hit([limit])
        if wait is not None:
            response = JsonResponse(
                {
                    "error": "slow_down",
                    "error_description": "Too many registrations from this address.",
                },
                status=429,
            )
            response["Retry-After"] = str(wait.seconds)
            return response
    return _register(request)
