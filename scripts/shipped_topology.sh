#!/usr/bin/env bash
# CI stage: run the topology we ship, installed as we ship it, and check it end to end.
#
# A fresh virtualenv gets the runtime requirements only, through scripts/install-requirements.sh
# (the Dockerfile's install), and must hold nothing constraints.txt does not pin. Then, on a
# throwaway PostgreSQL database and an empty Redis db, scripts/shipped_check.py runs
# docker-compose.yml's web (gunicorn -c config/gunicorn.py), worker and beat commands from that
# virtualenv and checks them: healthchecks, /readyz, the walkthrough, a tool test answered by
# the worker, a signed Stripe and a signed Clerk event processed by the worker, no traceback.
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379.
# SHIPPED_DB_NAME names the database (default specgate_shipped_<pid>); SHIPPED_REDIS_DB picks
# the Redis db (flushed before and after; default: the first empty one from 15 down, claimed).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
python="${PYTHON:-python3}"
work=$(mktemp -d "${TMPDIR:-/tmp}/specgate-shipped-XXXXXX")
db="${SHIPPED_DB_NAME:-specgate_shipped_$$}"
redis_db=""
claim="specgate:shipped-topology:claim"

cleanup() {
  status=$?
  dropdb -h 127.0.0.1 -U postgres --if-exists "$db" >/dev/null 2>&1 || true
  if [ -n "$redis_db" ]; then redis-cli -h 127.0.0.1 -n "$redis_db" flushdb >/dev/null 2>&1 || true; fi
  if [ "$status" -eq 0 ]; then rm -rf "$work"; else echo "shipped topology: logs kept in $work" >&2; fi
}
trap cleanup EXIT

echo "== runtime virtualenv ($work/venv): scripts/install-requirements.sh PYTHON runtime"
"$python" -m venv "$work/venv"
scripts/install-requirements.sh "$work/venv/bin/python" runtime
"$work/venv/bin/python" -m pip freeze --disable-pip-version-check >"$work/freeze.txt"
"$python" - "$work/freeze.txt" constraints.txt <<'PY'
import re, sys
def pins(path):
    lines = open(path).read().splitlines()
    return {re.sub(r"[-_.]+", "-", l.split("==")[0]).lower(): l.split("==")[1]
            for l in lines if "==" in l and not l.startswith("#")}
installed, pinned = pins(sys.argv[1]), pins(sys.argv[2])
loose = sorted(f"{n}=={v}" for n, v in installed.items() if pinned.get(n) != v)
if loose:
    sys.exit("installed but not pinned in constraints.txt: " + ", ".join(loose))
print(f"    {len(installed)} packages, every one pinned in constraints.txt")
PY

echo "== PostgreSQL database $db"
createdb -h 127.0.0.1 -U postgres "$db"
if [ -n "${SHIPPED_REDIS_DB:-}" ]; then
  redis_db="$SHIPPED_REDIS_DB"
  redis-cli -h 127.0.0.1 -n "$redis_db" flushdb >/dev/null
else
  for candidate in $(seq 15 -1 1); do
    if [ "$(redis-cli -h 127.0.0.1 -n "$candidate" set "$claim" "$$" NX EX 3600)" = OK ]; then
      if [ "$(redis-cli -h 127.0.0.1 -n "$candidate" dbsize)" = 1 ]; then redis_db=$candidate; break; fi
      redis-cli -h 127.0.0.1 -n "$candidate" del "$claim" >/dev/null
    fi
  done
  [ -n "$redis_db" ] || { echo "no empty Redis db to use" >&2; exit 1; }
fi
echo "== Redis db $redis_db"

.venv/bin/python scripts/shipped_check.py --venv "$work/venv" \
  --database-url "postgres://postgres@127.0.0.1:5432/$db" \
  --redis-url "redis://127.0.0.1:6379/$redis_db" --work "$work"
echo "== shipped topology passed in $(( $(date +%s) - started ))s"
