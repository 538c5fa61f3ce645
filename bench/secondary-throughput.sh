#!/usr/bin/env bash
# Secondary-origin benchmark (results go to docs/benchmarks.md, "Downloads
# from the secondary origin"):
#   1. throughput of a 200 MB download that the Rust Worker serves from the
#      secondary origin (R2 lacks the object) vs a minimal JavaScript Worker
#      that signs a GET for the same S3 object and returns its body unchanged
#      (bench/passthrough-s3-worker), same workerd, same s3s-fs, same run;
#   2. time to first byte (of a ranged GET of the first MiB), Rust Worker from the secondary
#      vs from R2 (the object then put into local R2): what the failover adds
#      when R2 says "missing" at once (when R2 hangs instead, the wait is
#      bounded by SECONDARY_R2_BUDGET_MS by construction), and vs the JS
#      pass-through.
# Both Workers run in turn (never at once), on loopback only. s3s-fs (a real
# S3 server that checks SigV4) gets a key pair made for the run.
#
# Usage: bench/secondary-throughput.sh [runs per Worker, default 5]
# Needs scripts/setup-tools.sh; builds its own Worker under
# edge-worker/build/bench-secondary with a bench manifest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/worker-env.sh
. scripts/worker-env.sh
runs="${1:-5}"
ttfb_runs=20
commit="$(git -C "$root" rev-parse --short HEAD)"
[ -z "$(git -C "$root" status --porcelain -- edge-worker/src edge-worker/Cargo.toml Cargo.lock)" ] ||
    commit="$commit + uncommitted changes"
wrangler="$root/edge-worker/node_modules/.bin/wrangler"
work="$(mktemp -d "${TMPDIR:-/tmp}/clipstore-bench-secondary-XXXXXX")"
dev_pid=""
s3_pid=""
cleanup() {
    if [ -n "$dev_pid" ]; then kill -TERM -- "-$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
    if [ -n "$s3_pid" ]; then kill "$s3_pid" 2>/dev/null || true; wait "$s3_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf 'bench: %s\n' "$*" >&2; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

size=$((200 * 1000 * 1000))
say "making a random 200 MB object in $work"
head -c "$size" /dev/urandom >"$work/bench-200mb.bin"
sha="$(sha256sum "$work/bench-200mb.bin" | cut -d' ' -f1)"

cat >"$work/manifest.json" <<JSON
{
  "version": 3,
  "shop": { "title": "Bench", "base_url": "http://127.0.0.1", "contact_email": "bench@example.com",
            "currency": "EUR", "stylesheet": "/css/site.css" },
  "clips": {
    "bench-200mb": { "title": "200 MB", "object_key": "bench/200mb.bin", "file_name": "200mb.bin",
                     "size": $size, "content_type": "video/mp4", "price": 100, "sha256": "$sha" }
  }
}
JSON
say "building the Rust Worker with the bench manifest (edge-worker/build/bench-secondary)"
CLIPSTORE_MANIFEST="$work/manifest.json" bash scripts/build-worker.sh --out-dir build/bench-secondary >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }

say "starting s3s-fs with the object"
s3_port="$(free_port)"
s3_key="AKIA$(openssl rand -hex 8 | tr 'a-f' 'A-F')"
s3_secret="$(openssl rand 30 | openssl base64 -A)"
mkdir -p "$work/s3/clipstore-secondary"
s3s-fs --host 127.0.0.1 --port "$s3_port" --access-key "$s3_key" --secret-key "$s3_secret" "$work/s3" >"$work/s3.log" 2>&1 &
s3_pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break; sleep 0.1; done
# Uploaded with a signed PUT, as push does: s3s-fs then keeps the ETag; for a
# file copied into its folder it would hash all 200 MB on every request.
curl -fsS -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$s3_key:$s3_secret" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -H "x-amz-meta-sha256: $sha" -T "$work/bench-200mb.bin" \
    "http://127.0.0.1:$s3_port/clipstore-secondary/bench/200mb.bin"

mkdir -p "$work/public/css" && echo '<p>bench</p>' >"$work/public/index.html" && : >"$work/public/css/site.css"
key_secret="$(openssl rand 32 | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
cat >"$work/.dev.vars" <<VARS
TOKEN_KEYS=bench:$key_secret
SECONDARY_ENDPOINT=http://127.0.0.1:$s3_port
SECONDARY_REGION=us-east-1
SECONDARY_BUCKET=clipstore-secondary
SECONDARY_ACCESS_KEY_ID=$s3_key
SECONDARY_SECRET_ACCESS_KEY=$s3_secret
VARS
sed -e "s|^main = .*|main = \"$root/edge-worker/build/bench-secondary/index.js\"|" \
    -e "s|^directory = .*|directory = \"$work/public\"|" \
    -e "s|^migrations_dir = .*|migrations_dir = \"$root/edge-worker/migrations\"|" \
    edge-worker/wrangler.toml >"$work/rust.toml"
bucket="$(sed -n 's/^bucket_name = "\(.*\)"$/\1/p' edge-worker/wrangler.toml)"
cat >"$work/js.toml" <<TOML
name = "clipstore-bench-s3-passthrough"
main = "$root/bench/passthrough-s3-worker/index.js"
compatibility_date = "$(sed -n 's/^compatibility_date = "\(.*\)"$/\1/p' edge-worker/wrangler.toml)"
TOML
(cd "$work" && "$wrangler" d1 migrations apply DB --local --persist-to "$work/state" --config "$work/rust.toml" >/dev/null 2>&1)

port="$(free_port)"
inspector="$(free_port)"
start_worker() { # config
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

token="$(cd "$root" && CLIPSTORE_SIGNING_KEY="bench:$key_secret" cargo run -q -p edge-worker --example mint_token -- bench-200mb)"
median() { node -e 'const v=process.argv.slice(1).map(Number).sort((a,b)=>a-b);const m=v.length>>1;console.log(v.length%2?v[m]:(v[m-1]+v[m])/2)' "$@"; }
mbps() { node -e 'console.log((Number(process.argv[1])/1e6).toFixed(0))' "$1"; }
fixed1() { node -e 'console.log(Number(process.argv[1]).toFixed(1))' "$1"; }
measure() { # url -> bytes/s of each run (one warm-up first)
    curl -fsS -o /dev/null "$1"
    for _ in $(seq 1 "$runs"); do curl -fsS -o /dev/null -w '%{speed_download}\n' "$1"; done
}
# Time to first byte of the first MiB (a ranged GET: each request goes
# through the same origin lookup, reservation and first read as a full one,
# without moving 200 MB through a shared machine 20 times).
ttfb() { # url -> ms of each, one warm-up first
    curl -fsS -o /dev/null -r 0-1048575 "$1"
    for _ in $(seq 1 "$ttfb_runs"); do
        sleep 0.2
        curl -fsS -o /dev/null -r 0-1048575 -w '%{time_starttransfer}\n' "$1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log((Number(s)*1000).toFixed(1)))'
    done
}

rust_url="http://127.0.0.1:$port/download/$token/bench-200mb"
js_url="http://127.0.0.1:$port/bench/200mb.bin"
say "Rust Worker, R2 lacks the object: throughput ($runs x 200 MB) and TTFB ($ttfb_runs full GETs)"
start_worker "$work/rust.toml"
got="$(curl -fsS "$rust_url" | sha256sum | cut -d' ' -f1)"
[ "$got" = "$sha" ] || { say "Rust Worker returned different bytes ($got != $sha)"; exit 1; }
headers="$(curl -fsS -D - -o /dev/null "$rust_url")"
mapfile -t rust_speeds < <(measure "$rust_url")
mapfile -t rust_ttfb < <(ttfb "$rust_url")
stop_worker
served="$(cd "$work" && "$wrangler" d1 execute DB --local --persist-to "$work/state" --config "$work/rust.toml" --json \
    --command "SELECT origin, COUNT(*) AS n FROM download_attempts GROUP BY origin" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].results.map(r=>`${r.origin}: ${r.n}`).join(", ")))')"

say "JS pass-through of the same S3 object"
start_worker "$work/js.toml"
got="$(curl -fsS "$js_url" | sha256sum | cut -d' ' -f1)"
[ "$got" = "$sha" ] || { say "JS Worker returned different bytes"; exit 1; }
mapfile -t js_speeds < <(measure "$js_url")
mapfile -t js_ttfb < <(ttfb "$js_url")
stop_worker

say "Rust Worker, the object in R2 too: TTFB ($ttfb_runs full GETs)"
(cd "$work" && "$wrangler" r2 object put "$bucket/bench/200mb.bin" --file "$work/bench-200mb.bin" --local \
    --persist-to "$work/state" --config "$work/rust.toml" >/dev/null 2>&1)
start_worker "$work/rust.toml"
mapfile -t r2_ttfb < <(ttfb "$rust_url")
mapfile -t r2_speeds < <(measure "$rust_url")
stop_worker

rust_med="$(median "${rust_speeds[@]}")"
js_med="$(median "${js_speeds[@]}")"
r2_med="$(median "${r2_speeds[@]}")"
ratio="$(node -e 'console.log((process.argv[1]/process.argv[2]).toFixed(3))' "$rust_med" "$js_med")"
rt="$(fixed1 "$(median "${rust_ttfb[@]}")")"
jt="$(fixed1 "$(median "${js_ttfb[@]}")")"
r2t="$(fixed1 "$(median "${r2_ttfb[@]}")")"
added="$(node -e 'console.log((process.argv[1]-process.argv[2]).toFixed(1))' "$rt" "$r2t")"

cat <<MD
### Run of $(date -u +%Y-%m-%dT%H:%MZ) ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), wrangler $(cd edge-worker && node -p 'require("wrangler/package.json").version'), s3s-fs $(s3s-fs --version | cut -d' ' -f2), Worker from $commit)

| Measure | Rust Worker from the secondary | JS pass-through of the S3 object | Rust Worker from R2 | Note |
|---|---|---|---|---|
| 200 MB download, median of $runs (MB/s) | $(mbps "$rust_med") | $(mbps "$js_med") | $(mbps "$r2_med") | secondary / JS ratio **$ratio** (target >= 0.9) |
| 200 MB runs (MB/s) | $(for s in "${rust_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| $(for s in "${js_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| $(for s in "${r2_speeds[@]}"; do printf '%s ' "$(mbps "$s")"; done)| |
| TTFB, GET of the first MiB, median of $ttfb_runs (ms) | $rt | $jt | $r2t | failover adds **$added ms** (R2 answers "missing" at once) |
| TTFB runs (ms) | $(printf '%s ' "${rust_ttfb[@]}")| $(printf '%s ' "${js_ttfb[@]}")| $(printf '%s ' "${r2_ttfb[@]}")| |

Ledger origins of the Rust Worker's downloads in the first phase: $served.

Rust Worker response headers (from the secondary):

\`\`\`
$(printf '%s\n' "$headers" | tr -d '\r' | grep -v '^$')
\`\`\`
MD
