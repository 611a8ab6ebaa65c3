#!/usr/bin/env bash
# Install Node 22 (as an npm package) with the MCP conformance suite and Inspector CLI
# into scripts/node-tools/node_modules. Needs npm; the tests that use them say so if absent.
# Re-runs only when package-lock.json changes: `npm ci` empties node_modules first, which
# must not happen to an install that is up to date (and may be shared through a symlink).
set -euo pipefail
cd "$(dirname "$0")/node-tools"
stamp="node_modules/.installed-$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
touch "$stamp"
