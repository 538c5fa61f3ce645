#!/usr/bin/env bash
# Edge Worker benchmark (results go to docs/benchmarks.md, "Edge Worker"):
#   1. throughput of a 200 MB download through the Rust Worker vs a minimal
#      JavaScript Worker that returns the R2 body unchanged
#      (bench/passthrough-worker), same workerd, same local R2, same run;
#   2. time to first byte of the same 200 MB object, Rust Worker vs pass-through
#      (median of 20 full GETs each), and how much of the Rust Worker's TTFB
#      the download ledger holds the first byte back (its Server-Timing
#      header: `ledger;dur=X, total;dur=Y`, from the same 20 responses);
#   3. workerd memory (RSS) while the Rust Worker streams a 1 GB object;
#   4. the Worker's wasm size, raw and gzip.
# Both Workers run in turn (never at once, so they do not share the CPU) on
# one persistence directory, i.e. the same local R2 objects.
#
# Every full GET through the Rust Worker is charged against the bench token's
# allowance (1000 downloads per clip, edge-worker/examples/mint_token.rs); a
# run makes 25 + runs of them for the 200 MB clip and one for the 1 GB clip.
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
ttfb_runs=20
# Full GETs of the 200 MB clip through the Rust Worker: the SHA-256 check, the
# headers, 1 + runs for throughput, 1 + ttfb_runs for TTFB, 1 RSS warm-up.
allowance=1000 # downloads per clip that mint_token grants
[ $((5 + runs + ttfb_runs)) -le "$allowance" ] ||
    { echo "bench: $runs runs need more than the token's $allowance downloads" >&2; exit 2; }
commit="$(git -C "$root" rev-parse --short HEAD)"
# What the bench Worker is built from: the commit, and whether the Rust that
# goes into it had uncommitted edits at the time.
[ -z "$(git -C "$root" status --porcelain -- edge-worker/src edge-worker/build.rs edge-worker/Cargo.toml \
    edge-worker/migrations edge-worker/wrangler.toml clipstore-core Cargo.toml Cargo.lock scripts/build-worker.sh)" ] ||
    commit="$commit + uncommitted changes"
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
  "version": 3,
  "shop": { "title": "Bench", "base_url": "http://127.0.0.1", "contact_email": "bench@example.com",
            "currency": "EUR", "stylesheet": "/css/site.css" },
  "clips": {
    "bench-200mb": { "title": "200 MB", "object_key": "bench/200mb.bin", "file_name": "200mb.bin",
                     "size": $small, "content_type": "video/mp4", "price": 100 },
    "bench-1gb": { "title": "1 GB", "object_key": "bench/1gb.bin", "file_name": "1gb.bin",
                   "size": $large, "content_type": "video/mp4", "price": 100 }
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
# Time to first byte: plain full GETs, the path a download really takes (no
# Range, no early abort, which would change what the Worker reserves and
# settles). Each transfer runs to the end into /dev/null; then a short pause,
# so that the previous response's settlement (a D1 batch in waitUntil after
# the last byte) is not racing the next request's reservation.
ttfb() { # url -> per request: "ttfb_ms ledger_ms total_ms" (server-timing; "- -" without it)
    local t st
    curl -fsS -o /dev/null "$1"
    for _ in $(seq 1 "$ttfb_runs"); do
        sleep 0.2
        t="$(curl -fsS -D "$work/ttfb-headers" -o /dev/null -w '%{time_starttransfer}' "$1")"
        st="$(tr -d '\r' <"$work/ttfb-headers" | sed -n 's/^[Ss]erver-[Tt]iming: *//p')"
        node -e 'const [t, st] = process.argv.slice(1);
            const dur = (n) => { const m = new RegExp("(?:^|,)\\s*" + n + ";dur=([0-9.]+)").exec(st || ""); return m ? m[1] : "-"; };
            console.log((Number(t) * 1000).toFixed(1), dur("ledger"), dur("total"))' "$t" "$st"
    done
}

rust_url="http://127.0.0.1:$port/download/$token/bench-200mb"
js_url="http://127.0.0.1:$port/bench/200mb.bin"
say "throughput, 200 MB x $runs per Worker (after one warm-up)"
start_worker "$work/rust.toml"
got="$(curl -fsS "$rust_url" | sha256sum | cut -d' ' -f1)"
[ "$got" = "$sha_small" ] || { say "Rust Worker returned different bytes ($got != $sha_small)"; exit 1; }
headers="$(curl -fsS -D - -o /dev/null "$rust_url")"
mapfile -t rust_speeds < <(measure "$rust_url")
say "time to first byte, 200 MB x $ttfb_runs full GETs per Worker (after one warm-up)"
mapfile -t rust_ttfb < <(ttfb "$rust_url")
stop_worker
start_worker "$work/js.toml"
mapfile -t js_speeds < <(measure "$js_url")
mapfile -t js_ttfb < <(ttfb "$js_url")
stop_worker
rust_med="$(median "${rust_speeds[@]}")"
js_med="$(median "${js_speeds[@]}")"
ratio="$(node -e 'console.log((process.argv[1]/process.argv[2]).toFixed(3))' "$rust_med" "$js_med")"
field() { local n="$1" line; shift; for line in "$@"; do echo "$line" | cut -d' ' -f"$n"; done; }
mapfile -t r_t < <(field 1 "${rust_ttfb[@]}")
mapfile -t r_ledger < <(field 2 "${rust_ttfb[@]}")
mapfile -t r_total < <(field 3 "${rust_ttfb[@]}")
mapfile -t j_t < <(field 1 "${js_ttfb[@]}")
[[ " ${r_ledger[*]} ${r_total[*]} " != *" - "* ]] ||
    { say "a Rust Worker response had no server-timing ledger/total: ${rust_ttfb[*]}"; exit 1; }
fixed1() { node -e 'console.log(Number(process.argv[1]).toFixed(1))' "$1"; }
r_ttfb_med="$(fixed1 "$(median "${r_t[@]}")")"
j_ttfb_med="$(fixed1 "$(median "${j_t[@]}")")"
ledger_med="$(median "${r_ledger[@]}")"
total_med="$(median "${r_total[@]}")"
ttfb_ratio="$(node -e 'console.log((process.argv[1]/process.argv[2]).toFixed(2))' "$r_ttfb_med" "$j_ttfb_med")"
pct() { node -e 'console.log((100*process.argv[1]/process.argv[2]).toFixed(0))' "$1" "$2"; }
ledger_share="$(pct "$ledger_med" "$r_ttfb_med")"
ledger_of_total="$(pct "$ledger_med" "$total_med")"

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
### Run of $(date -u +%Y-%m-%dT%H:%MZ) ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), wrangler $(cd edge-worker && node -p 'require("wrangler/package.json").version'), $(node --version), Worker from $commit)

| Measure | Rust Worker | JS pass-through | Note |
|---|---|---|---|
| 200 MB download, median of $runs (MB/s) | $(mbps "$rust_med") | $(mbps "$js_med") | ratio **$ratio** (target >= 0.95) |
| 200 MB runs (MB/s) | $(for s in "${rust_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| $(for s in "${js_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| |
| TTFB, 200 MB full GET, median of $ttfb_runs (ms) | $r_ttfb_med | $j_ttfb_med | ratio **$ttfb_ratio** (curl time_starttransfer) |
| Rust Worker Server-Timing, median of the same $ttfb_runs (ms) | ledger $ledger_med, total $total_med | | ledger = **$ledger_share %** of the Worker's TTFB ($ledger_of_total % of total) |
| TTFB runs (ms) | $(printf '%s ' "${r_t[@]}")| $(printf '%s ' "${j_t[@]}")| |
| ledger / total dur runs (ms) | $(for i in "${!r_ledger[@]}"; do printf '%s/%s ' "${r_ledger[$i]}" "${r_total[$i]}"; done)| | |
| workerd RSS streaming 1 GB: start / max / end (MB) | $r_start / $r_max / $r_end | $j_start / $j_max / $j_end | $r_n / $j_n samples at 0.2 s |
| wasm size | $wasm_raw bytes raw, $wasm_gz bytes gzip -9 | | target <= 250 KB gzip |

Rust Worker response headers for the 200 MB clip:

\`\`\`
$(printf '%s\n' "$headers" | tr -d '\r' | grep -v '^$')
\`\`\`
MD
