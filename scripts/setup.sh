#!/usr/bin/env bash
# Create .venv and install the pinned dependencies; re-runs only when the pins change.
# Usage: scripts/setup.sh [runtime|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-runtime}"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
[ -x .venv/bin/python ] || "$python" -m venv .venv
files=(requirements.txt constraints.txt scripts/install-requirements.sh)
[ "$kind" = dev ] && files+=(requirements-dev.txt)
stamp=".venv/.installed-$kind-$(cat "${files[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  scripts/install-requirements.sh .venv/bin/python "$kind"
  touch "$stamp"
fi
