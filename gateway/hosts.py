"""Which Host and Origin headers the MCP endpoint answers: its DNS-rebinding protection.

A page on a foreign site can make a browser send requests to any name that resolves to the
gateway (DNS rebinding), so the endpoint serves only the Host names the deployment is known
by (otherwise 421) and only the browser Origins it trusts (otherwise 403). A request that
carries one of these headers more than once is judged on every copy: one foreign value is
enough to refuse it, whichever copy a proxy or framework downstream would have picked.

No HTTP framework here: `RequestSourcePolicy.refusal` takes the ASGI header list and says
what to answer, and `gateway.app` answers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

RawHeaders = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class SourceRefusal:
    """Why a request's Host or Origin is refused: the HTTP status and the error message."""

    status: int
    message: str


FOREIGN_HOST: Final = SourceRefusal(421, "Invalid Host header")
FOREIGN_ORIGIN: Final = SourceRefusal(403, "Invalid Origin header")


class HostPolicy:
    """Which `Host` header values the deployment answers.

    Patterns as Django's `ALLOWED_HOSTS` (`example.com`, `.example.com` for the name and its
    subdomains, `*`), plus `host:port` for one port and `host:*` for any; a bare name allows
    any port.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.any = False
        self.exact: set[str] = set()
        self.any_port: set[str] = set()
        self.suffixes: list[str] = []
        for raw in patterns:
            pattern = raw.strip().lower()
            if pattern == "*":
                self.any = True
            elif pattern.startswith("."):
                self.suffixes.append(pattern)
            elif pattern.endswith(":*"):
                self.any_port.add(pattern[:-2])
            elif split_host(pattern)[1]:
                self.exact.add(pattern)
            else:
                self.any_port.add(pattern)

    def allows(self, host: str | None) -> bool:
        if not host:
            return False
        if self.any:
            return True
        host = host.lower()
        if host in self.exact:
            return True
        name = split_host(host)[0]
        if name in self.any_port:
            return True
        return any(name == suffix[1:] or name.endswith(suffix) for suffix in self.suffixes)


class OriginPolicy:
    """Which `Origin` header values may call the endpoint from a browser.

    Exact origins (`https://app.example.com`) and `scheme://host:*` for any port of a host.
    """

    def __init__(self, origins: Iterable[str]) -> None:
        self.exact: set[str] = set()
        self.any_port: list[str] = []
        for raw in origins:
            origin = raw.strip().lower().rstrip("/")
            if origin.endswith(":*"):
                self.any_port.append(origin[:-1])
            else:
                self.exact.add(origin)

    def allows(self, origin: str) -> bool:
        origin = origin.lower()
        if origin in self.exact:
            return True
        return any(
            origin.startswith(prefix) and origin[len(prefix) :].isdecimal()
            for prefix in self.any_port
        )


class RequestSourcePolicy:
    """The Host and Origin checks of one endpoint, made once from its settings."""

    def __init__(self, *, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> None:
        self.hosts = HostPolicy(allowed_hosts)
        self.origins = OriginPolicy(allowed_origins)

    def refusal(self, headers: Mapping[str, str], raw_headers: RawHeaders) -> SourceRefusal | None:
        """What to answer a request from a foreign Host or Origin; None to serve it.

        `headers` maps lowercase names to one value each (the last of a repeated header);
        `raw_headers` is the ASGI list with every copy. A request without Origin did not
        come from a browser page and passes that check.
        """
        # A repeated header collapsed into one entry of `headers`: judge every copy then.
        repeated = len(headers) != len(raw_headers)
        if not self.hosts.allows(headers.get("host")):
            return FOREIGN_HOST
        if repeated and not all(self.hosts.allows(v) for v in header_values(raw_headers, b"host")):
            return FOREIGN_HOST
        if repeated and not all(
            self.origins.allows(value) for value in header_values(raw_headers, b"origin")
        ):
            return FOREIGN_ORIGIN
        origin = headers.get("origin")
        if origin is not None and not self.origins.allows(origin):
            return FOREIGN_ORIGIN
        return None


def header_values(raw_headers: RawHeaders, name: bytes) -> list[str]:
    """Every value of the header NAME (lowercase) in an ASGI header list."""
    return [value.decode("latin-1") for key, value in raw_headers if key == name]


def split_host(host: str) -> tuple[str, str]:
    """(`name`, `port`) of a Host value; IPv6 literals keep their brackets."""
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else ""
    name, _, port = host.partition(":")
    return name, port
