#!/usr/bin/env bash
# Install the pinned dependencies into the environment of PYTHON: the one way they are installed.
# Usage: scripts/install-requirements.sh PYTHON [runtime|dev]
#   runtime: requirements.txt only, what production runs (the Dockerfile, the CI stage
#            scripts/shipped_topology.sh); dev: requirements-dev.txt (scripts/setup.sh dev).
# Both are constrained by constraints.txt, which pins every transitive package.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:?usage: scripts/install-requirements.sh PYTHON [runtime|dev]}"
kind="${2:-runtime}"
case "$kind" in
  runtime) requirements=requirements.txt ;;
  dev) requirements=requirements-dev.txt ;;
  *) echo "install-requirements.sh: unknown kind '$kind' (runtime or dev)" >&2; exit 2 ;;
esac
"$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" -c constraints.txt
if ! broken=$("$python" -m pip check --disable-pip-version-check); then echo "$broken" >&2; exit 1; fi
