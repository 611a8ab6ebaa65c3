#!/usr/bin/env bash
# Set up and run the whole test suite. Extra arguments go to pytest.
# With DATABASE_URL/REDIS_URL set it runs against PostgreSQL/Redis; without, on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
exec .venv/bin/python -m pytest "$@"
