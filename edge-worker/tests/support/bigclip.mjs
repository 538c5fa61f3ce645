// A clip of realistic size for the download tests, made at test time (never
// committed): a real H.264/AAC MP4 of at least `minBytes` (default 32 MiB)
// that a browser can play, made with ffmpeg, and stored in a test stack's
// local R2 under the object key of a catalog clip that the stack did not
// seed (`catalog().withheld`). The Worker serves R2's size, so the catalog
// entry's own size does not matter (it logs `manifest_size_mismatch`).

import fs from "node:fs";
import path from "node:path";

import { run, sha256File } from "./stack.mjs";

/**
 * Makes (once per `dir`) an MP4 of at least `minBytes`: 1280x720 test
 * pattern with a tone, near-lossless so it is large, a keyframe every 2 s,
 * `+faststart` so a player can start before the end. Returns { file, size, sha256, seconds }.
 */
export async function makeVideoClip(dir, { minBytes = 32 * 1024 * 1024, seconds = 24 } = {}) {
  const file = path.join(dir, `clip-${seconds}s.mp4`);
  if (!fs.existsSync(file)) {
    await run("ffmpeg", ["-v", "error", "-y",
      "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      // A keyframe every 2 s, as web and stock-footage encodes have (x264's
      // default, 250 frames, makes a player re-read 8 s to show one frame).
      "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "4", "-g", "60", "-pix_fmt", "yuv420p",
      "-c:a", "aac", "-movflags", "+faststart", file]);
  }
  const size = fs.statSync(file).size;
  if (size < minBytes) throw new Error(`${file} is ${size} bytes, less than ${minBytes}: make it longer`);
  return { file, size, sha256: sha256File(file), seconds };
}

/** Stores `file` in the stack's local R2 as the object of catalog clip `entry`. */
export async function putClip(stack, entry, file) {
  await stack.wrangler(["r2", "object", "put", `${stack.bucket}/${entry.object_key}`, "--file", file,
    "--content-type", entry.content_type]);
}
