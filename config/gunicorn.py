"""Gunicorn settings of the production web server.

    gunicorn -c config/gunicorn.py config.asgi:application

Every setting here can still be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import atexit
import glob
import os
import shutil
import sys
import tempfile


def prepare_metrics_directory() -> None:
    """Give the workers one directory for their Prometheus metrics (multiprocess mode).

    prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is imported, and with
    preload_app the arbiter imports the app (and prometheus-client) before any server hook
    runs: so this runs as gunicorn loads this file. A directory the operator names is emptied
    first (files of a previous run would be summed in); without one, a private temporary
    directory is made and removed when the arbiter exits. Workers inherit the atexit handler
    with the rest of the arbiter's memory and leave through sys.exit, so the handler checks
    the pid: a worker exiting (a restart, max_requests) must not delete the directory the
    others are still writing to.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if directory:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
    else:
        directory = tempfile.mkdtemp(prefix="specgate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(_remove_in, os.getpid(), directory)


def _remove_in(pid: int, directory: str) -> None:
    if os.getpid() == pid:
        shutil.rmtree(directory, ignore_errors=True)


# On SIGHUP gunicorn reads this file again, while the workers it is replacing still write to
# the directory: prepared once, before prometheus-client is first imported.
if "prometheus_client" not in sys.modules:
    prepare_metrics_directory()

bind = os.environ.get("BIND", "0.0.0.0:8000")
# One worker per core: each worker is one event loop, busy with CPU only between waits.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "uvicorn.workers.UvicornWorker"
# Each worker listens on a socket of its own (SO_REUSEPORT; gunicorn then opens none in the
# arbiter), and the kernel spreads new connections across them by a hash of the addresses.
# With one shared socket, the worker that wakes first accepts every connection waiting
# (uvloop accepts until the queue is empty): 16 keep-alive connections opened together on
# 2 workers split 2/14 or 3/13 most of the time here, and the crowded worker's callers
# waited twice as long while the other worker idled.
reuse_port = True
graceful_timeout = 30
# MCP clients keep their connection between calls; stay open longer than a load balancer's
# usual 60-second idle timeout so that the balancer, not us, closes idle connections.
keepalive = 75
# The arbiter imports the app once and forks the workers from it: the code of Django, the
# app and their libraries is in pages the workers share copy-on-write instead of each worker
# importing its own copy. With 2 workers, after 1000 calls: total PSS 230 -> 185-191 MB, each
# worker's own pages (USS) 98-102 -> 37-38 MB (bench/worker_memory.py). A worker must
# inherit nothing live: the app opens no database or Redis connection and starts no thread
# or event loop at import (the usage recorder, the connection pools and the loop are each
# worker's, started in the lifespan), and OpenTelemetry's batch span processor, made in the
# arbiter, starts its export thread again in each child (os.register_at_fork). SIGHUP forks
# new workers from the code already loaded: a release needs a full restart.
preload_app = True


def post_worker_init(worker: object) -> None:
    """Move everything loaded at start (Django, the app, their modules) out of the collector's
    sight: full collections then scan only what requests create, not the whole heap.

    Measured with bench/gateway_bench.py (2 workers): p99 of tools/call 47-58 ms -> 18-22 ms
    (the tail was full collections), and the metered gateway 2-3 % faster. With the app
    preloaded it also keeps more of the pages inherited from the arbiter shared (a collection
    writes to the header of every object it scans, copying its page): without the freeze,
    total PSS after 1000 calls was 5-8 MB higher in two same-run comparisons, close to the
    spread between runs of the same code.
    """
    import gc

    gc.freeze()


def child_exit(server: object, worker: object) -> None:
    """A dead worker's live gauges (recorder buffer depth, flush lag) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
