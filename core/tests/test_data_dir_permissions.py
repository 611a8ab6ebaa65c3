"""The embedded default keeps its data private: DATA_DIR 0700, the SQLite database 0600.

Each case starts a fresh process (settings are read once per process) with a usual umask
of 022, opens the database, writes to it and reports the modes it sees.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, os, stat, sys
os.umask(0o022)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in [settings.DATA_DIR, *settings.DATA_DIR.glob("specgate.sqlite3*")]
    }
print(json.dumps(modes))
"""


def modes_seen(data_dir: Path) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_new_data_dir_and_its_database_are_private(tmp_path):
    data_dir = tmp_path / "fresh" / "data"
    modes = modes_seen(data_dir)
    assert modes["data"] == 0o700
    assert modes["specgate.sqlite3"] == 0o600
    # WAL mode: the write-ahead log and shared memory hold the same data, same mode.
    assert modes["specgate.sqlite3-wal"] == 0o600
    assert modes["specgate.sqlite3-shm"] == 0o600
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600


def test_an_existing_readable_database_is_made_private(tmp_path):
    database = tmp_path / "specgate.sqlite3"
    database.touch()
    database.chmod(0o644)
    assert modes_seen(tmp_path)["specgate.sqlite3"] == 0o600
