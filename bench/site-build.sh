#!/usr/bin/env bash
# Times `site-gen build` next to Hugo on the same synthetic shop, in the same run, in
# four cases: a clean build into an emptied folder (with what site-gen keeps between
# builds in the shop's .site-gen/: the search index, the rendered Markdown, the record
# of the pages), a shop's first build (the same, with nothing kept), a rebuild over the
# previous build's output with nothing changed, and one after the newest post's first
# paragraph was edited (what an owner does every time: the same edit for both tools).
# Hugo builds into an emptied folder for the first two. Prints a Markdown table per case (medians, site-gen/Hugo ratio, CPU, peak
# RSS, files and bytes written), and, with more than one size, how each size's times compare with the first size's.
# Each round times every size in turn, so that a machine that speeds up or slows down during
# the run sways the sizes alike (a size's rounds all run before the next's would not).
#
# Usage: bench/site-build.sh [--runs N] [--sizes "1000:500 10000:5000"] [--seed S]
#                            [--work DIR] [--keep]
#
#   --runs N     timed runs per tool, size and case (default 3; site-gen and Hugo alternate)
#   --sizes      space-separated POSTS:CLIPS pairs (default "1000:500 10000:5000")
#   --seed S     corpus seed (default 42)
#   --work DIR   where the corpora and the built sites go (default /dev/shm/clipstore-bench,
#                a tmpfs: this machine's disk doubles and scatters build times)
#   --keep       keep the corpora, built sites and logs in DIR (default: removed)
#
# Needs: python3 (3.11+), cargo, hugo (Debian package `hugo`, installed with apt-get
# when missing), GNU time (package `time`, likewise). site-gen is built with
# `cargo build --release -p site-gen` into $CARGO_TARGET_DIR (default: target/).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3
SIZES="1000:500 10000:5000"
SEED=42
WORK=/dev/shm/clipstore-bench
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "[site-build] $*" >&2; }

apt_install() {
  local pkg="$1"
  say "installing the Debian package '$pkg' with apt-get (it is missing)"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "not root and no sudo: install '$pkg' yourself"; exit 1; }
    sudo=sudo
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2 \
    || { $sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >&2; }
}

command -v hugo >/dev/null || apt_install hugo
GNU_TIME=/usr/bin/time
"$GNU_TIME" --version >/dev/null 2>&1 || apt_install time
"$GNU_TIME" --version >/dev/null 2>&1 || { say "GNU time not found at $GNU_TIME"; exit 1; }

TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
say "building site-gen (release) into $TARGET"
(cd "$REPO" && cargo build --release -p site-gen --quiet)
SITE_GEN="$TARGET/release/site-gen"

mkdir -p "$WORK"
# Removes only what this script writes into $WORK.
cleanup() {
  rm -rf "$WORK"/corpus-* "$WORK"/out-site-gen-* "$WORK"/.out-site-gen-*.prev "$WORK"/out-hugo-* "$WORK"/sg-*.log "$WORK"/hugo-*.log \
    "$WORK"/time.txt "$WORK"/site-gen.std* "$WORK"/hugo.std* "$WORK"/manifest-*.json
  rmdir "$WORK" 2>/dev/null || true
}
[ "$KEEP" = 1 ] || trap cleanup EXIT

HUGO_VERSION="$(hugo version | sed 's/ BuildDate.*//')"
say "site-gen: $SITE_GEN; $HUGO_VERSION; $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# run clean|first|rebuild TOOL OUTDIR LOG -- command...: one build, timed; appends "wall_s rss_kib
# cpu_s" to LOG. A clean build empties OUTDIR first (and deletes site-gen's hidden sibling of it,
# the build before, which a rebuild brings up to date); a first build also deletes what site-gen
# keeps between builds in the shop ($KEPT: the search index, the rendered Markdown), as a shop's
# first build has none; a rebuild (and an edited one) writes over what the last build left.
run() {
  local mode="$1" tool="$2" out="$3" log="$4"; shift 5
  case "$mode" in rebuild|edited) ;; *) rm -rf "$out" "$(dirname "$out")/.$(basename "$out").prev" ;; esac
  [ "$mode" != first ] || [ "$tool" != site-gen ] || rm -rf "$KEPT"
  local t="$WORK/time.txt"
  if ! "$GNU_TIME" -f '%e %M %U %S' -o "$t" "$@" >"$WORK/$tool.stdout" 2>"$WORK/$tool.stderr"; then
    say "$tool failed:"; tail -n 30 "$WORK/$tool.stderr" >&2; exit 1
  fi
  awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' "$t" >>"$log"
}

# edit FILE N: puts "Edited N." at the start of the post's first paragraph (its summary, which
# the lists, the front page and the feed show), in place of the sentence an earlier edit put
# there. Both layouts hold the same body after their front matter.
edit() {
  python3 - "$1" "$2" <<'PY'
import re, sys
path, n = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
_, front, body = text.split("+++", 2)
body = re.sub(r"^Edited \d+\. ", "", body.lstrip("\n"))
open(path, "w", encoding="utf-8").write(f"+++{front}+++\n\nEdited {n}. {body}")
PY
}

ROWS=()
RAW=()
SCALE=()
MODES="clean first rebuild edited"
for size in $SIZES; do
  posts="${size%%:*}" clips="${size##*:}"
  corpus="$WORK/corpus-$posts-$clips"
  say "generating $posts posts + $clips clips (seed $SEED) in $corpus"
  python3 "$REPO/bench/gen_clipstore_corpus.py" "$posts" "$clips" "$SEED" "$corpus" --tag-paginate 10
  for mode in $MODES; do : >"$WORK/sg-$size-$mode.log"; : >"$WORK/hugo-$size-$mode.log"; done
done
# One untimed warm-up round (page cache, dynamic loader), then the timed rounds; each round
# times every size, and per size alternates: site-gen clean, Hugo clean, site-gen's first
# build (nothing kept) and Hugo clean again, site-gen again over its output (after one untimed
# rebuild), Hugo again over its output. The clean case keeps what the build before kept in
# .site-gen/ (as a shop that deletes public/).
for i in 0 $(seq 1 "$RUNS"); do
  for size in $SIZES; do
    posts="${size%%:*}" clips="${size##*:}"
    corpus="$WORK/corpus-$posts-$clips"
    KEPT="$corpus/clipstore/.site-gen"
    newest="content/news/post-$(printf %06d "$posts").md"
    sg_out="$WORK/out-site-gen-$size" hu_out="$WORK/out-hugo-$size" manifest="$WORK/manifest-$size.json"
    for mode in $MODES; do
      log_sg="$WORK/sg-$size-$mode.log" log_hu="$WORK/hugo-$size-$mode.log"
      [ "$i" = 0 ] && log_sg=/dev/null log_hu=/dev/null
      # An owner's rebuild follows another rebuild, whose sibling folder (the build before)
      # site-gen brings up to date: make that state first, untimed. (Hugo keeps no such state.)
      [ "$mode" != rebuild ] || run rebuild site-gen "$sg_out" /dev/null -- \
        "$SITE_GEN" build --root "$corpus/clipstore" --out "$sg_out" --manifest "$manifest"
      [ "$mode" != edited ] || edit "$corpus/clipstore/$newest" "$i"
      run "$mode" site-gen "$sg_out" "$log_sg" -- \
        "$SITE_GEN" build --root "$corpus/clipstore" --out "$sg_out" --manifest "$manifest"
      [ "$mode" != edited ] || edit "$corpus/hugo/$newest" "$i"
      run "$mode" hugo "$hu_out" "$log_hu" -- \
        hugo --quiet --source "$corpus/hugo" --destination "$hu_out"
      [ "$i" = 0 ] || say "$posts+$clips run $i $mode: site-gen $(tail -n1 "$log_sg" | cut -d' ' -f1) s, hugo $(tail -n1 "$log_hu" | cut -d' ' -f1) s"
    done
  done
done

fmt() { printf "%'d" "$1"; }
# Peak RSS in KiB -> MiB; a median of an even number of runs can be fractional.
mib() { awk -v k="$1" 'BEGIN {printf "%d", k / 1024}'; }
first_size=""
for size in $SIZES; do
  posts="${size%%:*}" clips="${size##*:}"
  sg_out="$WORK/out-site-gen-$size" hu_out="$WORK/out-hugo-$size"
  sg_files=$(find "$sg_out" -type f | wc -l) hu_files=$(find "$hu_out" -type f | wc -l)
  # Apparent sizes in bytes (what was written), not disk blocks.
  sg_b=$(du -sb "$sg_out" | cut -f1) hu_b=$(du -sb "$hu_out" | cut -f1)
  for mode in $MODES; do
    sg_log="$WORK/sg-$size-$mode.log" hu_log="$WORK/hugo-$size-$mode.log"
    sg_t=$(cut -d' ' -f1 "$sg_log" | median) hu_t=$(cut -d' ' -f1 "$hu_log" | median)
    sg_m=$(cut -d' ' -f2 "$sg_log" | median) hu_m=$(cut -d' ' -f2 "$hu_log" | median)
    sg_c=$(cut -d' ' -f3 "$sg_log" | median) hu_c=$(cut -d' ' -f3 "$hu_log" | median)
    ratio=$(awk -v a="$sg_t" -v b="$hu_t" 'BEGIN {printf "%.3f", a / b}')
    # The ratio of each round's pair (site-gen, then Hugo right after): less
    # swayed by load that comes and goes than the ratio of the two medians.
    paired=$(paste -d' ' "$sg_log" "$hu_log" | awk '{printf "%.3f\n", $1 / $4}' | median)
    ROWS+=("| $(fmt "$posts") + $(fmt "$clips") | $mode | $sg_t s | $hu_t s | **$ratio** | $paired | $sg_c / $hu_c s | $(mib "$sg_m") / $(mib "$hu_m") MiB | $(fmt "$sg_files") / $(fmt "$hu_files") ($(fmt "$sg_b") / $(fmt "$hu_b") bytes) |")
    RAW+=("$posts+$clips $mode site-gen: $(cut -d' ' -f1 "$sg_log" | tr '\n' ' ')s; hugo: $(cut -d' ' -f1 "$hu_log" | tr '\n' ' ')s")
    if [ -n "$first_size" ]; then
      # This size's time over the first size's, round by round (the same round's
      # builds ran minutes apart, not a whole size's runs apart), then the median.
      per_round() { paste -d' ' "$WORK/$1-$first_size-$mode.log" "$WORK/$1-$size-$mode.log" | awk '{printf "%.2f\n", $4 / $1}'; }
      sg_rounds=$(per_round sg | paste -sd' ') hu_rounds=$(per_round hugo | paste -sd' ')
      SCALE+=("| $(fmt "$posts") + $(fmt "$clips") | $mode | **$(per_round sg | median)** ($sg_rounds) | $(per_round hugo | median) ($hu_rounds) |")
    fi
  done
  [ -n "$first_size" ] || first_size="$size"
  [ "$KEEP" = 1 ] || rm -rf "$WORK/corpus-$posts-$clips" "$sg_out" "$WORK/.out-site-gen-$size.prev" "$hu_out"
done

echo
echo "Clean build into an emptied folder (clean: with what site-gen kept in .site-gen/; first: without), and rebuild over the previous output (rebuild: nothing changed; edited: the newest post's first paragraph edited), on tmpfs ($WORK), median of $RUNS runs each, alternating; $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "site-gen $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree); $HUGO_VERSION."
echo
echo "| posts + clips | case | site-gen | Hugo | site-gen / Hugo | median of per-round ratios | CPU (user+sys) site-gen / Hugo | peak RSS site-gen / Hugo | output files site-gen / Hugo (\`du -sb\`) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Raw wall times:"
printf -- '- %s\n' "${RAW[@]}"
if [ "${#SCALE[@]}" -gt 0 ]; then
  f_posts="${first_size%%:*}" f_clips="${first_size##*:}"
  echo
  echo "Each size's time over $(fmt "$f_posts") + $(fmt "$f_clips")'s, per round (median, then each round):"
  echo
  echo "| posts + clips | case | site-gen | Hugo |"
  echo "|---|---|---|---|"
  printf '%s\n' "${SCALE[@]}"
fi
