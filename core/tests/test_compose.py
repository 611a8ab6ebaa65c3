"""docker-compose.yml stays honest: no container engine runs here, so parse and check it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [
    "DATA_DIR", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "PUBLIC_BASE_URL",
    "CLERK_JWKS_URL", "CLERK_JWT_KEY", "CLERK_ISSUER", "CLERK_AUTHORIZED_PARTIES",
    "CLERK_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET",
    "STRIPE_PRICE_STARTER", "STRIPE_PRICE_PRO", "STRIPE_METERED_PRICE_STARTER",
    "STRIPE_METERED_PRICE_PRO", "STRIPE_METER_EVENT_NAME", "BILLING_SUCCESS_URL",
    "BILLING_CANCEL_URL", "BILLING_RETURN_URL", "MCP_ALLOWED_ORIGINS", "SPEC_MAX_BYTES",
    "CREDENTIALS_ENCRYPTION_KEYS", "OUTBOUND_ALLOW_PRIVATE", "PLAN_ENFORCEMENT",
]  # fmt: skip


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_has_the_services_with_healthchecks():
    services = compose()["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, name


def test_app_services_share_the_documented_variables():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert set(DOCUMENTED) <= set(env), set(DOCUMENTED) - set(env)
        assert env["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert set(services[name]["depends_on"]) == {"postgres", "redis"}


def test_commands_use_the_real_entry_points():
    services = compose()["services"]
    assert "config.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A config worker")
    assert services["beat"]["command"].startswith("celery -A config beat")


def test_every_variable_is_read_by_settings_and_documented_in_the_readme():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in DOCUMENTED:
        assert re.search(rf'"{name}"', settings_source), f"settings.py does not read {name}"
        assert f"`{name}`" in readme, f"README.md does not document {name}"
