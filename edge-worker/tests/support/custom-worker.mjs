// A Worker whose embedded catalog says the truth about a clip made at test
// time. The secondary origin serves an object only when its size (and hash)
// is the catalog's (src/secondary.rs), so a test with a clip of realistic
// size (support/bigclip.mjs) needs a catalog that lists that size: this
// copies the sample shop, writes the clip's size and sha256 into one clip's
// front matter, builds the site and builds the Worker from its manifest
// (scripts/build-worker.sh, about two minutes when the manifest changed).
//
// Everything goes under target/e2e-custom-worker/ (git-ignored) and the
// manifest is rewritten only when it changed, so a second run reuses the
// build.

import fs from "node:fs";
import path from "node:path";

import { REPO, run, toolEnv } from "./stack.mjs";

const DIR = path.join(REPO, "target", "e2e-custom-worker");

/**
 * Builds (or reuses) a Worker whose catalog lists `file` ({ file, size,
 * sha256 }) as the object of clip `entry`. Returns { build, public, manifest,
 * shop } (the first two for startStack's `worker` option; `shop`: its content).
 */
export async function workerForClip(entry, clip) {
  const shop = path.join(DIR, "shop");
  fs.rmSync(shop, { recursive: true, force: true });
  fs.mkdirSync(shop, { recursive: true });
  for (const part of ["content", "static", "templates"]) {
    if (fs.existsSync(path.join(REPO, part))) fs.cpSync(path.join(REPO, part), path.join(shop, part), { recursive: true });
  }
  const page = path.join(shop, "content", "clips", `${entry.slug}.md`);
  let text = fs.readFileSync(page, "utf8");
  if (!/^size = \d+$/m.test(text)) throw new Error(`${page} has no size line`);
  text = text.replace(/^size = \d+$/m, `size = ${clip.size}`).replace(/^sha256 = ".*"\n/m, "");
  text = text.replace(/^size = (\d+)$/m, `size = $1\nsha256 = "${clip.sha256}"`);
  fs.writeFileSync(page, text);

  const siteGen = process.env.SITE_GEN_BIN;
  const [cmd, pre] = siteGen ? [siteGen, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
  const out = path.join(DIR, "public");
  const built = path.join(DIR, "catalog-manifest.json");
  await run(cmd, [...pre, "build", "--root", shop, "--out", out, "--manifest", built], { cwd: REPO });
  const manifest = path.join(DIR, "manifest.json");
  const fresh = fs.readFileSync(built, "utf8");
  if (!fs.existsSync(manifest) || fs.readFileSync(manifest, "utf8") !== fresh) fs.writeFileSync(manifest, fresh);

  const build = path.join(DIR, "worker");
  await run("bash", [path.join(REPO, "scripts", "build-worker.sh"), "--out-dir", build], {
    cwd: REPO,
    env: { ...toolEnv, CLIPSTORE_MANIFEST: manifest },
    // A release build of the Worker: about two minutes alone, more beside
    // the other test files.
    timeout: 30 * 60_000,
  });
  return { build, public: out, manifest, shop };
}
