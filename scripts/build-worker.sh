#!/usr/bin/env bash
# Builds the edge Worker (wasm + JS shim) into edge-worker/build/.
#
# The catalog manifest is embedded at compile time: by default
# ./catalog-manifest.json (written by `site-gen build`); override with
# CLIPSTORE_MANIFEST=path. Extra arguments go to worker-build
# (e.g. `--out-dir build-bench`, relative to edge-worker/).
# Needs the tools from scripts/setup-tools.sh (wasm-opt: edge-worker/node_modules).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/worker-env.sh
. "$root/scripts/worker-env.sh"

manifest="${CLIPSTORE_MANIFEST:-$root/catalog-manifest.json}"
if [ ! -f "$manifest" ]; then
    echo "build-worker: no catalog manifest at $manifest" >&2
    echo "build-worker: run 'site-gen build' in the shop's folder first (in the clipstore checkout, for the sample shop: 'cargo run -p site-gen -- build --root . --out public')" >&2
    exit 1
fi
CLIPSTORE_MANIFEST="$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")"
export CLIPSTORE_MANIFEST

out_dir="build"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        -d | --out-dir) out_dir="${args[$((i + 1))]}" ;;
        --out-dir=*) out_dir="${args[$i]#--out-dir=}" ;;
    esac
done

# Size over speed: the Worker's hot path is I/O handed to the runtime, not
# wasm compute. Measured on 2026-12-02 (docs/benchmarks.md, "Worker size"):
# "z" 321.8 KB gzip, "s" 350.5 KB (the async handlers inline less under "z";
# in 2026-11, before them, "s" was the smaller). Only this build sees it (the
# workspace profile is unchanged).
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}"
# No symbol names in the module: the name section was a fifth of the gzip
# size (with the ledger, monitoring and checkout: 414 KB -> 336 KB gzip).
# Panic and error messages keep their text; only stack frames lose names.
# The build keeps them for wasm-opt, below, which orders the functions by
# them and then leaves them out; CARGO_PROFILE_RELEASE_STRIP=none keeps them
# in the module too (a profile for twiggy of the module as deployed).
keep_names=(--strip-debug)
if [ "${CARGO_PROFILE_RELEASE_STRIP:-}" = none ]; then
    keep_names=(--debuginfo)
fi
export CARGO_PROFILE_RELEASE_STRIP=none

# Binaryen's wasm-opt, run below on worker-build's output: the npm package
# pinned in edge-worker/package-lock.json (setup-tools.sh's `npm ci`
# installs it), or WASM_OPT_BIN.
wasm_opt="${WASM_OPT_BIN:-$root/edge-worker/node_modules/.bin/wasm-opt}"
if [ ! -x "$wasm_opt" ]; then
    echo "build-worker: no wasm-opt at $wasm_opt: run scripts/setup-tools.sh" >&2
    exit 1
fi

# One build at a time per cargo target folder: a `wrangler dev` rebuilding
# while `wrangler deploy` builds (or two shops of one checkout) would mix one
# build's module with the other's glue (the deployer review: "the glue does
# not name these imports exactly once"), or embed the other's catalog. A
# folder as the lock (`mkdir` is atomic; flock is not on macOS), holding the
# builder's pid so that a killed build's lock is taken over.
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target"
lock="$target/.build-worker.lock"
said=""
# Takes a dead build's lock over: one waiter at a time (a second folder as
# the takeover's own lock), which reads the pid again first, so that two
# waiters never both remove a lock and one of them the other's new one.
take_over() {
    local seen="$1"
    mkdir "$lock.takeover" 2>/dev/null || return 0
    if [ "$(cat "$lock/pid" 2>/dev/null || true)" = "$seen" ]; then
        rm -rf "$lock"
    fi
    rmdir "$lock.takeover"
}
# A takeover killed half-way: nothing holds it after a minute.
if [ -n "$(find "$lock.takeover" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
    rmdir "$lock.takeover" 2>/dev/null || true
fi
until mkdir "$lock" 2>/dev/null; do
    holder="$(cat "$lock/pid" 2>/dev/null || true)"
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
        take_over "$holder"
        continue
    fi
    # Killed between its mkdir and its pid: nothing in it for a minute.
    if [ -z "$holder" ] && [ -n "$(find "$lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
        take_over ""
        continue
    fi
    if [ -z "$said" ]; then
        echo "build-worker: waiting for another Worker build to finish (pid ${holder:-?}: a \`wrangler dev\` or \`wrangler deploy\` building too)" >&2
        said=1
    fi
    sleep 1
done
echo $$ > "$lock/pid"
trap 'rm -rf "$lock"' EXIT
trap 'exit 143' TERM INT HUP

cd "$root/edge-worker"
echo "build-worker: worker-build --release --no-opt $* (manifest: $CLIPSTORE_MANIFEST)"
# --no-opt: worker-build would fetch wasm-opt from GitHub, and would keep
# the name section (`--debuginfo`); wasm-opt runs below instead.
worker-build --release --no-opt "$@"

wasm="$(find "$out_dir" -name '*.wasm' -print -quit)"
if [ -z "$wasm" ]; then
    echo "build-worker: no .wasm under edge-worker/$out_dir" >&2
    exit 1
fi

# -O1 --converge: the smallest gzip of the pass sets measured on 2026-12-05
# (docs/benchmarks.md, "Stop 35"), on a module of 312,182 bytes gzip -9:
# 307,030, where -Os gave 324,703, -Oz 325,708 and -O2 326,113 (they inline
# more: smaller raw, larger gzipped). Three passes of -O2's that do not
# inline help gzip too: --code-folding (identical code tails merged),
# --rse (redundant local sets), -511 bytes, and --precompute-propagate
# (constants carried through locals), -142. Then the functions are put in
# the order of their names: the copies of one generic function, and the
# functions of one module, sit side by side, where gzip's 32 KB window
# finds their likeness (-2.4 KB; the order of first use, --reorder-functions,
# was +14.5 KB). The names (symbols, and wasm-bindgen's for its shims) and
# the producers and target features sections are left out (custom
# sections, read by no runtime). The features are worker-build's own
# list (what rustc's wasm32 target and wasm-bindgen's catch wrappers use),
# so that no encoding workerd lacks is written.
"$wasm_opt" "$wasm" -o "$wasm.opt" -O1 --code-folding --rse --precompute-propagate --converge \
    --reorder-functions-by-name \
    --strip-producers --strip-target-features "${keep_names[@]}" \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
    --enable-multivalue --enable-reference-types --enable-exception-handling
mv "$wasm.opt" "$wasm"

# The imports' names, wasm-bindgen's with a hash each, made short in the
# module and in the glue beside it that provides them (2–3 KB gzip less;
# scripts/short-import-names.mjs says why it is safe).
node "$root/scripts/short-import-names.mjs" "$wasm" "$(dirname "$wasm")/index.js"

raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "build-worker: $wasm: $raw bytes raw, $gz bytes gzip -9"
