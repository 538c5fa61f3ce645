#!/usr/bin/env bash
# Edge Worker benchmark (results go to docs/benchmarks.md, "Edge Worker"):
#   1. throughput of a 200 MB download through the Rust Worker vs a minimal
#      JavaScript Worker that returns the R2 body unchanged
#      (bench/passthrough-worker), same workerd, same local R2, same run;
#   2. workerd memory (RSS) while the Rust Worker streams a 1 GB object;
#   3. the Worker's wasm size, raw and gzip.
# Both Workers run in turn (never at once, so they do not share the CPU) on
# one persistence directory, i.e. the same local R2 objects.
#
# Usage: bench/worker-throughput.sh [runs per Worker, default 5]
# Needs scripts/setup-tools.sh; builds its own Worker under edge-worker/build/bench
# with a bench manifest, so your edge-worker/build/ is left alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/worker-env.sh
. scripts/worker-env.sh
runs="${1:-5}"
wrangler="$root/edge-worker/node_modules/.bin/wrangler"
work="$(mktemp -d "${TMPDIR:-/tmp}/clipstore-bench-XXXXXX")"
dev_pid=""
cleanup() {
    if [ -n "$dev_pid" ]; then kill -TERM -- "-$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf 'bench: %s\n' "$*" >&2; }

small=$((200 * 1000 * 1000))
large=$((1000 * 1000 * 1000))
say "making random objects: 200 MB and 1 GB in $work"
head -c "$small" /dev/urandom >"$work/bench-200mb.bin"
head -c "$large" /dev/urandom >"$work/bench-1gb.bin"
sha_small="$(sha256sum "$work/bench-200mb.bin" | cut -d' ' -f1)"

cat >"$work/manifest.json" <<JSON
{
  "version": 1,
  "shop": { "title": "Bench", "base_url": "http://127.0.0.1", "contact_email": "bench@example.com",
            "currency": "EUR", "stylesheet": "/css/site.css" },
  "clips": {
    "bench-200mb": { "title": "200 MB", "object_key": "bench/200mb.bin", "file_name": "200mb.bin",
                     "size": $small, "content_type": "video/mp4" },
    "bench-1gb": { "title": "1 GB", "object_key": "bench/1gb.bin", "file_name": "1gb.bin",
                   "size": $large, "content_type": "video/mp4" }
  }
}
JSON
say "building the Rust Worker with the bench manifest (edge-worker/build/bench)"
CLIPSTORE_MANIFEST="$work/manifest.json" bash scripts/build-worker.sh --out-dir build/bench >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
wasm="$root/edge-worker/build/bench/index_bg.wasm"
wasm_raw=$(wc -c <"$wasm")
wasm_gz=$(gzip -9 -c "$wasm" | wc -c)

mkdir -p "$work/public/css" && echo '<p>bench</p>' >"$work/public/index.html" && : >"$work/public/css/site.css"
key_secret="$(openssl rand 32 | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
printf 'TOKEN_KEYS=bench:%s\n' "$key_secret" >"$work/.dev.vars"
sed -e "s|^main = .*|main = \"$root/edge-worker/build/bench/index.js\"|" \
    -e "s|^directory = .*|directory = \"$work/public\"|" \
    -e "s|^migrations_dir = .*|migrations_dir = \"$root/edge-worker/migrations\"|" \
    edge-worker/wrangler.toml >"$work/rust.toml"
bucket="$(sed -n 's/^bucket_name = "\(.*\)"$/\1/p' edge-worker/wrangler.toml)"
cat >"$work/js.toml" <<TOML
name = "clipstore-bench-passthrough"
main = "$root/bench/passthrough-worker/index.js"
compatibility_date = "$(sed -n 's/^compatibility_date = "\(.*\)"$/\1/p' edge-worker/wrangler.toml)"
[[r2_buckets]]
binding = "CLIPS"
bucket_name = "$bucket"
TOML

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
inspector=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
start_worker() { # config
    # setsid: wrangler leads its own process group (wrangler, node, workerd),
    # which stop_worker ends by that id.
    setsid "$wrangler" dev --config "$1" --ip 127.0.0.1 --port "$port" --inspector-port "$inspector" \
        --persist-to "$work/state" --show-interactive-dev-session=false --log-level warn >>"$work/dev.log" 2>&1 &
    dev_pid=$!
    for _ in $(seq 1 240); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.25
    done
    cat "$work/dev.log" >&2
    return 1
}
stop_worker() {
    kill -TERM -- "-$dev_pid" 2>/dev/null || true
    wait "$dev_pid" 2>/dev/null || true
    dev_pid=""
}
workerd_pid() { # the workerd process under the running wrangler
    local pids=("$dev_pid") all=() p
    while [ ${#pids[@]} -gt 0 ]; do
        all+=("${pids[@]}")
        mapfile -t pids < <(for p in "${pids[@]}"; do pgrep -P "$p" || true; done)
    done
    for p in "${all[@]}"; do
        if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "workerd" ]; then echo "$p"; return; fi
    done
}

say "seeding local R2 through the pass-through Worker"
start_worker "$work/js.toml"
curl -fsS -T "$work/bench-200mb.bin" "http://127.0.0.1:$port/bench/200mb.bin" >/dev/null
curl -fsS -T "$work/bench-1gb.bin" "http://127.0.0.1:$port/bench/1gb.bin" >/dev/null
stop_worker
rm -f "$work/bench-1gb.bin"

token="$(cd "$root" && CLIPSTORE_SIGNING_KEY="bench:$key_secret" cargo run -q -p edge-worker --example mint_token -- bench-200mb bench-1gb)"

median() { node -e 'const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);const m=v.length>>1;console.log(v.length%2?v[m]:(v[m-1]+v[m])/2)' "$@"; }
mbps() { node -e 'console.log((Number(process.argv[1])/1e6).toFixed(0))' "$1"; }
measure() { # url -> bytes/s of each run (one warm-up first)
    curl -fsS -o /dev/null "$1"
    for _ in $(seq 1 "$runs"); do curl -fsS -o /dev/null -w '%{speed_download}\n' "$1"; done
}

rust_url="http://127.0.0.1:$port/download/$token/bench-200mb"
js_url="http://127.0.0.1:$port/bench/200mb.bin"
say "throughput, 200 MB x $runs per Worker (after one warm-up)"
start_worker "$work/rust.toml"
got="$(curl -fsS "$rust_url" | sha256sum | cut -d' ' -f1)"
[ "$got" = "$sha_small" ] || { say "Rust Worker returned different bytes ($got != $sha_small)"; exit 1; }
headers="$(curl -fsS -D - -o /dev/null "$rust_url")"
mapfile -t rust_speeds < <(measure "$rust_url")
stop_worker
start_worker "$work/js.toml"
mapfile -t js_speeds < <(measure "$js_url")
stop_worker
rust_med="$(median "${rust_speeds[@]}")"
js_med="$(median "${js_speeds[@]}")"
ratio="$(node -e 'console.log((process.argv[1]/process.argv[2]).toFixed(3))' "$rust_med" "$js_med")"

sample_rss() { # url limit -> "start max end" RSS in MB of workerd while streaming
    local wpid rss start max=0 end curl_pid
    wpid="$(workerd_pid)"
    start=$(($(awk '/VmRSS/ {print $2}' "/proc/$wpid/status") / 1024))
    curl -fsS --limit-rate "$2" -o /dev/null "$1" &
    curl_pid=$!
    : >"$work/rss.txt"
    while kill -0 "$curl_pid" 2>/dev/null; do
        rss=$(($(awk '/VmRSS/ {print $2}' "/proc/$wpid/status") / 1024))
        echo "$rss" >>"$work/rss.txt"
        [ "$rss" -gt "$max" ] && max=$rss
        sleep 0.2
    done
    wait "$curl_pid"
    end=$(($(awk '/VmRSS/ {print $2}' "/proc/$wpid/status") / 1024))
    echo "$start $max $end $(wc -l <"$work/rss.txt")"
}
say "workerd memory while streaming 1 GB (curl --limit-rate 150M)"
start_worker "$work/rust.toml"
curl -fsS -o /dev/null "http://127.0.0.1:$port/download/$token/bench-200mb" # warm-up
read -r r_start r_max r_end r_n < <(sample_rss "http://127.0.0.1:$port/download/$token/bench-1gb" 150M)
stop_worker
start_worker "$work/js.toml"
curl -fsS -o /dev/null "$js_url"
read -r j_start j_max j_end j_n < <(sample_rss "http://127.0.0.1:$port/bench/1gb.bin" 150M)
stop_worker

cat <<MD
### Run of $(date -u +%Y-%m-%dT%H:%MZ) ($(nproc) cores, wrangler $(cd edge-worker && node -p 'require("wrangler/package.json").version'), $(node --version))

| Measure | Rust Worker | JS pass-through | Note |
|---|---|---|---|
| 200 MB download, median of $runs (MB/s) | $(mbps "$rust_med") | $(mbps "$js_med") | ratio **$ratio** (target >= 0.95) |
| 200 MB runs (MB/s) | $(for s in "${rust_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| $(for s in "${js_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| |
| workerd RSS streaming 1 GB: start / max / end (MB) | $r_start / $r_max / $r_end | $j_start / $j_max / $j_end | $r_n / $j_n samples at 0.2 s |
| wasm size | $wasm_raw bytes raw, $wasm_gz bytes gzip -9 | | target <= 250 KB gzip |

Rust Worker response headers for the 200 MB clip:

\`\`\`
$(printf '%s\n' "$headers" | tr -d '\r' | grep -v '^$')
\`\`\`
MD
