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
    # exec: gunicorn, not the shell, gets docker stop's SIGTERM and shuts down gracefully.
    assert (
        "exec gunicorn -c config/gunicorn.py config.asgi:application"
        in (services["web"]["command"])
    )
    assert services["worker"]["command"].startswith("celery -A config worker")
    assert services["beat"]["command"].startswith("celery -A config beat")


def test_every_variable_is_read_by_settings_and_documented_in_the_readme():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in DOCUMENTED:
        assert re.search(rf'"{name}"', settings_source), f"settings.py does not read {name}"
        assert f"`{name}`" in readme, f"README.md does not document {name}"


INSTALL = "scripts/install-requirements.sh"


def test_the_dockerfile_installs_through_the_one_install_script():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    copied = next(i for i, line in enumerate(lines) if line.startswith("COPY") and INSTALL in line)
    (run,) = [i for i, line in enumerate(lines) if line.startswith("RUN") and INSTALL in line]
    assert copied < run
    assert lines[run].endswith(f"{INSTALL} python runtime")
    assert not [line for line in lines if "pip install" in line], "install only through the script"


def test_setup_and_the_shipped_stage_install_through_the_same_script():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    stage = (ROOT / "scripts" / "shipped_topology.sh").read_text()
    assert f'{INSTALL} .venv/bin/python "$kind"' in setup
    assert f'{INSTALL} "$work/venv/bin/python" runtime' in stage
    for path in [ROOT / ".ci" / "run", *sorted((ROOT / "scripts").glob("*.sh"))]:
        if path.name != "install-requirements.sh":
            assert "pip install -r" not in path.read_text(), path


def test_ci_runs_the_readme_test_command_twice_and_the_shipped_topology():
    ci = (ROOT / ".ci" / "run").read_text()
    # Between them the two runs take every test: run 1 all but `services`, run 2 all but `once`.
    run_1 = ci.index('scripts/test.sh -m "not services" -p no:cacheprovider')
    run_2 = ci.index('scripts/test.sh -m "not once" -p no:cacheprovider')
    assert ci.count("scripts/test.sh ") == 2
    # The shipped topology runs after run 1, in the same job; both jobs are started and awaited.
    assert run_1 < ci.index("scripts/shipped_topology.sh\n") < ci.index("run_2() {")
    assert ci.index('tagged "run 1" run_1_and_after &') > run_2
    assert 'wait "$first"' in ci and 'wait "$second"' in ci
    assert ci.rstrip().endswith('echo "== done in $(( $(date +%s) - started ))s"')
