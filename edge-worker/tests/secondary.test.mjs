// The secondary origin (docs/secondary-origin.md) in workerd, against a real
// S3 protocol server that checks SigV4 signatures (s3s-fs, support/s3.mjs),
// with a key pair made at test time.
//
// - R2 lacks a clip of realistic size (made at test time with ffmpeg; the
//   Worker is built from a catalog that lists its size, support/custom-worker.mjs):
//   curl, `wget -c` and aria2c -x8 still get it byte for byte on 1-download
//   links, ranges and 304 included, and the ledger records the origin.
// - No R2 binding at all: downloads continue from the secondary; with D1
//   down as well, nothing could bound or record a download: 503, and the
//   1-download link is whole once D1 is back.
// - The self-test alerts once ("R2 is failing; downloads continue from the
//   secondary"), and sends the recovery notice once R2 has the clip again.
// - A wrong secondary key: 503 with a clear log line, and the self-test alerts.
// - A secondary object of a different size is never served.
// - The secondary failing between its HEAD and the GET, with D1 refusing to
//   give the reservation back: the 1-download link is whole once D1 is back.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { unit } from "./support/allowance.mjs";
import { makeVideoClip, putClip } from "./support/bigclip.mjs";
import { workerForClip } from "./support/custom-worker.mjs";
import { startFaultyFront, startS3 } from "./support/s3.mjs";
import { ADMIN_TOKEN, admin, catalog, curl, mint, paths, run, sha256File, startStack } from "./support/stack.mjs";

const { manifest, other, withheld } = catalog();
const samples = Object.entries(manifest.clips).map(([slug, c]) => ({ slug, ...c, file: path.join(paths.media, c.object_key) }));
// Every file `site-gen push` sends: each clip's main file and its variants.
const files = samples.flatMap((c) => [
  c,
  ...Object.entries(c.variants ?? {}).map(([id, v]) => ({ slug: `${c.slug} (${id})`, ...v, file: path.join(paths.media, v.object_key) })),
]);
let work;
let clip; // the clip of realistic size: { file, size, sha256 }
let worker;
let s3;
let front; // s3 behind a pass-through that can fail GETs (stack's secondary)
let stack; // R2 lacks `withheld`; the secondary has every clip
let bad; // a wrong secondary secret
let noR2; // no R2 binding
let half; // a half-configured secondary
let receiver;
const received = [];
const hook = () => `http://127.0.0.1:${receiver.address().port}/hook`;

function startReceiver() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push({ path: req.url, body: JSON.parse(body) });
        res.writeHead(200).end("ok");
      });
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

const scheduledRoute = (toml) => toml.replace(/^run_worker_first = \[/m, 'run_worker_first = ["/__scheduled", ');

async function scheduled(s) {
  const res = await fetch(`${s.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`, {
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(res.status, 200, await res.text());
  await new Promise((r) => setTimeout(r, 300));
}

/** Uploads to the stack's R2 through the admin API. */
async function putR2(s, entry, file) {
  const res = await fetch(`${s.base}/admin/objects/${entry.object_key}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": entry.content_type },
    body: fs.readFileSync(file),
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(res.status, 201, await res.text());
}

/** The order once it has `n` attempts and every reservation has settled. */
async function settled(s, order, n = 1) {
  for (let i = 0; ; i++) {
    const res = await admin(s, "GET", `/admin/orders/${encodeURIComponent(order)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const open = res.body.attempts.filter((a) => a.reserved_bytes != null && a.settled_at == null);
    if (res.body.attempts.length >= n && open.length === 0) return res.body;
    if (i > 600) assert.fail(`${order}: ${res.body.attempts.length} attempts, ${open.length} not settled`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


const url = (link, entry = withheld) => `${link.url}/${entry.slug}`;

/** The stack's log once it matches `pattern` (wrangler writes it a moment later). */
async function logMatching(s, pattern) {
  for (let i = 0; i < 100; i++) {
    const log = s.log();
    if (pattern.test(log)) return log;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no ${pattern} in the log:\n${s.log().slice(-3000)}`);
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-secondary-"));
  clip = await makeVideoClip(work, { seconds: 32 });
  // One at a time, so that after() stops whatever did start.
  s3 = await startS3();
  front = await startFaultyFront(s3.endpoint);
  receiver = await startReceiver();
  worker = await workerForClip(withheld, clip);
  // The secondary has every file of the catalog (variants too); R2 all but `withheld`.
  for (const c of files) {
    await s3.put(c.object_key, c.slug === withheld.slug ? clip.file : c.file);
  }
  [stack, bad, noR2, half] = await Promise.all([
    startStack({
      worker,
      // A shop that sells through its cart (doctor fails one without a key),
      // and so mails its customers (doctor fails one without mail; no mail
      // is sent here: the address is a closed loopback port).
      vars: { ...s3.vars({ SECONDARY_ENDPOINT: front.endpoint }), ALERT_WEBHOOK_URL: hook(),
        STRIPE_API_KEY: "rk_test_51E2eRestrictedKey0123456789", STRIPE_TEST_MODE: "true",
        STRIPE_API_BASE: "http://127.0.0.1:9", // closed: no call leaves the machine
        RESEND_API_KEY: "re_e2e_0123456789abcdef", MAIL_FROM: "Saltglass Footage <shop@mail.saltglass.example>",
        MAIL_API_BASE: "http://127.0.0.1:9" },
      devArgs: ["--test-scheduled"],
      editConfig: scheduledRoute,
    }),
    startStack({
      worker,
      vars: { ...s3.vars({ SECONDARY_SECRET_ACCESS_KEY: "wrong" + s3.secretAccessKey.slice(5) }), ALERT_WEBHOOK_URL: `${hook()}-bad` },
      devArgs: ["--test-scheduled"],
      editConfig: scheduledRoute,
    }),
    startStack({ worker, vars: s3.vars(), editConfig: (toml) => toml.replace(/\[\[r2_buckets\]\][^[]*/, "") }),
    startStack({
      worker,
      vars: { SECONDARY_ENDPOINT: s3.endpoint, SECONDARY_BUCKET: s3.bucket, ALERT_WEBHOOK_URL: `${hook()}-half` },
      devArgs: ["--test-scheduled"],
      editConfig: scheduledRoute,
    }),
  ]);
  await Promise.all(
    files.filter((c) => c.slug !== withheld.slug).map((c) => putR2(stack, c, c.file)),
  );
});

after(async () => {
  await Promise.all([stack?.stop(), bad?.stop(), noR2?.stop(), half?.stop(), front?.stop(), s3?.stop()]);
  receiver?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("downloads continue from the secondary origin", () => {
  it("R2 lacks the clip: curl gets it byte for byte from the secondary, and the ledger says so", async () => {
    const link = await mint(stack, { order: "S-CURL", clips: [withheld.slug], downloads: 1 });
    const out = path.join(work, "curl.mp4");
    const res = await curl(url(link), { output: out });
    assert.equal(res.status, 200);
    assert.equal(Number(res.headers["content-length"]), clip.size);
    assert.equal(sha256File(out), clip.sha256, "byte-identical");
    assert.equal(res.headers["accept-ranges"], "bytes");
    assert.match(res.headers["content-disposition"], /attachment/);
    const detail = await settled(stack, "S-CURL");
    assert.equal(detail.attempts[0].origin, "secondary");
    assert.equal(detail.attempts[0].completed, 1);
    await logMatching(stack, /"event":"served_from_secondary"/);
  });

  it("HEAD, ranges and 304 from the secondary, on a 1-download link", async () => {
    const link = await mint(stack, { order: "S-RANGE", clips: [withheld.slug], downloads: 1 });
    const head = await curl(url(link), { args: ["-I"] });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers["content-length"]), clip.size);
    const etag = head.headers.etag;
    assert.match(etag, /^"[^"]+"$/);
    const bytes = fs.readFileSync(clip.file);
    const first = await curl(url(link), { args: ["-H", "Range: bytes=0-99"] });
    assert.equal(first.status, 206);
    assert.equal(first.headers["content-range"], `bytes 0-99/${clip.size}`);
    assert.ok(first.body.equals(bytes.subarray(0, 100)));
    const tail = await curl(url(link), { args: ["-H", "Range: bytes=-1000"] });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(bytes.subarray(clip.size - 1000)));
    // Across a segment boundary (segments.rs: 256 KiB, then doubling).
    const middle = await curl(url(link), { args: ["-H", "Range: bytes=200000-1200000"] });
    assert.equal(middle.status, 206);
    assert.ok(middle.body.equals(bytes.subarray(200000, 1200001)));
    const notModified = await curl(url(link), { args: ["-H", `If-None-Match: ${etag}`] });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    const detail = await settled(stack, "S-RANGE", 5);
    assert.ok(detail.attempts.every((a) => a.origin === "secondary"), JSON.stringify(detail.attempts.map((a) => a.origin)));
    assert.equal(detail.clips[0].downloads_left, 1, "ranges and a 304 cost less than a download");
  });

  it("wget -c resumes a broken download from the secondary on a 1-download link", async () => {
    const link = await mint(stack, { order: "S-WGET", clips: [withheld.slug], downloads: 1 });
    const out = path.join(work, "wget.mp4");
    const first = spawn("wget", ["-q", "-O", out, url(link)], { stdio: "ignore" });
    const firstDone = new Promise((resolve) => first.on("exit", resolve));
    const target = Math.floor(clip.size * 0.4);
    for (let i = 0; i < 3000 && !(fs.existsSync(out) && fs.statSync(out).size >= target); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    await firstDone;
    const kept = fs.statSync(out).size;
    assert.ok(kept > 0 && kept < clip.size, `killed at ${kept} of ${clip.size}`);
    await settled(stack, "S-WGET");
    await run("wget", ["-q", "-c", "-O", out, url(link)]);
    assert.equal(sha256File(out), clip.sha256, "the resumed file is byte-identical");
    const detail = await settled(stack, "S-WGET", 2);
    assert.match(detail.attempts[1].range_header, new RegExp(`^bytes=${kept}-$`));
    assert.ok(detail.attempts.every((a) => a.origin === "secondary"));
    const total = detail.clips[0].granted_bytes;
    assert.ok(total <= unit(clip.size, 1), `${total} charged, at most one download's worth`);
  });

  it("aria2c -x8 -s8 on a 1-download link gets the whole clip from the secondary", async () => {
    const link = await mint(stack, { order: "S-ARIA", clips: [withheld.slug], downloads: 1 });
    const out = path.join(work, "aria");
    fs.mkdirSync(out);
    await run("aria2c", ["-x8", "-s8", "-k1M", "--file-allocation=none", "--console-log-level=warn",
      "--summary-interval=0", "--allow-overwrite=true", "-d", out, "-o", "clip.mp4", url(link)]);
    assert.equal(sha256File(path.join(out, "clip.mp4")), clip.sha256, "byte-identical");
    const detail = await settled(stack, "S-ARIA");
    assert.ok(detail.attempts.length >= 2, "aria2c split the download");
    assert.ok(detail.attempts.every((a) => a.origin === "secondary"));
    assert.ok(detail.clips[0].granted_bytes <= unit(clip.size, 1));
  });

  it("the secondary failing between its HEAD and the GET, with D1 refusing to give the reservation back: 503, and the 1-download link is whole once D1 is back", async () => {
    const link = await mint(stack, { order: "S-GIVEBACK", clips: [withheld.slug], downloads: 1 });
    const sql = (command) => stack.wrangler(["d1", "execute", "DB", "--command", command]);
    // D1 grants and records; it refuses anything that gives bytes back.
    await sql("CREATE TRIGGER no_giving_back BEFORE UPDATE OF reserved_bytes ON order_clips " +
      "WHEN NEW.reserved_bytes < OLD.reserved_bytes BEGIN SELECT RAISE(ABORT, 'test: nothing given back'); END;");
    try {
      front.failGets = true;
      const failed = await curl(url(link));
      assert.equal(failed.status, 503);
      front.failGets = false;
      await logMatching(stack, /"event":"settlement_deferred"/);
      const [attempt] = (await admin(stack, "GET", "/admin/orders/S-GIVEBACK")).body.attempts;
      assert.equal(attempt.status, 503);
      assert.ok(attempt.reserved_bytes > 0 && attempt.settled_at == null, `charged until settled: ${JSON.stringify(attempt)}`);
      assert.notEqual((await admin(stack, "POST", "/admin/ledger/merge")).status, 200, "D1 still refuses it");
    } finally {
      front.failGets = false;
      await sql("DROP TRIGGER no_giving_back;");
    }
    const merged = await admin(stack, "POST", "/admin/ledger/merge");
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    const detail = (await admin(stack, "GET", "/admin/orders/S-GIVEBACK")).body;
    assert.equal(detail.attempts.length, 1);
    assert.equal(detail.attempts[0].charged_bytes, 0);
    assert.ok(detail.attempts[0].settled_at != null);
    assert.equal(detail.clips[0].granted_bytes, 0, "nothing charged for a download that sent nothing");
    const out = path.join(work, "giveback.mp4");
    const whole = await curl(url(link), { output: out });
    assert.equal(whole.status, 200);
    assert.equal(sha256File(out), clip.sha256, "the 1-download link gets the whole clip");
  });

  it("no R2 binding at all: downloads continue from the secondary", async () => {
    const link = await mint(noR2, { order: "S-NOR2", clips: [other.slug] });
    const out = path.join(work, "nor2.bin");
    const res = await curl(url(link, other), { output: out });
    assert.equal(res.status, 200, fs.existsSync(out) ? fs.readFileSync(out, "utf8").slice(0, 300) : "");
    assert.equal(sha256File(out), sha256File(other.file));
    const ranged = await curl(url(link, other), { args: ["-H", "Range: bytes=10-19"] });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(fs.readFileSync(other.file).subarray(10, 20)));
  });

  it("no R2 binding and D1 down: a 503 that says why, nothing sent unrecorded; the link works once D1 is back", async () => {
    const link = await mint(noR2, { order: "S-NOR2-D1", clips: [other.slug], downloads: 1 });
    const tables = ["order_clips", "download_attempts", "orders", "refusal_minutes"];
    await noR2.wrangler(["d1", "execute", "DB", "--command", tables.map((t) => `ALTER TABLE ${t} RENAME TO ${t}_offline;`).join(" ")]);
    try {
      for (const args of [[], ["-H", "Range: bytes=0-1048575"]]) {
        const res = await curl(url(link, other), { args });
        assert.equal(res.status, 503, `${args.join(" ")}: ${res.status}`);
        assert.ok(!res.body.includes(fs.readFileSync(other.file).subarray(0, 64)), "no byte of the clip");
      }
      await logMatching(noR2, /neither D1 nor R2 can record the download/);
    } finally {
      await noR2.wrangler(["d1", "execute", "DB", "--command", tables.map((t) => `ALTER TABLE ${t}_offline RENAME TO ${t};`).join(" ")]);
    }
    const out = path.join(work, "nor2-d1.bin");
    const res = await curl(url(link, other), { output: out });
    assert.equal(res.status, 200);
    assert.equal(sha256File(out), sha256File(other.file), "the refusals cost the 1-download link nothing");
  });

  it("the self-test alerts once while downloads come from the secondary, and recovers when R2 is back", async () => {
    await scheduled(stack);
    const alerts = received.filter((r) => r.path === "/hook");
    assert.equal(alerts.length, 1, JSON.stringify(received));
    const notice = alerts[0].body.clipstore;
    assert.equal(notice.kind, "alert");
    assert.ok(notice.new.includes("r2_failover"), JSON.stringify(notice));
    assert.ok(notice.new.includes(`clip:${withheld.slug}`), "R2 lacks the clip");
    assert.match(JSON.stringify(alerts[0].body), /R2 did not serve downloads \(R2 failing, or files missing from the bucket: the other lines say which\); downloads continue from the secondary/);
    await scheduled(stack);
    assert.equal(received.filter((r) => r.path === "/hook").length, 1, "no second alert");

    // R2 is back: the clip is there again, and downloads come from it.
    await putClip(stack, withheld, clip.file);
    const link = await mint(stack, { order: "S-BACK", clips: [withheld.slug], downloads: 1 });
    const out = path.join(work, "back.mp4");
    const res = await curl(url(link), { output: out });
    assert.equal(res.status, 200);
    assert.equal(sha256File(out), clip.sha256);
    const detail = await settled(stack, "S-BACK");
    assert.equal(detail.attempts[0].origin, "r2");
    await scheduled(stack);
    const notices = received.filter((r) => r.path === "/hook");
    assert.equal(notices.length, 2, JSON.stringify(notices.map((n) => n.body.clipstore)));
    assert.equal(notices[1].body.clipstore.kind, "recovered");
  });

  it("a secondary object of a different size is never served", async () => {
    // `other` leaves R2, and the secondary's copy is one byte short.
    await stack.wrangler(["r2", "object", "delete", `${stack.bucket}/${other.object_key}`]);
    const bytes = fs.readFileSync(other.file);
    s3.putBytes(other.object_key, bytes.subarray(0, bytes.length - 1));
    const link = await mint(stack, { order: "S-SIZE", clips: [other.slug] });
    for (const args of [[], ["-H", "Range: bytes=0-9"], ["-I"]]) {
      const res = await curl(url(link, other), { args });
      assert.equal(res.status, 503, `${args.join(" ")}: ${res.status}`);
      assert.ok(!res.body.includes(bytes.subarray(0, 64)), "no byte of it");
    }
    await logMatching(stack, /not the catalog's clip, not served: wrong size/);
    await s3.put(other.object_key, other.file);
    await putClip(stack, other, other.file);
  });

  it("site-gen doctor reports both origins", async () => {
    const siteGen = process.env.SITE_GEN_BIN;
    const [cmd, pre] = siteGen ? [siteGen, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const { stdout } = await run(cmd, [...pre, "doctor", "--root", worker.shop, "--worker-url", stack.base], {
      env: { ...process.env, CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    assert.match(stdout, /ok {4}secondary: secondary origin reachable with its key: bucket clipstore-secondary/);
    // Every file: each clip's main file and its variants.
    assert.match(stdout, new RegExp(`The secondary origin \\(${files.length} catalog clips\\):`));
    assert.match(stdout, new RegExp(`ok {4}${files.length} clip\\(s\\) present in the secondary`));
    const broken = await run(cmd, [...pre, "doctor", "--root", worker.shop, "--worker-url", bad.base], {
      env: { ...process.env, CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN },
    }).then(() => assert.fail("doctor should fail on a wrong key"), (e) => e);
    assert.match(broken.stdout, /FAIL  secondary: the secondary refused the request .*SignatureDoesNotMatch/);
  });

  it("a half-configured secondary: R2 still serves, a clear log line, a failed health check and one alert", async () => {
    await putClip(half, other, other.file);
    const link = await mint(half, { order: "S-HALF", clips: [other.slug, withheld.slug] });
    const fromR2 = await curl(url(link, other));
    assert.equal(fromR2.status, 200, "R2 is not disturbed");
    assert.ok(fromR2.body.equals(fs.readFileSync(other.file)));
    const missing = await curl(url(link));
    assert.equal(missing.status, 503, "R2 lacks it and there is no usable secondary");
    await logMatching(half, /half configured: SECONDARY_REGION, SECONDARY_ACCESS_KEY_ID, SECONDARY_SECRET_ACCESS_KEY not set[^"]*","event":"secondary_misconfigured"/);
    const health = await admin(half, "GET", "/admin/health");
    assert.equal(health.status, 503);
    const check = health.body.checks.find((c) => c.name === "secondary");
    assert.equal(check.ok, false);
    assert.match(check.detail, /half configured/);
    await scheduled(half);
    const alerts = received.filter((r) => r.path === "/hook-half");
    assert.equal(alerts.length, 1);
    assert.ok(alerts[0].body.clipstore.new.includes("secondary"), JSON.stringify(alerts[0].body.clipstore));
  });

  it("a wrong secondary key: 503, a clear log line, and the self-test alerts", async () => {
    const link = await mint(bad, { order: "S-BADKEY", clips: [withheld.slug] });
    const res = await curl(url(link));
    assert.equal(res.status, 503);
    const log = await logMatching(bad, /"event":"secondary_failed"/);
    assert.match(log, /the secondary refused the request for .*\(403 SignatureDoesNotMatch\): is the access key pair right/);
    assert.ok(!log.includes(s3.secretAccessKey.slice(5)), "the secret is never logged");
    await scheduled(bad);
    const alerts = received.filter((r) => r.path === "/hook-bad");
    assert.equal(alerts.length, 1, JSON.stringify(received.map((r) => r.path)));
    assert.ok(alerts[0].body.clipstore.new.includes("secondary"), JSON.stringify(alerts[0].body.clipstore));
  });
});

describe("site-gen push to both origins", () => {
  it("fills R2 and the secondary from nothing with every variant of every clip, resumes an interrupted upload, and a second run uploads nothing", async () => {
    const empty = await startS3();
    const fresh = await startStack({ worker, vars: empty.vars() });
    try {
      // The owner's masters: the sample clips, and the clip of realistic size.
      const media = path.join(work, "masters");
      assert.ok(files.length > samples.length, "the sample shop has variants");
      for (const c of files) {
        const to = path.join(media, c.object_key);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.copyFileSync(c.slug === withheld.slug ? clip.file : c.file, to);
      }
      const env = {
        ...process.env,
        CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN,
        CLIPSTORE_SECONDARY_ENDPOINT: empty.endpoint,
        CLIPSTORE_SECONDARY_REGION: empty.region,
        CLIPSTORE_SECONDARY_BUCKET: empty.bucket,
        CLIPSTORE_SECONDARY_ACCESS_KEY_ID: empty.accessKeyId,
        CLIPSTORE_SECONDARY_SECRET_ACCESS_KEY: empty.secretAccessKey,
      };
      const siteGen = process.env.SITE_GEN_BIN;
      const [cmd, pre] = siteGen ? [siteGen, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
      const args = [...pre, "push", "--root", worker.shop, "--worker-url", fresh.base, "--media", media];
      const push = () => run(cmd, args, { env });

      // The first run is killed in the middle of the large clip's multipart upload.
      const first = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      const exited = new Promise((resolve) => first.on("exit", resolve));
      first.stderr.on("data", (d) => {
        stderr += d;
        if (/part 2 of \d+ sent/.test(stderr)) first.kill("SIGKILL");
      });
      await exited;
      assert.match(stderr, /part 2 of \d+ sent/, stderr.slice(-2000));
      assert.ok(!empty.has(withheld.object_key), "the interrupted object is not there yet");

      const second = await push();
      assert.match(second.stderr, new RegExp(`${withheld.object_key}: resuming an interrupted upload, [1-9]\\d* of \\d+ parts already there`), second.stderr.slice(-3000));
      assert.match(second.stdout, /Secondary origin: \d+ uploaded \(size, MD5 and sha256 verified\)/);
      for (const c of files) {
        const expected = c.slug === withheld.slug ? clip.sha256 : sha256File(c.file);
        assert.ok(empty.has(c.object_key), `${c.slug} in the secondary`);
        assert.equal(sha256File(path.join(empty.root, empty.bucket, c.object_key)), expected, `${c.slug} in the secondary`);
        const r2 = await admin(fresh, "GET", `/admin/objects/${c.object_key}`);
        assert.equal(r2.status, 200, `${c.slug} in R2`);
        assert.equal(r2.body.found.sha256, expected, `${c.slug} in R2`);
      }

      const third = await push();
      assert.match(third.stdout, new RegExp(`^0 uploaded, ${files.length} already in the bucket, 0 failed`, "m"));
      assert.match(third.stdout, new RegExp(`Secondary origin: 0 uploaded .*, ${files.length} already there`));
      assert.doesNotMatch(third.stdout, /uploading/);

      // What push put there is served: R2 fails over to it byte for byte.
      await fresh.wrangler(["r2", "object", "delete", `${fresh.bucket}/${withheld.object_key}`]);
      const link = await mint(fresh, { order: "S-PUSHED", clips: [withheld.slug], downloads: 1 });
      const out = path.join(work, "pushed.mp4");
      const res = await curl(url(link), { output: out });
      assert.equal(res.status, 200);
      assert.equal(sha256File(out), clip.sha256);
    } finally {
      await fresh.stop();
      await empty.stop();
    }
  });
});
