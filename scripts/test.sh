#!/usr/bin/env bash
# Runs every test of clipstore on a fresh machine, installing what it needs:
#   1. Rust unit and integration tests (site-gen, the shared token/manifest crate,
#      the Worker's runtime-independent logic), with cargo-nextest;
#   2. independent validation of the built sample shop (html5lib, feedparser, xmllint);
#   3. headless-Chromium tests of `site-gen serve` (live reload) and of the cart;
#   4. the Worker's end-to-end tests in workerd with local R2 and D1 (curl, wget -c, aria2c).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "Checking system packages for the site checks (xmllint, python3-venv)"
missing=()
command -v xmllint >/dev/null || missing+=(libxml2-utils)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt-get: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "not root and no sudo: install ${missing[*]} yourself" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "Installing the Worker's toolchain (wasm32 target, worker-build, wasm-bindgen, npm packages) if missing"
bash scripts/setup-tools.sh

step "Rust tests (unit tests beside the code, end-to-end tests under */tests/)"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --exclude edge-worker --no-fail-fast
  cargo nextest run -p edge-worker --lib --no-fail-fast
else
  echo "cargo-nextest not found; using cargo test"
  cargo test --workspace --exclude edge-worker --no-fail-fast
  cargo test -p edge-worker --lib --no-fail-fast
fi

step "Validating the built sample shop with independent tools (tests/site, pytest)"
venv=target/test-venv
if [ ! -x "$venv/bin/pytest" ] || ! cmp -s tests/requirements.txt "$venv/requirements.txt"; then
  echo "creating a Python virtual environment in $venv with tests/requirements.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$venv/requirements.txt"
fi
cargo build --quiet -p site-gen
# Where cargo put it (CARGO_TARGET_DIR, or a target-dir in a cargo config).
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
SITE_GEN="$target_dir/debug/site-gen" "$venv/bin/pytest" -q tests/site

step "Browser tests of site-gen serve's live reload and of the cart (headless Chromium)"
bash scripts/test-browser.sh

step "Edge Worker end-to-end tests in workerd (local R2 and D1)"
CLIPSTORE_SKIP_SETUP=1 bash scripts/test-worker.sh
