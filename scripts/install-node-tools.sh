#!/usr/bin/env bash
# Install Node 22 (as an npm package) with the MCP conformance suite and Inspector CLI
# into scripts/node-tools/node_modules. Needs npm; the tests that use them say so if absent.
set -euo pipefail
cd "$(dirname "$0")/node-tools"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
