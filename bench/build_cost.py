#!/usr/bin/env python3
"""What a change costs a clean `site-gen build`: two site-gen binaries, alternated
on the same corpus, each into an emptied output folder.

    bench/build_cost.py OLD_BIN NEW_BIN CORPUS [--runs 5] [--work DIR] [--cold]

CORPUS is a shop root (e.g. the `clipstore` folder `gen_clipstore_corpus.py`
writes). One untimed warm-up of each binary, then `--runs` rounds of OLD then
NEW, each under GNU time (wall, user + system CPU, peak RSS). Prints medians,
the ratio NEW / OLD of the medians and the median of the rounds' ratios
(steadier when load comes and goes).

Each binary builds its own copy of CORPUS (in --work), so that what one
keeps between builds in `.site-gen/` (the search index, the rendered
Markdown: both valid only for the program that made them) is never the
other's. `--cold` deletes `.site-gen/` before every build, so each build
makes its index and renders every body afresh (a shop's first build);
without it, each uses what its warm-up build kept (a build whose content
did not change). Keep CORPUS and --work on a tmpfs (/dev/shm).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile


def timed(binary, corpus, out, manifest):
    """One clean build; returns (wall s, cpu s, peak RSS MiB)."""
    shutil.rmtree(out, ignore_errors=True)
    # site-gen's hidden sibling of `out` (the build before, kept to make rebuilds faster).
    shutil.rmtree(os.path.join(os.path.dirname(out), "." + os.path.basename(out) + ".prev"), ignore_errors=True)
    fmt = "%e %U %S %M"
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        subprocess.run(
            ["/usr/bin/time", "-f", fmt, "-o", t.name, binary, "build", "--root", corpus, "--out", out,
             "--manifest", manifest],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wall, user, sys_, rss = t.read().split()
    return float(wall), float(user) + float(sys_), int(rss) / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("corpus")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--work", default="/dev/shm/clipstore-build-cost")
    p.add_argument("--cold", action="store_true", help="delete what builds keep (.site-gen/) before every build")
    a = p.parse_args()
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time is missing: apt-get install time")
    os.makedirs(a.work, exist_ok=True)
    out, manifest = os.path.join(a.work, "out"), os.path.join(a.work, "manifest.json")
    corpora = {}
    for which in ("old", "new"):
        corpora[which] = os.path.join(a.work, "corpus-" + which)
        shutil.rmtree(corpora[which], ignore_errors=True)
        shutil.copytree(a.corpus, corpora[which])
        shutil.rmtree(os.path.join(corpora[which], ".site-gen"), ignore_errors=True)

    def run(which):
        if a.cold:
            shutil.rmtree(os.path.join(corpora[which], ".site-gen"), ignore_errors=True)
        return timed(a.old if which == "old" else a.new, corpora[which], out, manifest)

    run("old"), run("new")  # warm-up: page cache, loader, and what each keeps in .site-gen/
    rounds = []
    for i in range(a.runs):
        old, new = run("old"), run("new")
        rounds.append((old, new))
        print(f"round {i + 1}: old {old[0]:.2f} s wall {old[1]:.2f} s CPU {old[2]:.0f} MiB; "
              f"new {new[0]:.2f} s wall {new[1]:.2f} s CPU {new[2]:.0f} MiB", flush=True)
    du = lambda: int(subprocess.run(["du", "-sb", out], capture_output=True, text=True).stdout.split()[0])
    run("new")
    new_bytes = du()
    run("old")
    old_bytes = du()
    print(f"\n{'cold' if a.cold else 'warm'} .site-gen/ (search index, rendered Markdown); {a.runs} rounds; "
          f"load {os.getloadavg()}\n")
    print("| | old | new | new / old | median of the rounds' ratios |")
    print("|---|---|---|---|---|")
    for k, (name, unit) in enumerate([("wall", "s"), ("CPU (user + system)", "s"), ("peak RSS", "MiB")]):
        o = statistics.median(r[0][k] for r in rounds)
        n = statistics.median(r[1][k] for r in rounds)
        per = statistics.median(r[1][k] / r[0][k] for r in rounds)
        print(f"| {name} | {o:.2f} {unit} | {n:.2f} {unit} | {n / o:.3f} | {per:.3f} |")
    print(f"| bytes written | {old_bytes:,} | {new_bytes:,} | {new_bytes / old_bytes:.3f} | |")


if __name__ == "__main__":
    main()
