#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser test (test/integration/ui.test.ts, driven by
# playwright-core with executablePath /usr/bin/chromium; Playwright's own browser download cannot work here).
# Installs it with apt-get when missing; fails loudly when it cannot.
set -euo pipefail
bin="${CHROMIUM_BINARY:-/usr/bin/chromium}"
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  exit 0
fi
echo "chromium not found at $bin; installing Debian's chromium with apt-get" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: no apt-get here. Install Chromium yourself and set CHROMIUM_BINARY to its path." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "error: installing chromium needs root (apt-get install -y chromium), or set CHROMIUM_BINARY." >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq chromium >&2
if ! [ -x "$bin" ] || ! "$bin" --version >/dev/null 2>&1; then
  echo "error: apt-get installed chromium but $bin does not run." >&2
  exit 1
fi
