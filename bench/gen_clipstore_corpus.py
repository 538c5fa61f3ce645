#!/usr/bin/env python3
"""The shared benchmark corpus (../shared/bench/gen_corpus.py), plus clipstore's layout.

Usage:
    python3 bench/gen_clipstore_corpus.py N M SEED OUTDIR [--shared PATH] [--tag-paginate K]

Runs the shared generator (N news posts, M clips, Zola and Hugo layouts, identical
Markdown bodies), then converts OUTDIR/zola/content/{news,clips}/*.md into
clipstore's layout in OUTDIR/clipstore/:

    content/site.toml          items_per_page = K (the corpus paginates lists and tags by 10)
    content/news/post-NNNNNN.md    title, date, tags              + the same body
    content/clips/clip-NNNNNN.md   title, date, price, duration, resolution,
                                   file, file_name, size, poster, tags + the same body
    static/posters/clip.jpg        ONE tiny poster that every clip points at
    static/images/news/*.jpg       one tiny file per image the posts' bodies show

The bodies are copied byte for byte, so both generators render the same Markdown.
Fields clipstore has no place for (Zola's `description`, `authors`, a clip's `fps`,
`sku`, `duration_secs`) are dropped; clipstore's lists use the first paragraph.

site-gen checks every internal link, so the images that the posts link to
(`/images/news/NNNNNN-K.jpg`) and the poster must exist. The same files are also
written to OUTDIR/hugo/static/, so Hugo copies the same static files and the two
builds stay comparable.

The shared generator is not copied: it is imported by path (default: the
`shared/bench/gen_corpus.py` next to this repository, i.e. ../shared/bench from the
repository root; override with --shared or $CLIPSTORE_GEN_CORPUS).
"""
import argparse
import importlib.util
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "bench" / "gen_corpus.py"

SITE_TOML = """title = "Perf Anchors: News and Clips"
base_url = "https://example.com"
description = "Synthetic news + catalog corpus for SSG benchmarks"
language = "en"
currency = "USD"
contact_email = "shop@example.com"
items_per_page = %(per_page)d
download_base_url = "https://example.com/download"
"""

POSTER = "/posters/clip.jpg"
# A tiny stand-in for a JPEG: the builds only copy it, nobody decodes it.
TINY_JPEG = b"\xff\xd8\xff\xe0JFIF-placeholder\xff\xd9"
IMAGE_RE = re.compile(r"!\[[^\]]*\]\((/images/[^\s)]+)")


def load_shared(path):
    spec = importlib.util.spec_from_file_location("gen_corpus", path)
    if spec is None or spec.loader is None:
        sys.exit("cannot import the shared generator at %s" % path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_shared(mod, n, m, seed, outdir, tag_paginate):
    argv = sys.argv
    sys.argv = ["gen_corpus.py", str(n), str(m), str(seed), str(outdir), "--tag-paginate", str(tag_paginate)]
    try:
        mod.main()
    finally:
        sys.argv = argv


def split_zola(text, path):
    """(front matter dict, body) of a Zola file: `+++\\n...\\n+++\\n` then the body."""
    if not text.startswith("+++\n"):
        sys.exit("%s: no +++ front matter" % path)
    end = text.index("\n+++\n", 3)
    return tomllib.loads(text[4:end + 1]), text[end + len("\n+++\n"):]


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_date(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def post_front(fm):
    return "\n".join([
        "+++",
        "title = " + toml_str(fm["title"]),
        "date = " + toml_date(fm["date"]),
        "tags = [" + ", ".join(toml_str(t) for t in fm["taxonomies"]["tags"]) + "]",
        "+++",
    ]) + "\n"


def clip_front(fm, slug):
    x = fm["extra"]
    return "\n".join([
        "+++",
        "title = " + toml_str(fm["title"]),
        "date = " + toml_date(fm["date"]),
        "price = \"%.2f\"" % x["price"],
        "duration = " + toml_str(x["duration"]),
        "resolution = " + toml_str(x["resolution"]),
        "file = \"clips/%s.mp4\"" % slug,
        "file_name = " + toml_str("%s (%s).mp4" % (fm["title"], x["resolution"])),
        # a plausible size: ~1 MB per second of footage
        "size = %d" % (x["duration_secs"] * 1_000_000 + 4096),
        "poster = " + toml_str(POSTER),
        "tags = [" + ", ".join(toml_str(t) for t in fm["taxonomies"]["tags"]) + "]",
        "+++",
    ]) + "\n"


def write_bytes(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def convert(outdir, per_page):
    zola = Path(outdir) / "zola" / "content"
    root = Path(outdir) / "clipstore"
    if root.exists():
        shutil.rmtree(root)
    content = root / "content"
    for d in ("news", "clips", "pages"):
        (content / d).mkdir(parents=True, exist_ok=True)
    (content / "site.toml").write_text(SITE_TOML % {"per_page": per_page}, encoding="utf-8")
    static_files = {POSTER}
    counts = {}
    for section in ("news", "clips"):
        n = 0
        for src in sorted((zola / section).glob("*.md")):
            if src.name.startswith("_"):
                continue
            fm, body = split_zola(src.read_text(encoding="utf-8"), src)
            slug = src.stem
            head = post_front(fm) if section == "news" else clip_front(fm, slug)
            static_files.update(IMAGE_RE.findall(body))
            with open(content / section / src.name, "w", encoding="utf-8", newline="\n") as f:
                f.write(head + body)
            n += 1
        counts[section] = n
    for target in (root / "static", Path(outdir) / "hugo" / "static"):
        for rel in static_files:
            write_bytes(target / rel.lstrip("/"), TINY_JPEG)
    return counts, len(static_files)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="number of news posts")
    ap.add_argument("m", type=int, help="number of clips")
    ap.add_argument("seed")
    ap.add_argument("outdir")
    ap.add_argument("--shared", default=os.environ.get("CLIPSTORE_GEN_CORPUS", str(DEFAULT_SHARED)),
                    help="path of the shared gen_corpus.py (default: %(default)s)")
    ap.add_argument("--tag-paginate", type=int, default=10, metavar="K",
                    help="pagination of tag pages for Zola/Hugo, and clipstore's items_per_page (default 10)")
    a = ap.parse_args()
    if a.tag_paginate <= 0:
        sys.exit("clipstore always paginates tag pages: --tag-paginate must be positive")
    if not Path(a.shared).is_file():
        sys.exit("shared generator not found at %s (use --shared PATH)" % a.shared)
    run_shared(load_shared(a.shared), a.n, a.m, a.seed, a.outdir, a.tag_paginate)
    counts, statics = convert(a.outdir, a.tag_paginate)
    print("wrote clipstore layout to %s/clipstore: %d posts + %d clips, %d static files (also in hugo/static)"
          % (a.outdir, counts["news"], counts["clips"], statics), file=sys.stderr)


if __name__ == "__main__":
    main()
