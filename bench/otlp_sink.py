"""A local OTLP/HTTP trace receiver for the benchmarks: parses every export, counts the spans.

    python bench/otlp_sink.py PORT

POST /v1/traces takes an `ExportTraceServiceRequest` (protobuf) as a collector would and
answers with an empty `ExportTraceServiceResponse`; GET /count answers the number of spans
received so far. It does what a collector's receiver does on the gateway's side of the wire
(read the whole body, decode it), so the exporter's cost is measured against a real peer.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_count = 0
_lock = threading.Lock()
_REPLY = ExportTraceServiceResponse().SerializeToString()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        global _count
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        export = ExportTraceServiceRequest.FromString(body)
        spans = sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
        with _lock:
            _count += spans
        self._answer(200, _REPLY, "application/x-protobuf")

    def do_GET(self) -> None:
        if self.path == "/count":
            self._answer(200, str(_count).encode(), "text/plain")
        else:
            self._answer(404, b"", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
