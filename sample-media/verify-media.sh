#!/usr/bin/env bash
# Checks every content/clips/*.md against the media it points to:
#   size / sha256     == the bytes of sample-media/<file>
#   duration (m:ss)   == ffprobe's duration, rounded to the second
#   resolution (WxH)  == ffprobe's video stream size
#   poster / preview  exist under static/ with the expected size limits
# Exits non-zero on any mismatch.
#
#   sample-media/verify-media.sh            check only
#   sample-media/verify-media.sh --update   rewrite `size` and (where present)
#                                           `sha256` in the front matter to match
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
exec python3 - "$ROOT" "$@" <<'PY'
import hashlib, json, os, re, subprocess, sys, tomllib

root, update = sys.argv[1], "--update" in sys.argv[2:]
clips_dir = os.path.join(root, "content", "clips")
errors = 0

def fail(slug, msg):
    global errors
    errors += 1
    print(f"MISMATCH {slug}: {msg}")

def probe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height,codec_name:format=duration", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    s = j["streams"][0]
    return s["codec_name"], s["width"], s["height"], float(j["format"]["duration"])

for name in sorted(os.listdir(clips_dir)):
    if not name.endswith(".md"):
        continue
    slug = name[:-3]
    path = os.path.join(clips_dir, name)
    text = open(path, encoding="utf-8").read()
    m = re.match(r"\+\+\+\n(.*?)\n\+\+\+\n", text, re.S)
    if not m:
        fail(slug, "no +++ front matter"); continue
    fm = tomllib.loads(m.group(1))
    media = os.path.join(root, "sample-media", fm["file"])
    if not os.path.isfile(media):
        fail(slug, f"missing {media}"); continue
    data = open(media, "rb").read()
    size, digest = len(data), hashlib.sha256(data).hexdigest()
    if update:
        head = m.group(1)
        head = re.sub(r"(?m)^size = .*$", f"size = {size}", head)
        if "sha256" in fm:
            head = re.sub(r'(?m)^sha256 = .*$', f'sha256 = "{digest}"', head)
        text = text.replace(m.group(1), head, 1)
        open(path, "w", encoding="utf-8").write(text)
        fm = tomllib.loads(head)
    if fm["size"] != size:
        fail(slug, f"size {fm['size']} != {size}")
    if "sha256" in fm and fm["sha256"] != digest:
        fail(slug, f"sha256 {fm['sha256']} != {digest}")
    codec, w, h, dur = probe(media)
    secs = round(dur)
    if codec != "h264":
        fail(slug, f"codec {codec}")
    if fm["resolution"] != f"{w}x{h}":
        fail(slug, f"resolution {fm['resolution']} != {w}x{h}")
    if fm["duration"] != f"{secs // 60}:{secs % 60:02d}":
        fail(slug, f"duration {fm['duration']} != {secs // 60}:{secs % 60:02d} ({dur:.3f}s)")
    if not re.fullmatch(r"[a-z0-9-]+", slug):
        fail(slug, "bad slug")
    if not 150_000 <= size <= 700_000:
        fail(slug, f"clip size {size} outside 150-700 KB")
    for key, w0, h0, limit in (("poster", 640, 360, 60_000), ("preview", 480, 270, 150_000)):
        if key not in fm:
            continue
        p = os.path.join(root, "static", fm[key].lstrip("/"))
        if not os.path.isfile(p):
            fail(slug, f"missing {key} {p}"); continue
        _, pw, ph, _ = probe(p)
        if (pw, ph) != (w0, h0):
            fail(slug, f"{key} is {pw}x{ph}, expected {w0}x{h0}")
        if os.path.getsize(p) > limit:
            fail(slug, f"{key} is {os.path.getsize(p)} bytes, over {limit}")
    print(f"ok {slug:32} {size:>8} {digest[:12]}  {fm['duration']} {fm['resolution']}"
          f"{'' if 'sha256' in fm else '  (no sha256)'}")

print(f"{errors} mismatch(es)")
sys.exit(1 if errors else 0)
PY
