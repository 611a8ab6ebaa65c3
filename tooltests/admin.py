"""Tool tests in the admin: what a user's test sent and received, and why it failed, in words.

Read-only. Stored tests were scrubbed when they ran; the page scrubs them again with the
server's credentials as they are now, so a record stored before a scrubbing fix, or before a
secret was added, shows no secret either.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from core.admin import ChosenObjectFilter, admin_link
from core.scrub import scrubber_for
from credentials.injection import stored_secrets
from tools.calling import UPSTREAM_ERROR_MESSAGES

from .models import ToolTest

UPSTREAM_WORDS = {
    "connect": "Connection failed: nothing answered at the server's base URL (connection "
    "refused, or the host could not be resolved or reached).",
    "timeout": "Timed out: the upstream API did not answer in time.",
}
OTHER_WORDS = {
    "invalid_arguments": "The arguments do not fit the tool's input schema: nothing was sent.",
    "credential_unreadable": "The server's credential could not be decrypted (its encryption "
    "key is no longer configured?): nothing was sent.",
    "oauth_token_unreachable": "The OAuth2 token endpoint could not be reached: nothing was "
    "sent to the API.",
    "oauth_token_rejected": "The OAuth2 token endpoint refused the client id and secret.",
    "oauth_token_invalid": "The OAuth2 token endpoint answered without a usable token.",
    "queue_unavailable": "The test could not be queued (the task queue was down).",
    "internal_error": "Specgate failed while running the test (see the worker's log).",
}


def _status_words(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def explain(test: ToolTest) -> str:
    """Why a test ended as it did, in a sentence an operator can act on."""
    code = test.error_code
    if test.status == "pending":
        return "Queued; not run yet."
    if code.startswith("http_") or (not code and test.status_code and test.status_code >= 400):
        status = test.status_code or int(code.removeprefix("http_") or 0)
        if status in (401, 403):
            return (
                f"The upstream API refused the request: HTTP {_status_words(status)}. "
                "Check the server's credential (missing, wrong or without permission)."
            )
        if status == 429:
            return f"The upstream API rate-limited the call: HTTP {_status_words(status)}."
        if 400 <= status < 500:
            return (
                f"The upstream API refused the request: HTTP {_status_words(status)} "
                "(a client error: the arguments, path or credential)."
            )
        return f"The upstream API failed: HTTP {_status_words(status)} (an error on its side)."
    if code.startswith("upstream_"):
        kind = code.removeprefix("upstream_")
        return UPSTREAM_WORDS.get(kind) or UPSTREAM_ERROR_MESSAGES.get(
            kind, f"The upstream call failed ({kind})."
        )
    if code:
        return OTHER_WORDS.get(code, f"Failed: {code}.")
    if test.status_code:
        return f"The upstream API answered HTTP {_status_words(test.status_code)}."
    return "Succeeded."


def _pretty(value: Any) -> str:
    if value in (None, {}, []):
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<div class="specgate-readable"><pre>{}</pre></div>', text)


@admin.register(ToolTest)
class ToolTestAdmin(admin.ModelAdmin):
    list_display = [
        "tool_name",
        "server_name",
        "status",
        "status_code",
        "why",
        "upstream_ms",
        "user",
        "created_at",
    ]
    list_filter = [
        "status",
        "error_code",
        ("user", ChosenObjectFilter),
        ("server", ChosenObjectFilter),
    ]
    search_fields = ["tool_name", "server_name", "=server__slug", "user__email", "=error_code"]
    list_select_related = ["user"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "id",
        "user_link",
        "server_link",
        "tool_link",
        "status",
        "why",
        "status_code",
        "error_code",
        "error_message",
        "pretty_arguments",
        "pretty_request",
        "pretty_response",
        "pretty_result",
        "upstream_ms",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        test = super().get_object(request, object_id, from_field)
        if test is not None:
            # Only ever shown: the admin cannot change a test, so nothing here is saved.
            scrubber = scrubber_for(stored_secrets(str(test.server_id)))
            test.arguments = scrubber.scrub_json(test.arguments)
            test.result = scrubber.scrub_json(test.result)
            test.request = scrubber.scrub_json(test.request)
            test.response = scrubber.scrub_json(test.response)
            test.error_message = scrubber.scrub(test.error_message)
        return test

    @admin.display(description="Why")
    def why(self, obj: ToolTest) -> str:
        return explain(obj)

    @admin.display(description="User")
    def user_link(self, obj: ToolTest) -> str:
        return admin_link(obj.user)

    @admin.display(description="Server")
    def server_link(self, obj: ToolTest) -> str:
        return admin_link(obj.server)

    @admin.display(description="Tool")
    def tool_link(self, obj: ToolTest) -> str:
        return admin_link(obj.tool)

    @admin.display(description="Arguments")
    def pretty_arguments(self, obj: ToolTest) -> str:
        return _pretty(obj.arguments)

    @admin.display(description="Request sent")
    def pretty_request(self, obj: ToolTest) -> str:
        return _pretty(obj.request)

    @admin.display(description="Response received")
    def pretty_response(self, obj: ToolTest) -> str:
        return _pretty(obj.response)

    @admin.display(description="Result (what the MCP client got)")
    def pretty_result(self, obj: ToolTest) -> str:
        return _pretty(obj.result)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
