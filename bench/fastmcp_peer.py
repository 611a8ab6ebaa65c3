"""The peer for the gateway benchmark: FastMCP's OpenAPI proxy over the same spec.

Runs under the FastMCP virtualenv (bench/.cache/fastmcp-venv, see requirements-bench.txt):
    python bench/fastmcp_peer.py SPEC.yaml UPSTREAM_URL PORT
Stateless HTTP with JSON responses, the configuration closest to ours.
"""

from __future__ import annotations

import sys

import httpx2
import uvicorn
import yaml
from fastmcp import FastMCP


def main() -> None:
    spec_path, upstream, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(spec_path) as handle:
        spec = yaml.safe_load(handle)
    client = httpx2.AsyncClient(base_url=upstream, timeout=30)
    server = FastMCP.from_openapi(openapi_spec=spec, client=client, name="peer")
    app = server.http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
