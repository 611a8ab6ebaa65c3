"""requirements.txt alone brings every package the runtime imports.

The dev virtualenv has more installed than production (pytest, schemathesis, mypy and
what they pull in), so a runtime import that only a dev tool satisfies passes every other
test: kombu's Redis transport imports `packaging`, which kombu declares only under its
`redis` extra, and a worker installed from requirements.txt alone died at start. Here a
fresh process imports every runtime path (the apps, the gunicorn/uvicorn workers, the Celery
worker and beat on the Redis transport, the PostgreSQL and Redis backends), and each
distribution those imports come from must be reachable from requirements.txt through the
declared dependencies (extras and markers evaluated). scripts/shipped_topology.sh proves the
same by running the topology from a runtime-only virtualenv.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
APPS = [
    "accounts", "billing", "config", "core", "credentials", "gateway", "servers", "specs",
    "tools", "tooltests", "usage", "webhooks",
]  # fmt: skip
ENTRY_MODULES = [
    "config.gunicorn", "config.asgi", "gunicorn.app.wsgiapp", "uvicorn.workers",
    "celery.apps.worker", "celery.apps.beat", "celery.bin.celery",
    "django.db.backends.postgresql.base", "django.core.cache.backends.redis",
    "whitenoise.storage",
]  # fmt: skip

IMPORT_EVERYTHING = """
import importlib, json, os, pkgutil, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
apps, entries = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for app in apps:
    for found in pkgutil.walk_packages(importlib.import_module(app).__path__, app + "."):
        name = found.name
        if ".tests" in name or name.endswith((".testing", "conftest")):
            continue  # test support imports pytest; never loaded by the running product
        importlib.import_module(name)
for name in entries:
    importlib.import_module(name)
from config.celery import app
app.connection_for_write().transport  # resolves the broker's transport: kombu's Redis one
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


# Imported when present, never needed: httpx's command line (httpx/__init__.py tries to load
# it and does without); setuptools' .pth hook, loaded by site before anything of ours; greenlet
# (celery/bootsteps.py tries `from greenlet import GreenletExit` and does without; Playwright,
# a dev package for the browser tests, brings it).
OPTIONAL = {"rich", "pygments", "_distutils_hack", "greenlet"}


def runtime_requirements() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in (raw.split("#")[0].strip() for raw in lines) if line]


def declared_closure(roots: list[Requirement]) -> set[str]:
    """Every distribution ROOTS bring along, following installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        extras = set(requirement.extras) or {""}
        for declared in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(declared)
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in extras
            ):
                todo.append(dependency)
    return {name for name, _ in seen}


def imported_by_the_runtime() -> set[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # Only parsed at import: nothing here connects to PostgreSQL or Redis.
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none"
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, json.dumps(APPS), json.dumps(ENTRY_MODULES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_every_distribution_the_runtime_imports_is_declared_by_requirements_txt():
    closure = declared_closure(runtime_requirements())
    owners = importlib.metadata.packages_distributions()
    undeclared = {
        module: sorted(owners[module])
        for module in imported_by_the_runtime()
        if module in owners
        and module not in OPTIONAL
        and not {canonicalize_name(d) for d in owners[module]} & closure
    }
    assert undeclared == {}, f"imported at runtime, reached only through dev packages: {undeclared}"


def test_the_celery_pin_brings_the_redis_transport():
    closure = declared_closure(runtime_requirements())
    assert {"kombu", "redis", "packaging"} <= closure
