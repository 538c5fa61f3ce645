#!/usr/bin/env bash
# Runs the whole shop locally: installs the tools, builds the site and the
# Worker, seeds the local R2 bucket with the sample clips and the local D1
# database, starts `wrangler dev` (workerd) on 127.0.0.1 and prints the shop
# URL and a freshly minted sample download link. Stays in the foreground;
# Ctrl-C stops it.
#
# It also starts the secondary origin (docs/secondary-origin.md): s3s-fs, a
# local S3 server that checks SigV4 signatures, on 127.0.0.1:$S3_PORT with a
# key pair made on the first run, seeded with the sample clips, and the Worker
# configured to turn to it when R2 fails or lacks a clip.
#
# Env: PORT (default 8787), S3_PORT (default 8014). Local secrets live in
# edge-worker/.dev.vars (git-ignored), generated with a random TOKEN_KEYS key,
# ADMIN_TOKEN and secondary key pair on the first run.
# Local R2/D1 data persist in edge-worker/.wrangler/state, the secondary's
# objects in edge-worker/.wrangler/secondary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/worker-env.sh
. scripts/worker-env.sh
port="${PORT:-8787}"
s3_port="${S3_PORT:-8014}"
step() { printf '\n==> %s\n' "$*"; }

# A port something else already answers on would make this script talk to
# that (another checkout's wrangler, another program) instead of this shop.
for p in "$port" "$s3_port"; do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/"; then
        echo "port $p on 127.0.0.1 is in use (another run-local.sh or wrangler dev?): stop it, or pick other ports, e.g. PORT=8788 S3_PORT=8015 bash scripts/run-local.sh" >&2
        exit 1
    fi
done

step "Tools"
bash scripts/setup-tools.sh
# Again: setup-tools.sh may have just installed Node (wrangler needs 22.12),
# which only its own PATH had.
. scripts/worker-env.sh

step "Building the site (public/, catalog-manifest.json)"
cargo run -q -p site-gen -- build --root . --out public

step "Building the Worker"
bash scripts/build-worker.sh

cd edge-worker
if ! grep -qs '^TOKEN_KEYS=' .dev.vars; then
    step "Writing edge-worker/.dev.vars with a new random signing key (git-ignored)"
    secret="$(openssl rand 32 | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
    umask 077
    printf 'TOKEN_KEYS=k1:%s\n' "$secret" >>.dev.vars
fi
if ! grep -qs '^ADMIN_TOKEN=' .dev.vars; then
    step "Adding a random ADMIN_TOKEN (admin API, site-gen orders) to edge-worker/.dev.vars"
    umask 077
    printf 'ADMIN_TOKEN=%s\n' "$(openssl rand -hex 24)" >>.dev.vars
fi
if ! grep -qs '^STRIPE_TEST_MODE=' .dev.vars; then
    step "Accepting Stripe test mode locally (STRIPE_TEST_MODE=true in edge-worker/.dev.vars)"
    printf 'STRIPE_TEST_MODE=true\n' >>.dev.vars
fi

if ! grep -qs '^SECONDARY_ACCESS_KEY_ID=' .dev.vars; then
    step "Adding a random key pair for the local secondary origin (s3s-fs) to edge-worker/.dev.vars"
    umask 077
    printf 'SECONDARY_ACCESS_KEY_ID=AKIA%s\nSECONDARY_SECRET_ACCESS_KEY=%s\n' \
        "$(openssl rand -hex 8 | tr 'a-f' 'A-F')" "$(openssl rand 30 | openssl base64 -A)" >>.dev.vars
fi
# The store's address follows S3_PORT on every run.
sed -i '/^SECONDARY_ENDPOINT=/d; /^SECONDARY_REGION=/d; /^SECONDARY_BUCKET=/d' .dev.vars
printf 'SECONDARY_ENDPOINT=http://127.0.0.1:%s\nSECONDARY_REGION=us-east-1\nSECONDARY_BUCKET=clipstore-secondary\n' "$s3_port" >>.dev.vars
s3_key="$(sed -n 's/^SECONDARY_ACCESS_KEY_ID=//p' .dev.vars)"
s3_secret="$(sed -n 's/^SECONDARY_SECRET_ACCESS_KEY=//p' .dev.vars)"

wrangler=node_modules/.bin/wrangler
bucket="$(sed -n 's/^bucket_name = "\(.*\)"$/\1/p' wrangler.toml)"
step "Seeding the local R2 bucket '$bucket' with the sample clips"
node -e '
  const m = require(process.argv[1]);
  for (const c of Object.values(m.clips))
    for (const f of [c, ...Object.values(c.variants ?? {})]) console.log(f.object_key + "\t" + f.content_type);
' "$root/catalog-manifest.json" | while IFS=$'\t' read -r key type; do
    file="$root/sample-media/$key"
    if [ -f "$file" ]; then
        echo "  $key"
        "$wrangler" r2 object put "$bucket/$key" --file "$file" --content-type "$type" --local >/dev/null
    else
        echo "  $key: no file at sample-media/$key, skipped (downloads of it will fail with 503)"
    fi
done

secondary_root="$PWD/.wrangler/secondary"
step "Seeding the local secondary origin (bucket clipstore-secondary in $secondary_root)"
mkdir -p "$secondary_root/clipstore-secondary"
node -e '
  const m = require(process.argv[1]);
  for (const c of Object.values(m.clips))
    for (const f of [c, ...Object.values(c.variants ?? {})]) console.log(f.object_key);
' "$root/catalog-manifest.json" | while read -r key; do
    file="$root/sample-media/$key"
    if [ -f "$file" ]; then
        mkdir -p "$(dirname "$secondary_root/clipstore-secondary/$key")"
        cp "$file" "$secondary_root/clipstore-secondary/$key"
        echo "  $key"
    fi
done

step "Migrating the local D1 database"
"$wrangler" d1 migrations apply DB --local >/dev/null
echo "  done"

step "Starting the secondary origin (s3s-fs) on http://127.0.0.1:$s3_port"
s3s-fs --host 127.0.0.1 --port "$s3_port" --access-key "$s3_key" --secret-key "$s3_secret" "$secondary_root" \
    >"$PWD/.wrangler/secondary.log" 2>&1 &
s3_pid=$!

step "Starting wrangler dev on http://127.0.0.1:$port"
# In a process group of its own, stopped as a whole: `node` may be a
# wrapper (the one setup-tools.sh installs is), and killing only the
# process started here left wrangler and workerd holding the port.
setsid "$wrangler" dev --ip 127.0.0.1 --port "$port" --show-interactive-dev-session=false &
dev_pid=$!
stop() {
    kill -TERM -- "-$dev_pid" 2>/dev/null || kill "$dev_pid" 2>/dev/null || true
    wait "$dev_pid" 2>/dev/null || true
    kill "$s3_pid" 2>/dev/null || true
    wait "$s3_pid" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

# Ready when this Worker answers its health check (not just anything on the port).
ready=""
for _ in $(seq 1 240); do
    if curl -fs --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"service":"clipstore"'; then ready=1; break; fi
    if ! kill -0 "$dev_pid" 2>/dev/null; then echo "wrangler dev exited (its messages are above)" >&2; exit 1; fi
    sleep 0.5
done
if [ -z "$ready" ]; then
    echo "wrangler dev did not answer on http://127.0.0.1:$port/health within 2 minutes (its messages are above)" >&2
    exit 1
fi
if ! kill -0 "$s3_pid" 2>/dev/null; then
    echo "the secondary origin (s3s-fs) exited; its log: edge-worker/.wrangler/secondary.log" >&2
    tail -n 20 "$PWD/.wrangler/secondary.log" >&2 || true
    exit 1
fi

# The sample order is the script's own: a run after its link was opened
# replaces it (--replace-order), where site-gen would refuse a known id.
slugs="$(node -e 'console.log(Object.keys(require(process.argv[1]).clips).slice(0, 2).map(s => "--clip " + s).join(" "))' "$root/catalog-manifest.json")"
# shellcheck disable=SC2086 # word splitting of $slugs is intended
link="$(cd "$root" && env -u CLIPSTORE_SIGNING_KEY cargo run -q -p site-gen -- token mint --root . --order LOCAL-SAMPLE-1 --replace-order $slugs --expires 7d \
    --base-url "http://127.0.0.1:$port/download")"

cat <<MSG

  Shop:                 http://127.0.0.1:$port/
  Sample download link: $link

  (new links: cargo run -p site-gen -- token mint --order ID --clip SLUG --base-url http://127.0.0.1:$port/download)
  (the ledger: cargo run -p site-gen -- orders --worker-url http://127.0.0.1:$port list)
  (health and bucket check, both origins: cargo run -p site-gen -- doctor --worker-url http://127.0.0.1:$port)
  (R2 fails, downloads go on: delete a clip from local R2 and download it again; it comes from the
   secondary origin (s3s-fs on 127.0.0.1:$s3_port), and the ledger says so (orders show):
   (cd edge-worker && npx wrangler r2 object delete $bucket/<file> --local))
  (e-mail: no mail provider is configured here, so customers' mails stay in the outbox;
   read them with: cargo run -p site-gen -- orders --worker-url http://127.0.0.1:$port outbox)
  (the cart's Checkout needs a Stripe test key: STRIPE_API_KEY=rk_test_... in edge-worker/.dev.vars;
   without it the checkout page says it is not available and nothing is charged, and doctor
   fails its checkout check, since the sample clips have no Payment Link either; docs/payments.md)
  Ctrl-C stops the server.

MSG
wait "$dev_pid"
