#!/usr/bin/env bash
# Fuzzes one of the project's parsers for a bounded time.
#
#   scripts/fuzz.sh TARGET [SECONDS]      (default 60)
#
#   token    clipstore-core: the purchase-token parser and verifier
#   json     clipstore-core: the JSON parser and writer, against serde_json
#   typed    clipstore-core: the manifest and choices read from JSON, against serde
#   content  site-gen: a content file (front matter, fields, Markdown)
#   plan     edge-worker: the Range / conditional-header planner
#   admin    edge-worker: the admin API's routing and authentication
#   records  edge-worker: what the Worker reads as JSON (Stripe's events and
#            answers, Resend's, fallback records, the revocation list, the
#            monitor state, admin bodies)
#
# cargo-fuzz on the nightly toolchain (libFuzzer + AddressSanitizer), seeded
# from <crate>/fuzz/seeds/TARGET. Installs cargo-fuzz if missing. Exits
# non-zero if the fuzzer finds a crash (a panic or a failed assertion); the
# input is then saved under <crate>/fuzz/artifacts/TARGET/. The growing corpus
# is kept in <crate>/fuzz/corpus/TARGET/ (not committed).
set -euo pipefail

target="${1:-}"
secs="${2:-60}"
case "$target" in
  token) crate=clipstore-core; max_len=9000 ;;
  json) crate=clipstore-core; max_len=4096 ;;
  typed) crate=clipstore-core; max_len=8192 ;;
  content) crate=site-gen; max_len=8192 ;;
  plan) crate=edge-worker; max_len=512 ;;
  admin) crate=edge-worker; max_len=2048 ;;
  records) crate=edge-worker; max_len=4096 ;;
  *) echo "usage: $0 token|json|typed|content|plan|admin|records [SECONDS]" >&2; exit 2 ;;
esac
case "$secs" in
  '' | *[!0-9]*) echo "usage: $0 TARGET [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: needs a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

cd "$root/$crate/fuzz"
mkdir -p "corpus/$target"
exec cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$secs" -max_len="$max_len" -timeout=10 -print_final_stats=1
