#!/usr/bin/env bash
# Set up and start Specgate on the embedded default (SQLite in .data/, eager Celery,
# built-in token issuer) at http://127.0.0.1:8000 — or wherever HOST/PORT say.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput --verbosity 0
echo "Specgate on http://${HOST:-127.0.0.1}:${PORT:-8000}  (token: .venv/bin/python manage.py create_token you@example.com)"
exec .venv/bin/uvicorn config.asgi:application --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --no-access-log --lifespan on
