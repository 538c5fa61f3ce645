#!/usr/bin/env bash
# Browser tests in headless Chromium (Debian packages chromium and
# chromium-driver) driven by playwright-core:
#   - serve.test.mjs: a page opened from `site-gen serve` shows an edit to the
#     Markdown without a manual reload; a broken edit shows the error overlay;
#     tabs in the background hold no connection (a seventh page still loads);
#   - cart.test.mjs: the built sample shop's cart (static/js/cart.js): add,
#     count, /cart/, the exact POST to /checkout, other tabs, limits, refused
#     storage, no JavaScript, and data-cart-clear;
#   - search.test.mjs: the search page (static/js/search.js on Pagefind's
#     index): a query, a filter, filters alone, the address, no JavaScript,
#     under the shop's own Content-Security-Policy.
# Installs what it
# needs (apt-get as root or with sudo; `npm ci` from the committed lockfile;
# never downloads a browser of its own). Runs without a display or stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The Node that setup-tools.sh installs when the system's is too old
# (node --test --test-concurrency needs 20.10; Debian 12 ships 18).
# shellcheck source=scripts/worker-env.sh
. scripts/worker-env.sh

step() { printf '\n==> %s\n' "$*"; }

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s chromium-driver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing with apt-get: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "not root and no sudo: install ${missing[*]} yourself" >&2; exit 1; }
    sudo="sudo -n"
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "Building site-gen"
cargo build -p site-gen --quiet
SITE_GEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/site-gen"

step "Installing playwright-core from tests/browser/package-lock.json"
# playwright-core alone never downloads browsers; the test uses /usr/bin/chromium.
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

step "Browser tests (headless Chromium): live reload, the cart, search"
cd tests/browser
SITE_GEN="$SITE_GEN" CHROMIUM=/usr/bin/chromium timeout 300 node --test --test-concurrency=1 serve.test.mjs cart.test.mjs search.test.mjs </dev/null
