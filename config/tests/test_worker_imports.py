"""What a web worker imports: not the SDKs it does not use while serving.

Every module a worker imports stays in its memory for its lifetime, once per worker. The MCP
SDK's client and server (the gateway uses only its inbound ladder, see gateway/inbound.py) and
the Stripe and Svix SDKs (imported by the webhook views when a delivery arrives) are left out
of a worker that has loaded the ASGI application and the URL configuration, as one does to
serve its first REST request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKER_IMPORTS = """
import json, sys
import config.asgi
from django.urls import get_resolver
get_resolver().url_patterns
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_a_worker_leaves_the_unused_sdks_out():
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))

    assert {"gateway", "webhooks", "mcp_types"} <= imported
    assert not {"mcp", "stripe", "svix"} & imported
