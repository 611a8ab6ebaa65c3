"""A small EchoStash-like prompts API to put behind Specgate: the walkthrough's upstream.

    python examples/upstream/server.py [--port 9400] [--host 127.0.0.1]

It implements examples/echostash.openapi.yaml with an in-memory store of three prompts,
needs no network and no packages beyond the standard library, and requires the header
`X-API-KEY: sk_demo_echostash` on every request, so adding the credential in Specgate
is a real step. Each request is printed with whether the key was valid (never the key).

It is also a tiny OAuth provider for examples/account.openapi.yaml (each person's own
account): `/oauth/authorize` signs everyone in as the demo user "ada" at once and sends the
browser back with a code, `/oauth/token` takes the client `demo-client` /
`demo-client-secret` (HTTP Basic) and issues hour-long access tokens with rotating refresh
tokens, and `GET /api/account/me` answers whose Bearer token it was given.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

DEMO_API_KEY = "sk_demo_echostash"
OAUTH_CLIENT_ID = "demo-client"
OAUTH_CLIENT_SECRET = "demo-client-secret"
OAUTH_USER = {"login": "ada", "name": "Ada Lovelace"}
DEFAULT_PORT = 9400
MAX_BODY_BYTES = 64 * 1024
PARAMETER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


@dataclass(frozen=True)
class Version:
    number: int
    content: str
    metadata: dict[str, str]
    created_at: str


@dataclass(frozen=True)
class Prompt:
    id: int
    name: str
    description: str
    published_version: int
    versions: tuple[Version, ...]
    created_at: str
    updated_at: str

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.number == number), None)

    def latest(self) -> Version:
        return max(self.versions, key=lambda v: v.number)


PROMPTS: dict[int, Prompt] = {
    prompt.id: prompt
    for prompt in (
        Prompt(
            id=1,
            name="Welcome Email",
            description="Personalized welcome email template for new users",
            published_version=3,
            versions=(
                Version(1, "Hi {{name}}.", {"author": "product-team"}, "2024-01-15T10:30:00Z"),
                Version(
                    2,
                    "Hello, {{name}}! Welcome aboard.",
                    {"author": "product-team", "notes": "Simplified greeting"},
                    "2024-01-18T08:00:00Z",
                ),
                Version(
                    3,
                    "Hello, {{name}}! Welcome to {{company}}.",
                    {"author": "product-team", "notes": "Mentions the company"},
                    "2024-01-20T14:00:00Z",
                ),
                Version(
                    4,
                    "Hey {{name}}, great to have you at {{company}}!",
                    {"author": "growth-team", "notes": "Draft, not published"},
                    "2024-02-02T09:15:00Z",
                ),
            ),
            created_at="2024-01-15T10:30:00Z",
            updated_at="2024-02-02T09:15:00Z",
        ),
        Prompt(
            id=2,
            name="Bug Triage",
            description="Summarises a bug report for the on-call engineer",
            published_version=1,
            versions=(
                Version(
                    1,
                    "Summarise this bug in {{language}} for the on-call engineer: {{report}}",
                    {"author": "support"},
                    "2024-03-01T12:00:00Z",
                ),
            ),
            created_at="2024-03-01T12:00:00Z",
            updated_at="2024-03-01T12:00:00Z",
        ),
        Prompt(
            id=3,
            name="Release Notes",
            description="Turns a changelog into friendly release notes",
            published_version=2,
            versions=(
                Version(
                    1,
                    "Write release notes for {{product}}.",
                    {"author": "docs"},
                    "2024-04-10T16:45:00Z",
                ),
                Version(
                    2,
                    "Write release notes for {{product}} {{version}} from: {{changelog}}",
                    {"author": "docs", "notes": "Adds version and changelog"},
                    "2024-04-12T11:20:00Z",
                ),
            ),
            created_at="2024-04-10T16:45:00Z",
            updated_at="2024-04-12T11:20:00Z",
        ),
    )
}

Reply = tuple[int, dict[str, Any]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def render(content: str, variables: dict[str, str]) -> str:
    """Substitute `{{name}}` parameters; unknown ones stay as written."""
    return PARAMETER.sub(lambda match: variables.get(match.group(1), match.group(0)), content)


def prompt_json(prompt: Prompt) -> dict[str, Any]:
    published = prompt.version(prompt.published_version) or prompt.latest()
    return {
        "id": prompt.id,
        "name": prompt.name,
        "description": prompt.description,
        "content": published.content,
        "parameterSymbol": "{{}}",
        "publishedVersionNo": prompt.published_version,
        "createdAt": prompt.created_at,
        "updatedAt": prompt.updated_at,
    }


def version_json(version: Version) -> dict[str, Any]:
    return {
        "versionNo": version.number,
        "content": version.content,
        "parameterSymbol": "{{}}",
        "metadata": json.dumps(version.metadata),
        "createdAt": version.created_at,
    }


def find_prompt(prompt_id: str) -> Prompt:
    prompt = PROMPTS.get(int(prompt_id)) if prompt_id.isdigit() else None
    if prompt is None:
        raise ApiError(404, "Prompt not found")
    return prompt


def find_version(prompt: Prompt, version_no: str) -> Version:
    version = prompt.version(int(version_no)) if version_no.isdigit() else None
    if version is None:
        raise ApiError(404, "Version not found")
    return version


def render_reply(prompt: Prompt, body: Any) -> Reply:
    if not isinstance(body, dict) or not isinstance(body.get("variables"), dict):
        raise ApiError(400, "Body must be a JSON object with an object 'variables'")
    variables = {str(name): str(value) for name, value in body["variables"].items()}
    wanted = body.get("version")
    if wanted is None:
        version = find_version(prompt, str(prompt.published_version))
    elif wanted == "latest":
        version = prompt.latest()
    else:
        version = find_version(prompt, str(wanted))
    rendered = render(version.content, variables)
    return 200, {"content": rendered, "promptId": prompt.id, "versionNo": version.number}


ROUTES = [
    ("GET", re.compile(r"/api/sdk/prompts/([^/]+)"), "get_prompt"),
    ("GET", re.compile(r"/api/sdk/prompts/([^/]+)/versions/([^/]+)"), "get_version"),
    ("POST", re.compile(r"/api/sdk/prompts/([^/]+)/render"), "render"),
]


def answer(method: str, path: str, api_key: str | None, body: bytes) -> Reply:
    """The reply to one request: route, check the key, then act."""
    for route_method, pattern, action in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if route_method != method:
            raise ApiError(405, "Method not allowed")
        if api_key != DEMO_API_KEY:
            raise ApiError(401, "Invalid or missing API key")
        prompt = find_prompt(match.group(1))
        if action == "get_prompt":
            return 200, prompt_json(prompt)
        if action == "get_version":
            return 200, version_json(find_version(prompt, match.group(2)))
        try:
            parsed = json.loads(body or b"null")
        except ValueError:
            raise ApiError(400, "Body is not valid JSON") from None
        return render_reply(prompt, parsed)
    raise ApiError(404, "Not found")


class DemoProvider:
    """The OAuth side: codes, access tokens and refresh tokens in memory."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.access: set[str] = set()
        self.refresh: set[str] = set()

    def authorize(self, query: str) -> tuple[int, dict[str, str]]:
        params = {name: values[0] for name, values in parse_qs(query).items()}
        if params.get("client_id") != OAUTH_CLIENT_ID or "redirect_uri" not in params:
            raise ApiError(400, "Unknown client or no redirect_uri")
        code = secrets.token_urlsafe(16)
        self.codes[code] = params["redirect_uri"]
        back = urlencode({"code": code, "state": params.get("state", "")})
        return 302, {"Location": f"{params['redirect_uri']}?{back}"}

    def token(self, authorization: str | None, body: bytes) -> Reply:
        expected = base64.b64encode(f"{OAUTH_CLIENT_ID}:{OAUTH_CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        if form.get("grant_type") == "authorization_code":
            if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh:
                return 400, {"error": "invalid_grant"}
            self.refresh.discard(form["refresh_token"])  # rotated: each works once
        else:
            return 400, {"error": "unsupported_grant_type"}
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access.add(access)
        self.refresh.add(refresh)
        return 200, {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": 3600,
        }

    def me(self, authorization: str | None) -> Reply:
        if (authorization or "").removeprefix("Bearer ") not in self.access:
            raise ApiError(401, "Invalid or missing access token")
        return 200, OAUTH_USER


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def key_state(api_key: str | None) -> str:
    if api_key is None:
        return "missing"
    return "valid" if api_key == DEMO_API_KEY else "wrong"


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log: Callable[[str], None]) -> None:
        super().__init__(address, Handler)
        self.log = log
        self.provider = DemoProvider()


class Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"
    server_version = "EchoStashDemo/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are printed by _handle, with the key's state."""

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(("/oauth/", "/api/account/")):
            self._oauth(path)
            return
        api_key = self.headers.get("X-API-KEY")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            if length > MAX_BODY_BYTES:
                raise ApiError(413, "Body too large")
            status, payload = answer(self.command, path, api_key, self.rfile.read(length))
        except ApiError as error:
            status, payload = error.status, self._error(error, path)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.log(f"{self.command} {self.path} -> {status} (X-API-KEY: {key_state(api_key)})")

    def _oauth(self, path: str) -> None:
        provider = self.server.provider
        authorization = self.headers.get("Authorization")
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        body = self.rfile.read(length)
        headers: dict[str, str] = {}
        try:
            if path == "/oauth/authorize" and self.command == "GET":
                status, headers = provider.authorize(urlsplit(self.path).query)
                payload: Any = {}
            elif path == "/oauth/token" and self.command == "POST":
                status, payload = provider.token(authorization, body)
            elif path == "/api/account/me" and self.command == "GET":
                status, payload = provider.me(authorization)
            else:
                raise ApiError(404, "Not found")
        except ApiError as error:
            status, payload = error.status, self._error(error, path)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.log(f"{self.command} {path} -> {status}")

    @staticmethod
    def _error(error: ApiError, path: str) -> dict[str, Any]:
        moment = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"timestamp": moment, "status": error.status, "error": error.message, "path": path}


def make_server(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, log: Callable[[str], None] = say
) -> DemoServer:
    """The server, not yet serving; `log` receives one line per request."""
    return DemoServer((host, port), log)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    options = parser.parse_args(argv)
    server = make_server(options.host, options.port)
    say(
        f"EchoStash demo API on http://{options.host}:{server.server_port}"
        f"  (header X-API-KEY: {DEMO_API_KEY})"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
