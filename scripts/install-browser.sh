#!/usr/bin/env bash
# Debian's chromium, for the admin's browser tests (config/tests/test_admin_browser.py).
# Playwright for Python drives it (pinned in requirements-dev.txt, installed by setup.sh dev);
# its own browser downloads are never used (no `playwright install`): the tests launch
# /usr/bin/chromium. Without chromium those tests skip, or fail under CI=true.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y chromium || { $sudo apt-get update && $sudo apt-get install -y chromium; }
/usr/bin/chromium --version
