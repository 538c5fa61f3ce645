#!/usr/bin/env bash
# Times one-post (or one-clip) edits under `site-gen serve` (incremental
# rebuilds) on a generated shop, and checks the served folder against a
# clean build after the edits. Prints a Markdown table.
#
# Usage: bench/edit-rebuild.sh [--runs N] [--size POSTS:CLIPS] [--seed S] [--work DIR] [--keep]
#                              [--edit news|clips]
#
#   --runs N     edits, one post (or clip) each (default 10)
#   --edit WHAT  news (default) or clips: a clip's edit also makes the search index again
#   --size       POSTS:CLIPS (default 10000:5000)
#   --seed S     corpus seed (default 42)
#   --work DIR   corpus and served folder (default /dev/shm/clipstore-edit-bench, a tmpfs)
#   --keep       keep DIR afterwards
#
# Needs python3 (3.11+) and cargo; site-gen is built with
# `cargo build --release -p site-gen` into $CARGO_TARGET_DIR (default: target/).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=10
SIZE="10000:5000"
SEED=42
WORK=/dev/shm/clipstore-edit-bench
KEEP=0
EDIT=news
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --edit) EDIT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "[edit-rebuild] $*" >&2; }

TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
say "building site-gen (release) into $TARGET"
(cd "$REPO" && cargo build --release -p site-gen --quiet)
SITE_GEN="$TARGET/release/site-gen"

mkdir -p "$WORK"
cleanup() {
  rm -rf "$WORK"/corpus "$WORK"/served "$WORK"/clean "$WORK"/manifest.json
  rmdir "$WORK" 2>/dev/null || true
}
[ "$KEEP" = 1 ] || trap cleanup EXIT

posts="${SIZE%%:*}"; clips="${SIZE##*:}"
rm -rf "$WORK/corpus" "$WORK/served" "$WORK/clean"
say "generating $posts posts + $clips clips into $WORK/corpus"
python3 "$REPO/bench/gen_clipstore_corpus.py" "$posts" "$clips" "$SEED" "$WORK/corpus" --tag-paginate 10 >&2
say "$(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$REPO/bench/edit_rebuild.py" "$SITE_GEN" "$WORK/corpus/clipstore" "$WORK" --runs "$RUNS" --edit "$EDIT"
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
