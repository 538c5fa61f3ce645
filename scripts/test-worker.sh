#!/usr/bin/env bash
# The edge Worker's end-to-end tests: builds the site and the Worker, then runs
# edge-worker/tests/*.test.mjs with node's test runner. Each test file starts
# its own `wrangler dev` (workerd, local R2 and D1 in a temp dir) on a free
# loopback port and stops it by process id when it ends, pass or fail.
#
# Usage: scripts/test-worker.sh [extra node --test args, e.g. --test-name-pattern=range]
# Env:   CLIPSTORE_SKIP_SETUP=1  skip scripts/setup-tools.sh
#        CLIPSTORE_SKIP_BUILD=1  reuse public/, catalog-manifest.json and edge-worker/build/
#        CLIPSTORE_E2E_KEEP=1    keep each test's temp dir (wrangler log, local state)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/worker-env.sh
. scripts/worker-env.sh
step() { printf '\n==> %s\n' "$*"; }

if [ -z "${CLIPSTORE_SKIP_SETUP:-}" ]; then
    step "Worker toolchain"
    bash scripts/setup-tools.sh
    # Again: setup-tools.sh may have just installed Node, on its own PATH only.
    . scripts/worker-env.sh
fi

step "Building site-gen"
cargo build -q -p site-gen
target_dir="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
SITE_GEN_BIN="$target_dir/debug/site-gen"
export SITE_GEN_BIN

if [ -z "${CLIPSTORE_SKIP_BUILD:-}" ]; then
    step "Building the site (public/, catalog-manifest.json)"
    "$SITE_GEN_BIN" build --root . --out public
    step "Building the Worker"
    bash scripts/build-worker.sh
fi

step "Checking the Worker's size against edge-worker/wasm-budget"
budget="$(grep -v '^#' edge-worker/wasm-budget | tr -d '[:space:]')"
wasm_gz=$(gzip -9 -c edge-worker/build/index_bg.wasm | wc -c)
echo "wasm module: $wasm_gz bytes gzip -9, budget $budget"
if [ "$wasm_gz" -gt "$budget" ]; then
    echo "the Worker's wasm is $wasm_gz bytes gzip -9, over its budget of $budget (edge-worker/wasm-budget):" >&2
    echo "make it smaller, or raise the budget in this commit with the measured cost in docs/benchmarks.md" >&2
    exit 1
fi

step "Bundling as a deploy would (wrangler deploy --dry-run): a bundle Cloudflare would refuse fails here"
cd edge-worker
dry="$(mktemp -d)"
trap 'rm -rf "$dry"' EXIT
if ! node_modules/.bin/wrangler deploy --dry-run --outdir "$dry/out" >"$dry/log" 2>&1; then
    cat "$dry/log" >&2
    exit 1
fi
grep -E 'Total Upload' "$dry/log" || true
ls "$dry"/out/*.wasm "$dry"/out/index.js >/dev/null || { echo "wrangler deploy --dry-run wrote no bundle" >&2; exit 1; }
# Cloudflare refuses a Worker over 3 MB gzip on the Free plan (10 MB paid).
bundle_gz=$(cat "$dry"/out/*.wasm "$dry"/out/index.js | gzip -9 | wc -c)
if [ "$bundle_gz" -gt $((3 * 1024 * 1024)) ]; then
    echo "the Worker bundle is $bundle_gz bytes gzip: over the Free plan's 3 MB limit" >&2
    exit 1
fi
rm -rf "$dry"

step "End-to-end tests (node --test edge-worker/tests/)"
start=$(date +%s)
node --test --test-reporter=spec "$@" tests/*.test.mjs
echo "end-to-end tests took $(($(date +%s) - start)) s"
