#!/usr/bin/env python3
"""Times one-post (or one-clip) edits under `site-gen serve` on a generated shop.

Starts `site-gen serve` on the shop, listens on its live-reload event stream,
then edits one news post per run (the first paragraph, which the post's page,
the news list, its tag pages, and, for recent posts, the home page and the
feed all show) the way editors save (a temporary file renamed over the old
one), and measures (with `--edit clips`, one clip's description per run
instead: its page, the lists that show it, and the search index, which is
made again):

  rebuild  -- what serve reports: from reading the changed file to the last
              changed file written (its "Rebuilt in N ms" line);
  to event -- wall time from the save to the reload event reaching the
              browser's event stream (adds the watcher's 30 ms debounce and
              inotify's delivery).

Finally a clean `site-gen build` of the edited shop is compared with the
served folder, file by file: every page the edits touch must be up to date.

Usage: edit_rebuild.py SITE_GEN SHOP_DIR WORK_DIR [--runs N] [--edit news|clips]
"""

import argparse
import filecmp
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import queue


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("site_gen")
    ap.add_argument("shop")
    ap.add_argument("work")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--edit", choices=["news", "clips"], default="news")
    args = ap.parse_args()

    out = os.path.join(args.work, "served")
    proc = subprocess.Popen(
        [args.site_gen, "serve", "--root", args.shop, "--port", "0", "--out", out],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [sys.stderr.write("serve: " + l) for l in proc.stderr], daemon=True).start()
    try:
        run(args, out, proc, lines)
    finally:
        proc.terminate()
        proc.wait()


def next_line(lines, timeout=600):
    return lines.get(timeout=timeout)


def run(args, out, proc, lines):
    first_build = None
    port = None
    while port is None:
        line = next_line(lines)
        m = re.match(r"Built in (\d+) ms", line)
        if m:
            first_build = int(m.group(1))
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
    print(f"first build under serve: {first_build} ms", file=sys.stderr)

    events = queue.Queue()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /__site-gen/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    def read_events():
        f = sock.makefile("r", encoding="utf-8")
        for line in f:
            if line.startswith("data: "):
                events.put((time.perf_counter(), json.loads(line[6:])))
    threading.Thread(target=read_events, daemon=True).start()
    events.get(timeout=30)  # the current status

    news = os.path.join(args.shop, "content", args.edit)
    posts = sorted(os.listdir(news))
    # The newest-dated posts are at the end of the generator's numbering or not;
    # spread the edits over the whole list: both recent and old posts.
    picks = [posts[(i * 7919) % len(posts)] for i in range(args.runs)]
    # ...and the newest post first: it is also on the front page and in the feed.
    def date_of(name):
        with open(os.path.join(news, name), encoding="utf-8") as f:
            return next((l for l in f if l.startswith("date")), "")
    picks[0] = max(posts, key=date_of)
    rows = []
    for n, name in enumerate(picks, 1):
        path = os.path.join(news, name)
        text = open(path, encoding="utf-8").read()
        head, sep, body = text.partition("\n+++\n")
        assert sep, path
        new = head + sep + f"Edited in run {n}. " + body.lstrip("\n")
        tmp = os.path.join(news, f".{name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(new)
        t0 = time.perf_counter()
        os.rename(tmp, path)
        t1, status = events.get(timeout=60)
        if status["errors"]:
            raise SystemExit(f"rebuild failed: {status['errors']}")
        report = next_line(lines, 60)
        m = re.match(r"Rebuilt in (\d+) ms: (\d+) pages rendered, (\d+) files written, (\d+) deleted", report)
        if not m:
            raise SystemExit(f"unexpected serve output: {report}")
        rows.append((name, int(m.group(1)), (t1 - t0) * 1000, int(m.group(2)), int(m.group(3))))
        time.sleep(0.3)

    print(f"| run | {'post' if args.edit == 'news' else 'clip'} | rebuild (ms) | save to reload event (ms) | pages rendered | files written |")
    print("|---|---|---|---|---|---|")
    for i, (name, ms, wall, rendered, written) in enumerate(rows, 1):
        print(f"| {i} | {name} | {ms} | {wall:.0f} | {rendered} | {written} |")
    print()
    print(f"median rebuild {statistics.median(r[1] for r in rows):.0f} ms "
          f"(min {min(r[1] for r in rows)}, max {max(r[1] for r in rows)}); "
          f"median save-to-event {statistics.median(r[2] for r in rows):.0f} ms; "
          f"first build under serve {first_build} ms")

    # Everything the edits touch must be up to date: compare with a clean build.
    clean = os.path.join(args.work, "clean")
    subprocess.run([args.site_gen, "build", "--root", args.shop, "--out", clean,
                    "--manifest", os.path.join(args.work, "manifest.json")],
                   check=True, stdout=subprocess.DEVNULL)
    diffs = compare(out, clean)
    if diffs:
        raise SystemExit(f"served folder differs from a clean build: {diffs[:10]} ({len(diffs)} in all)")
    print("served folder == clean build of the edited shop (every file compared)")


def compare(a, b):
    diffs = []
    for dirpath, dirnames, filenames in os.walk(b):
        rel = os.path.relpath(dirpath, b)
        other = os.path.join(a, rel)
        if not os.path.isdir(other):
            diffs.append(rel)
            continue
        for name in filenames:
            if not os.path.isfile(os.path.join(other, name)) or not filecmp.cmp(
                    os.path.join(dirpath, name), os.path.join(other, name), shallow=False):
                diffs.append(os.path.join(rel, name))
    for dirpath, dirnames, filenames in os.walk(a):
        rel = os.path.relpath(dirpath, a)
        for name in filenames:
            if not os.path.exists(os.path.join(b, rel, name)):
                diffs.append("extra: " + os.path.join(rel, name))
    return diffs


if __name__ == "__main__":
    main()
