"""Run the shipped topology and check it end to end (called by scripts/shipped_topology.sh).

    .venv/bin/python scripts/shipped_check.py --venv RUNTIME_VENV --database-url URL \
        --redis-url URL --work DIR

RUNTIME_VENV holds the runtime requirements only, installed the way the Dockerfile installs
them. From it, with its bin/ first on PATH and nothing else of this environment, this runs
docker-compose.yml's own commands: web (migrate, collectstatic, then
`gunicorn -c config/gunicorn.py config.asgi:application`), worker (`celery -A config worker`)
and beat (`celery -A config beat`), on the PostgreSQL and Redis given, with Stripe pointed at
a local fake (billing/testing.py) and test webhook secrets. This process is only a client:

- the compose healthchecks of web, worker and beat pass, and /readyz is 200 with every check ok;
- docs/walkthrough.md's steps (scripts/walkthrough.py) pass against it, with the example
  upstream on loopback;
- a tool test is answered by the worker: the web does not run it (not eager), the worker's
  log shows the task received and succeeded, and the result comes back to the request;
- a signed Stripe checkout.session.completed is processed by the worker: the user's plan
  becomes "starter" (GET /api/billing/subscription), re-read from the fake Stripe;
- a signed Clerk (svix) user.deleted is processed by the worker: the user's token is refused;
- after a graceful stop, no "Traceback" in the web, worker or beat logs.

Everything it starts is stopped, also on failure; the logs stay in DIR and their tails are
printed on failure. Exit status 1 names the failed check.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import yaml
from cryptography.fernet import Fernet
from svix.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import walkthrough  # noqa: E402  (scripts/, next to this file)
from walkthrough import (  # noqa: E402
    StepFailed,
    check,
    expect,
    free_port,
    started,
    tail,
    wait_until,
)

from accounts.local_issuer import subject_for_email  # noqa: E402
from billing.testing import (  # noqa: E402
    TEST_PRICES,
    FakeStripe,
    deliver_stripe_event,
    stripe_event,
    subscription_object,
)

STRIPE_SECRET_KEY = "sk_test_shipped_topology_123"
STRIPE_WEBHOOK_SECRET = "whsec_shipped_topology_test"
CLERK_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"shipped-topology-clerk-secret-32").decode()
# Celery's own lines: "Task tools.run_tool_test[<id>] received" / "... succeeded in 0.1s".
TASK_LINE = r"Task {name}\[[0-9a-f-]+\] {what}"
STARTUP_SECONDS = 120.0
PROCESSED_SECONDS = 60.0
BEGAN = time.monotonic()


def step(title: str) -> None:
    print(f"==> [{time.monotonic() - BEGAN:.0f}s] {title}", flush=True)


class Log:
    """A process's log file, read from a mark on: what happened after a given moment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int) -> str:
        with self.path.open("rb") as handle:
            handle.seek(mark)
            return handle.read().decode(errors="replace")

    def text(self) -> str:
        return self.since(0)


def eventually(
    condition: Callable[[], bool], what: str, seconds: float = PROCESSED_SECONDS
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise StepFailed(f"{what}: not within {seconds:.0f}s")
        time.sleep(1.0)  # REST polls count against the free plan's 60 requests a minute


def worker_ran(log: Log, mark: int, task: str) -> bool:
    """The worker's log shows TASK received and succeeded since MARK."""
    seen = log.since(mark)
    return all(
        re.search(TASK_LINE.format(name=re.escape(task), what=what), seen)
        for what in ("received", "succeeded")
    )


def compose_services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def compose_command(service: dict[str, Any], key: str, replacements: dict[str, str]) -> list[str]:
    """A compose command or healthcheck as an argv, with container paths made local."""
    value = service[key] if key == "command" else service["healthcheck"]["test"]
    argv = shlex.split(value) if isinstance(value, str) else list(value)
    if argv and argv[0] == "CMD":
        argv = argv[1:]
    for old, new in replacements.items():
        argv = [arg.replace(old, new) for arg in argv]
    return argv


def app_env(args: argparse.Namespace, data_dir: Path, port: int, stripe_url: str) -> dict[str, str]:
    """What the containers get: compose's variables with test values, and no dev environment."""
    venv_bin = Path(args.venv).resolve() / "bin"
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        # config/gunicorn.py's bind; compose publishes 8000, here a free port.
        "BIND": f"127.0.0.1:{port}",
        # The walkthrough's upstream listens on loopback.
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "CLERK_WEBHOOK_SECRET": CLERK_WEBHOOK_SECRET,
        **TEST_PRICES,
    }
    return env


def post_stripe(base_url: str, event_type: str, obj: dict[str, Any]) -> None:
    body = stripe_event(event_type, obj, event_id=f"evt_shipped_{secrets.token_hex(6)}")
    delivered = deliver_stripe_event(base_url, body, STRIPE_WEBHOOK_SECRET)
    check(delivered.status_code == 200, f"Stripe {event_type}: {delivered.status_code}")


def post_clerk(base_url: str, event_type: str, data: dict[str, Any]) -> None:
    body = json.dumps({"object": "event", "type": event_type, "data": data})
    msg_id, now = f"msg_shipped_{secrets.token_hex(6)}", datetime.now(UTC)
    delivered = httpx2.post(
        f"{base_url}/api/webhooks/clerk",
        content=body.encode(),
        headers={
            "Content-Type": "application/json",
            "svix-id": msg_id,
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": Webhook(CLERK_WEBHOOK_SECRET).sign(msg_id, now, body),
        },
        timeout=30,
    )
    check(delivered.status_code == 200, f"Clerk {event_type}: {delivered.status_code}")


def plan_of(api: httpx2.Client) -> str | None:
    answered = api.get("/api/billing/subscription")
    return answered.json()["data"]["plan"] if answered.status_code == 200 else None


def stop_gracefully(process: subprocess.Popen, seconds: float = 40.0) -> int:
    """SIGTERM to the process alone, as `docker stop` sends it to PID 1; its exit status."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        walkthrough.stop(process)
        raise StepFailed(
            f"pid {process.pid} did not stop within {seconds:.0f}s of SIGTERM"
        ) from None


def shipped(args: argparse.Namespace, work: Path, stack: ExitStack) -> None:
    services = compose_services()
    data_dir = work / "data"
    data_dir.mkdir(mode=0o700)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    replacements = {"/data": str(data_dir), "127.0.0.1:8000": f"127.0.0.1:{port}"}
    fake = stack.enter_context(FakeStripe())
    env = app_env(args, data_dir, port, fake.url)
    logs = {name: Log(work / f"{name}.log") for name in ("web", "worker", "beat")}
    processes: dict[str, subprocess.Popen] = {}

    web_command = compose_command(services["web"], "command", replacements)
    check(
        "gunicorn -c config/gunicorn.py config.asgi:application" in " ".join(web_command),
        f"compose's web command is not the production one: {web_command}",
    )
    step(f"web: {shlex.join(web_command)} (BIND=127.0.0.1:{port})")
    processes["web"] = stack.enter_context(started(web_command, env, logs["web"].path))
    wait_until(
        lambda: httpx2.get(f"{base_url}/healthz").status_code == 200,
        processes["web"], logs["web"].path, "web", STARTUP_SECONDS,
    )  # fmt: skip
    for name in ("worker", "beat"):
        command = compose_command(services[name], "command", replacements)
        step(f"{name}: {shlex.join(command)}")
        processes[name] = stack.enter_context(started(command, env, logs[name].path))

    step("Compose healthchecks of web, worker and beat")
    for name in ("web", "worker", "beat"):
        probe = compose_command(services[name], "healthcheck", replacements)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if processes[name].poll() is not None:
                raise StepFailed(
                    f"{name} exited with {processes[name].returncode}:\n{tail(logs[name].path)}"
                )
            done = subprocess.run(
                probe, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"{name} healthcheck {probe} failing: {done.stderr[-1000:]}")
            time.sleep(1)
        print(f"    {name}: {shlex.join(probe)} -> ok")

    step("GET /readyz")
    ready = httpx2.get(f"{base_url}/readyz", timeout=30)
    check(ready.status_code == 200, f"/readyz answered {ready.status_code}: {ready.text}")
    checks = ready.json()["checks"]
    check(checks == {"database": "ok", "cache": "ok", "broker": "ok"}, f"/readyz checks {checks}")
    print(f"    {checks}")

    step("The walkthrough (docs/walkthrough.md) against the shipped topology")
    upstream_url, upstream_log = walkthrough.start_upstream(work, dict(os.environ), stack)
    walked = walkthrough.walk(
        base_url, upstream_url, upstream_log,
        walkthrough.mint_with(Path(args.venv).resolve() / "bin" / "python", env), stack,
    )  # fmt: skip
    api, server = walked.api, walked.server

    step("A tool test, answered by the worker")
    tools = expect(api.get(f"/api/servers/{server['id']}/tools"), 200)
    (tool,) = [tool for tool in tools if tool["name"] == "renderPrompt"]
    worker_mark = logs["worker"].mark()
    tested = expect(
        api.post(
            f"/api/servers/{server['id']}/tools/{tool['id']}/test",
            json={"arguments": walkthrough.RENDER_ARGUMENTS},
        ),
        200,
    )
    check(tested["status"] == "succeeded", f"tool test {tested}")
    structured = (tested["result"] or {}).get("structuredContent") or {}
    check(structured.get("content") == walkthrough.RENDERED, f"tool test result {tested}")
    eventually(
        lambda: worker_ran(logs["worker"], worker_mark, "tools.run_tool_test"),
        "the worker's log shows tools.run_tool_test received and succeeded",
    )
    print(f"    {tested['status']}: {structured} (the worker ran tools.run_tool_test)")

    step("Stripe checkout.session.completed, signed; the worker upgrades the plan")
    before = expect(api.get("/api/billing/subscription"), 200)
    check(before["plan"] == "free", f"plan before checkout {before}")
    session = expect(api.post("/api/billing/checkout", json={"planId": "starter"}), 200)
    (session_request,) = fake.requests_to("POST", "/v1/checkout/sessions")
    user_id, customer = (
        session_request.params["client_reference_id"],
        session_request.params["customer"],
    )
    period_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    fake.subscriptions["sub_shipped"] = subscription_object(
        subscription_id="sub_shipped",
        customer=customer,
        status="active",
        price_ids=[
            TEST_PRICES["STRIPE_PRICE_STARTER"],
            TEST_PRICES["STRIPE_METERED_PRICE_STARTER"],
        ],
        period_start=int(period_start.timestamp()),
        period_end=int((period_start + timedelta(days=30)).timestamp()),
        metadata={"user_id": user_id, "plan": "starter"},
    )
    worker_mark = logs["worker"].mark()
    post_stripe(
        base_url,
        "checkout.session.completed",
        {
            "id": session["sessionId"],
            "object": "checkout.session",
            "mode": "subscription",
            "client_reference_id": user_id,
            "customer": customer,
            "subscription": "sub_shipped",
        },
    )
    eventually(lambda: plan_of(api) == "starter", "the plan became starter")
    check(
        bool(fake.requests_to("GET", "/v1/subscriptions/sub_shipped")),
        "the subscription was not re-read from Stripe",
    )
    eventually(
        lambda: worker_ran(logs["worker"], worker_mark, "webhooks.tasks.process_webhook_event"),
        "the worker's log shows the Stripe event processed",
    )
    print(f"    plan: {expect(api.get('/api/billing/subscription'), 200)}")

    step("Clerk user.deleted, signed with svix; the worker deactivates the user")
    mint = walkthrough.mint_with(Path(args.venv).resolve() / "bin" / "python", env)
    leaver = "leaver@example.com"
    leaver_api = stack.enter_context(
        httpx2.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {mint(leaver)}"}, timeout=30
        )
    )
    expect(leaver_api.get("/api/tokens"), 200)
    worker_mark = logs["worker"].mark()
    post_clerk(base_url, "user.deleted", {"id": subject_for_email(leaver), "deleted": True})
    eventually(
        lambda: leaver_api.get("/api/tokens").status_code == 401, "the deleted user's token refused"
    )
    eventually(
        lambda: worker_ran(logs["worker"], worker_mark, "webhooks.tasks.process_webhook_event"),
        "the worker's log shows the Clerk event processed",
    )
    expect(api.get("/api/tokens"), 200)  # the other user is still let in
    print("    the deleted user's token: 401; the other user's: 200")

    step("Stop web, worker and beat; no traceback in their logs")
    for name in ("beat", "worker", "web"):
        check(
            processes[name].poll() is None,
            f"{name} had exited ({processes[name].returncode}):\n{tail(logs[name].path)}",
        )
        code = stop_gracefully(processes[name])
        check(code == 0, f"{name} exited with {code} on SIGTERM:\n{tail(logs[name].path)}")
    for name, log in logs.items():
        text = log.text()
        check("Traceback" not in text, f"a traceback in the {name} log:\n{text[-6000:]}")
        print(f"    {name}: {len(text.splitlines())} log lines, no traceback")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--venv", required=True, help="the runtime-only virtualenv")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--work", required=True, help="where the logs go")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(args.work)
    try:
        with ExitStack() as stack:
            shipped(args, work, stack)
    except (StepFailed, httpx2.HTTPError, subprocess.TimeoutExpired) as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name} (last 40 lines)\n{tail(log, 40)}", file=sys.stderr)
        return 1
    print(f"Shipped topology passed in {time.monotonic() - BEGAN:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
