#!/usr/bin/env bash
# Fuzzes the purchase-token parser and verifier for a bounded time:
#   scripts/fuzz-token.sh [SECONDS]      (default 60)
# The same as `scripts/fuzz.sh token [SECONDS]` (see there).
exec "$(dirname "$0")/fuzz.sh" token "${1:-60}"
