"""The production server settings (config/gunicorn.py): the app is imported once, by the
arbiter, and every worker forked from it gets its share of a burst of connections."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from core.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


def _pid_over(conn: socket.socket) -> tuple[int, int, int]:
    conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = conn.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    pid, frozen, imported_by = data.split(b"\r\n\r\n", 1)[1].split()
    return int(pid), int(frozen), int(imported_by)


def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "-w", "2",
         "-b", f"127.0.0.1:{port}", "core.tests.pid_app:application"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Both workers up, each listening on a socket of its own (none in the arbiter).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listening = (
                subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
                .stdout.strip()
                .splitlines()
            )
            if len(listening) >= 2:
                break
            time.sleep(0.2)
        assert len(listening) == 2, listening
        # Sixteen connections opened together, as a client's pool or a load balancer does.
        conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
        try:
            per_worker: dict[int, int] = {}
            for conn in conns:
                pid, frozen, imported_by = _pid_over(conn)
                per_worker[pid] = per_worker.get(pid, 0) + 1
                # preload_app: the arbiter imported the app before forking this worker.
                assert imported_by == server.pid != pid
                # post_worker_init froze what the worker loaded at start (gc.freeze).
                assert frozen > 1000, frozen
        finally:
            for conn in conns:
                conn.close()
        assert len(per_worker) == 2, per_worker
        assert min(per_worker.values()) >= 2, per_worker  # Binomial(16, 1/2): 0.05 % to miss
    finally:
        server.terminate()
        server.wait(timeout=30)
