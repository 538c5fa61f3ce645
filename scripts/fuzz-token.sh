#!/usr/bin/env bash
# Fuzzes the purchase-token parser and verifier for a bounded time.
#
#   scripts/fuzz-token.sh [SECONDS]      (default 60)
#
# Runs the cargo-fuzz target `token` of clipstore-core/fuzz on the nightly
# toolchain (libFuzzer + AddressSanitizer), seeded with the payloads and
# tokens in clipstore-core/fuzz/seeds/token. Installs cargo-fuzz if missing.
# Exits non-zero if the fuzzer finds a crash; the input is then saved under
# clipstore-core/fuzz/artifacts/token/. The growing corpus is kept in
# clipstore-core/fuzz/corpus/token/ (not committed).
set -euo pipefail

secs="${1:-60}"
case "$secs" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz-token: needs a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

cd "$root/clipstore-core/fuzz"
mkdir -p corpus/token
# -max_len leaves room above MAX_TOKEN_LEN (8192) so the length limit is exercised.
exec cargo +nightly fuzz run token corpus/token seeds/token -- \
  -max_total_time="$secs" -max_len=9000 -timeout=10 -print_final_stats=1
