"""Tool tests (docs/api.md): validate, queue after commit, run on a worker, wait briefly.

The endpoint creates a ToolTest row and queues `tooltests.tasks.run_tool_test` (registered as
"tools.run_tool_test") with its id once the row is committed, then polls the row for up to
TOOL_TEST_WAIT_SECONDS. The task makes the same call an MCP client would
(tools.calling.execute_call, with the server's credentials), stores the outcome with secrets
redacted and scrubbed, and writes one request log (source "test") that counts as usage like
any MCP call.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from accounts.models import User
from core.errors import NotFound, ValidationFailed
from core.http import upstream_options
from core.scrub import scrubber_for
from core.text import first_unstorable
from credentials.injection import known_secrets, provider
from servers.models import Server
from tools.calling import CallOutcome, CallTarget, execute_call
from tools.models import Tool
from tools.projection import advertised_input_schema, select_argument
from tools.results import error_result
from tooltests.models import ToolTest
from usage.limits import ensure_tool_call_allowed
from usage.recorder import record_now
from usage.writer import CallRecord

logger = logging.getLogger(__name__)

CLIENT_NAME = "Specgate tool test"
MAX_ARGUMENT_PROBLEMS = 50
FIRST_POLL_SECONDS = 0.005
LONGEST_POLL_SECONDS = 0.1


def tool_test_start(
    *, user: User, server_id: Any, tool_id: Any, arguments: dict[str, Any]
) -> ToolTest:
    """Validate the arguments, store a pending test and queue it once that is committed."""
    tool = _tool_of(user=user, server_id=server_id, tool_id=tool_id)
    # The arguments an MCP client may send, the reserved selection argument included.
    schema = tool.operation.input_schema
    _validate_arguments(advertised_input_schema(schema, select_argument(schema)), arguments)
    # A tool test is a tool call (docs/api.md, limits): quota and budget cap apply to it too.
    ensure_tool_call_allowed(user_id=user.pk)
    test = ToolTest.objects.create(
        user=user,
        server=tool.server,
        tool=tool,
        server_name=tool.server.name,
        tool_name=tool.name,
        arguments=arguments,
    )
    test_id = str(test.id)
    transaction.on_commit(lambda: _enqueue(test_id))
    return test


def tool_test_wait(*, test_id: Any, timeout: float) -> ToolTest:
    """The test once it has finished, or as it stands when TIMEOUT seconds have passed."""
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL_SECONDS
    while True:
        test = ToolTest.objects.get(pk=test_id)
        remaining = deadline - time.monotonic()
        if test.status != "pending" or remaining <= 0:
            return test
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, LONGEST_POLL_SECONDS)


def tool_test_get(*, user: User, server_id: Any, tool_id: Any, test_id: Any) -> ToolTest:
    test = ToolTest.objects.filter(
        id=test_id, tool_id=tool_id, server_id=server_id, server__user=user
    ).first()
    if test is None:
        raise NotFound("Tool test not found")
    return test


def tool_test_run(*, test_id: Any) -> None:
    """The worker's part: claim the test, call the upstream, store and log the outcome."""
    claimed = ToolTest.objects.filter(pk=test_id, status="pending", started_at__isnull=True).update(
        started_at=timezone.now()
    )
    if not claimed:
        # Already run (a redelivered message) or deleted with its server.
        logger.info("Tool test %s is not pending; nothing to run", test_id)
        return
    test = ToolTest.objects.select_related("server", "tool__operation").get(pk=test_id)
    target = CallTarget.for_tool(test.tool)
    try:
        outcome = async_to_sync(execute_call)(
            target,
            test.arguments,
            provider=provider,
            options=upstream_options(propagate_trace=test.server.trace_propagation),
            max_json_bytes=settings.TOOL_RESULT_JSON_MAX_BYTES,
            # Only a server's owner runs its tool tests: as themselves, with their own
            # linked upstream account where the server asks each caller for theirs.
            caller_id=str(test.server.user_id),
        )
    except Exception:
        logger.exception("Tool test %s crashed", test_id)
        outcome = CallOutcome(
            result=error_result("The test could not be run."), error_code="internal_error"
        )
    _store(test, outcome, secrets=known_secrets(target.server_id))
    logger.info(
        "Tool test %s of tool %s ran: %s, upstream status %s, %d ms",
        test_id,
        target.tool_id,
        outcome.error_code or "ok",
        outcome.status_code,
        outcome.duration_ms,
    )
    record_now(CallRecord.for_call(target, outcome, source="test", client_name=CLIENT_NAME))


def is_upstream_error(code: str) -> bool:
    """Whether an `error` test failed because an upstream (API or token endpoint) did."""
    return code.startswith(("upstream_", "oauth_token_"))


# --- Internals ---------------------------------------------------------------------------------


def _tool_of(*, user: User, server_id: Any, tool_id: Any) -> Tool:
    server = Server.objects.filter(user=user, id=server_id).first()
    if server is None:
        raise NotFound("Server not found")
    tools = Tool.objects.select_related("server", "operation")
    tool = tools.filter(server=server, id=tool_id).first()
    if tool is None:
        raise NotFound("Tool not found")
    return tool


def _validate_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    unstorable = first_unstorable(arguments)
    if unstorable is not None:
        raise ValidationFailed(
            "The arguments contain a NUL character or an unpaired UTF-16 surrogate",
            details={"arguments": [f"Not allowed in {unstorable[:40]!r}."]},
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        # A schema the engine produced but jsonschema rejects is not the caller's fault.
        logger.warning("Skipping argument validation: the tool's input schema is invalid")
        return
    problems: dict[str, list[str]] = {}
    errors = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: e.json_path)
    for error in errors[:MAX_ARGUMENT_PROBLEMS]:
        field = "arguments" + error.json_path[1:]
        problems.setdefault(field, []).append(error.message)
    if problems:
        message = "The arguments do not match the tool's input schema"
        raise ValidationFailed(message, details=problems)


def _enqueue(test_id: str) -> None:
    from .tasks import run_tool_test

    try:
        run_tool_test.delay(test_id)
    except Exception:
        logger.exception("Could not queue tool test %s", test_id)
        ToolTest.objects.filter(pk=test_id, status="pending").update(
            status="error",
            error_code="queue_unavailable",
            error_message="The test could not be queued; try again shortly.",
            finished_at=timezone.now(),
        )


def _status_of(outcome: CallOutcome) -> str:
    if outcome.reached_upstream or outcome.error_code == "invalid_arguments":
        return "succeeded" if outcome.succeeded else "failed"
    return "error"


def _store(test: ToolTest, outcome: CallOutcome, *, secrets: tuple[str, ...]) -> None:
    # Every string, keys included, in every spelling: the call scrubbed what it showed with the
    # credentials it sent; this adds every other secret of the server.
    scrubber = scrubber_for(secrets)
    test.status = _status_of(outcome)
    test.result = scrubber.scrub_json(outcome.result)
    test.request = scrubber.scrub_json(outcome.request) or None
    test.response = scrubber.scrub_json(outcome.response)
    test.status_code = outcome.status_code
    test.upstream_ms = outcome.upstream_ms
    if test.status == "error":
        test.error_code = outcome.error_code
        test.error_message = _first_text(test.result)
    test.finished_at = timezone.now()
    test.save(
        update_fields=[
            "status",
            "result",
            "request",
            "response",
            "status_code",
            "upstream_ms",
            "error_code",
            "error_message",
            "finished_at",
            "updated_at",
        ]
    )


def _first_text(result: dict[str, Any]) -> str:
    for block in result.get("content", []):
        if block.get("type") == "text":
            return str(block.get("text", ""))
    return ""
