"""Upstream for fixture.openapi.yaml: python fixture_upstream.py [port] (default 9300)."""

import base64
import io
import json
import struct
import sys
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def tiny_wav():
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<80h", *([0] * 80)))
    return buf.getvalue()


ROUTES = {
    ("GET", "/text"): (200, "text/plain", b"This is a simple text response for testing."),
    ("GET", "/image"): (200, "image/png", PNG),
    ("GET", "/audio"): (200, "audio/wav", tiny_wav()),
    ("GET", "/error"): (
        500,
        "application/json",
        b'{"message": "This tool intentionally returns an error for testing"}',
    ),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(
            *ROUTES.get(
                ("GET", self.path.split("?")[0]), (404, "application/json", b'{"message":"no"}')
            )
        )

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/json-schema":
            return self._reply(
                200,
                "application/json",
                json.dumps({"received": json.loads(body or b"{}")}).encode(),
            )
        self._reply(404, "application/json", b'{"message":"no"}')


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9300
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
