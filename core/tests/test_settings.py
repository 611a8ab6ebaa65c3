"""Settings come from the environment; bad values stop the process with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, "
    "s.CACHES['default']['BACKEND'].rsplit('.', 1)[-1], s.DEBUG, s.LOCAL_ISSUER_ENABLED, "
    "s.PLAN_ENFORCEMENT)"
)


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "CLERK_", "STRIPE_", "SPEC_", "OUTBOUND_"))
    }
    base |= {"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)} | env
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_embedded_default_needs_nothing(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3", "True", "LocMemCache", "False", "True", "False"
    ]  # fmt: skip
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_database_and_redis_urls_switch_the_backends(tmp_path):
    result = start(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x",
        REDIS_URL="redis://127.0.0.1:6379/0",
        STRIPE_SECRET_KEY="sk_test_x",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql", "False", "RedisCache", "False", "True", "True"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SPEC_MAX_BYTES": "lots"}, "SPEC_MAX_BYTES must be an integer"),
        ({"OUTBOUND_ALLOW_PRIVATE": "maybe"}, "OUTBOUND_ALLOW_PRIVATE must be a boolean"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be an absolute"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a postgres"),
        ({"PUBLIC_BASE_URL": "example.com"}, "PUBLIC_BASE_URL must be an absolute"),
        ({"CLERK_JWKS_URL": "https://clerk.example/jwks"}, "CLERK_ISSUER is required"),
        ({"CLERK_JWT_KEY": "not a pem", "CLERK_ISSUER": "x"}, "CLERK_JWT_KEY must be a PEM"),
        ({"MCP_ALLOWED_ORIGINS": "app.example"}, "MCP_ALLOWED_ORIGINS"),
        ({"OUTBOUND_EXTRA_CA_FILE": "/nonexistent/ca.pem"}, "OUTBOUND_EXTRA_CA_FILE"),
        (
            {"CLIENT_METADATA_CACHE_SECONDS": "10"},
            "CLIENT_METADATA_CACHE_SECONDS must lie between",
        ),
    ],
)
def test_bad_values_fail_at_start_with_a_clear_message(tmp_path, env, message):
    result = start(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


PROXY_PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SECURE_PROXY_SSL_HEADER)"
)


def probe(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTED_PROXY",))}
    base |= {"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)} | env
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def test_x_forwarded_proto_is_trusted_only_when_the_operator_says_a_proxy_sets_it(tmp_path):
    untrusted = probe(tmp_path, PROXY_PROBE)
    trusted = probe(tmp_path, PROXY_PROBE, TRUSTED_PROXY="true")

    assert untrusted.returncode == 0, untrusted.stderr
    assert untrusted.stdout.strip() == "None"
    assert trusted.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_importing_the_settings_writes_only_what_it_must(tmp_path):
    # With a secret key and PostgreSQL given, there is nothing to generate: only the static
    # files' directory (WhiteNoise's root) is made.
    result = probe(
        tmp_path,
        "import django; django.setup()",
        SECRET_KEY="k" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x",
    )

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["static"]


def test_every_setting_is_read_without_a_second_default():
    # Each default is stated once, in config/settings.py; code reads `settings.X`.
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or relative.parts[0] in {"bench", "scripts"}:
            continue
        if "tests" in relative.parts or "migrations" in relative.parts:
            continue
        if "getattr(settings," in path.read_text():
            offenders.append(str(relative))
    assert offenders == []
