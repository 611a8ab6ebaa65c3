"""config/gunicorn.py with preload_app: the arbiter imports the app, so the metrics directory
is prepared as the settings file loads, removed by the arbiter alone, and the workers forked
from it still export their spans."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from core.testing import OtlpReceiver, free_port

ROOT = Path(__file__).resolve().parents[2]

# The settings file loaded as gunicorn loads it (gunicorn.app.base: a module named __config__
# executed from the file), in a fresh interpreter where prometheus-client is not imported yet.
LOAD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("__config__", "config/gunicorn.py")
config = importlib.util.module_from_spec(spec)
sys.modules["__config__"] = config
spec.loader.exec_module(config)
"""


def run(script: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", LOAD + script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def without_metrics_dir() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}


def test_the_app_is_loaded_once_in_the_arbiter():
    assert run("print(config.preload_app)", os.environ.copy()) == ["True"]


def test_loading_the_settings_puts_prometheus_client_in_multiprocess_mode():
    directory, value_class = run(
        "import os\n"
        "from prometheus_client import values\n"
        "print(os.environ['PROMETHEUS_MULTIPROC_DIR'], values.ValueClass.__name__)",
        without_metrics_dir(),
    )

    assert value_class == "MmapedValue"  # not MutexValue, the one-process default
    assert Path(directory).name.startswith("specgate-metrics-")
    assert not Path(directory).exists()  # the loading process was the arbiter; it exited


def test_a_directory_the_operator_names_is_emptied_of_a_previous_runs_files(tmp_path):
    (tmp_path / "counter_4242.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("not ours")

    run("", os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})

    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_the_private_directory_outlives_a_forked_worker_and_not_the_arbiter():
    # A worker is a fork of the arbiter: it inherits the atexit handlers and leaves through
    # sys.exit (gunicorn's spawn_worker), which runs them.
    kept_after_child, directory = run(
        "import os, sys\n"
        "directory = os.environ['PROMETHEUS_MULTIPROC_DIR']\n"
        "open(os.path.join(directory, 'counter_1.db'), 'w').close()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    sys.exit(0)\n"
        "os.waitpid(child, 0)\n"
        "print(os.path.isdir(directory), directory)\n",
        without_metrics_dir(),
    )

    assert kept_after_child == "True"
    assert not Path(directory).exists()


def test_the_workers_forked_from_the_arbiter_export_their_spans(tmp_path):
    """The tracer provider is made in the arbiter, before the fork; the batch span processor's
    export thread is not inherited, and the SDK starts a new one in each child
    (os.register_at_fork). Every request's span must reach the collector, whichever worker
    served it: new connections are spread over both workers by the kernel."""
    port = free_port()
    requests = 16
    with OtlpReceiver() as receiver:
        env = without_metrics_dir() | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "DATA_DIR": str(tmp_path),
        }
        env.pop("DATABASE_URL", None)
        log = tmp_path / "web.log"
        with open(log, "w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "-w", "2",
                 "-b", f"127.0.0.1:{port}", "config.asgi:application"],
                cwd=ROOT, env=env, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            deadline = time.monotonic() + 60
            listening: list[str] = []
            while time.monotonic() < deadline and len(listening) < 2:
                assert server.poll() is None, log.read_text()[-3000:]
                listening = subprocess.run(
                    ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True
                ).stdout.splitlines()
                time.sleep(0.2)
            assert len(listening) == 2, log.read_text()[-3000:]
            for _ in range(requests):  # a new connection each
                assert httpx2.get(url, timeout=10).status_code == 200

            def served(spans: list) -> list:
                return [s for s in spans if s.service == "specgate-web" and "healthz" in s.name]

            spans = receiver.wait_for(lambda spans: len(served(spans)) >= requests)
        finally:
            server.terminate()
            server.wait(timeout=30)

    assert len(served(spans)) == requests


def test_the_app_imports_its_views_at_load_so_the_arbiter_shares_them(tmp_path):
    env = without_metrics_dir() | {"DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", "import sys, config.asgi; print('config.urls' in sys.modules)"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.split() == ["True"], done.stderr
