// What a link may take while D1 is down (docs/downloads.md, "When D1
// fails"), in workerd with local R2 and D1, on a 1-download link and a clip
// of realistic size made at test time: a download manager (aria2c, whose
// first plain GET is abandoned once its ranges start) still gets the whole
// clip byte for byte; then the link is used up for the rest of the outage;
// parallel full GETs of a fresh link give one complete body; refusals are
// never written to R2; and when D1 is back, the merge charges what was sent.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { unit } from "./support/allowance.mjs";
import { makeVideoClip, putClip } from "./support/bigclip.mjs";
import { admin, catalog, curl, mint, run, sha256File, startStack } from "./support/stack.mjs";

const { main, withheld } = catalog();
let stack;
let work;
let clip; // { file, size, sha256 }


const TABLES = ["order_clips", "download_attempts", "orders", "refusal_minutes"];
async function d1Down() {
  await stack.wrangler(["d1", "execute", "DB", "--command", TABLES.map((t) => `ALTER TABLE ${t} RENAME TO ${t}_offline;`).join(" ")]);
}
async function d1Up() {
  await stack.wrangler(["d1", "execute", "DB", "--command", TABLES.map((t) => `ALTER TABLE ${t}_offline RENAME TO ${t};`).join(" ")]);
}

const clipUrl = (link) => `${link.url}/${withheld.slug}`;
const mib = (n) => `${(n / 1048576).toFixed(2)} MiB`;

/** Starts a download read at 4 MB/s into `file`; resolves once 1 MiB is in (the grant was served). */
async function slowDownload(url, file) {
  const curl = spawn("curl", ["-sS", "--limit-rate", "4M", "-o", file, url], { stdio: "ignore" });
  for (let i = 0; i < 300 && !(fs.existsSync(file) && fs.statSync(file).size > 1024 * 1024); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(fs.existsSync(file) && fs.statSync(file).size > 0, "the download started");
  return curl;
}

/** Runs the owner's merge on `s` until it has settled one stale download. */
async function mergeUntilSwept(s) {
  // A deadline, not a count of tries: on a loaded machine each merge takes
  // longer (a run beside another stack gave up after 50 tries).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const merged = await admin(s, "POST", "/admin/ledger/merge");
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    if (merged.body.settled_stale === 1) return;
    assert.ok(Date.now() < deadline, `settled once stale within 30 s: ${JSON.stringify(merged.body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Breaks a download off, as a lost connection does. */
async function breakOff(curl) {
  const exited = new Promise((resolve) => curl.on("exit", resolve));
  curl.kill("SIGKILL");
  await exited;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-outage-"));
  clip = await makeVideoClip(work, { seconds: 32 });
  stack = await startStack({ seed: [main] });
  await putClip(stack, withheld, clip.file);
});

after(async () => {
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("a 1-download link while D1 is down", () => {
  it("aria2c gets the whole clip; then the link is used up until D1 is back; the merge charges what was sent", async () => {
    const link = await mint(stack, { order: "O-ARIA", clips: [withheld.slug], downloads: 1 });
    const other = await mint(stack, { order: "O-OTHER", clips: [withheld.slug], downloads: 1 });
    await d1Down();
    let refusedAfter;
    try {
      const out = path.join(work, "aria");
      fs.mkdirSync(out);
      await run("aria2c", ["-x8", "-s8", "-k1M", "--file-allocation=none", "--console-log-level=warn",
        "--summary-interval=0", "--allow-overwrite=true", "-d", out, "-o", "clip.mp4", clipUrl(link)]);
      assert.equal(sha256File(path.join(out, "clip.mp4")), clip.sha256, "byte-identical during the outage");

      // Its allowance is taken: a second whole download is refused before
      // its first byte, once the first GET's reservation has settled: for
      // a while (503), not "used all downloads", which only D1 can tell
      // (a download that broke off is owed its restart or resume).
      let second;
      for (let i = 0; i < 50; i++) {
        second = await curl(clipUrl(link), { output: path.join(work, "second.mp4") }).catch(() => ({ status: "cut off" }));
        if (second.status === 503) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(second.status, 503, "a second download during the outage");
      const paused = fs.readFileSync(path.join(work, "second.mp4"), "utf8");
      assert.match(paused, /Downloads of this link are paused for a while/);
      assert.doesNotMatch(paused, /used all downloads/);
      refusedAfter = second.status;
      // Another order's link is not affected.
      const range = await curl(clipUrl(other), { args: ["-H", "Range: bytes=0-999"] });
      assert.equal(range.status, 206);
      // Junk tokens during the outage: refused, and (below) never in R2.
      for (let i = 0; i < 10; i++) {
        assert.equal((await curl(`${stack.base}/download/junk-${i}/${withheld.slug}`)).status, 403);
      }
    } finally {
      await d1Up();
    }
    assert.equal(refusedAfter, 503);

    const merged = await admin(stack, "POST", "/admin/ledger/merge");
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.ok(merged.body.merged >= 2, JSON.stringify(merged.body));
    assert.equal((await admin(stack, "POST", "/admin/ledger/merge")).body.merged, 0, "merged once");
    const detail = (await admin(stack, "GET", "/admin/orders/O-ARIA")).body;
    const outcomes = new Set(detail.attempts.map((a) => a.outcome));
    assert.deepEqual([...outcomes], ["granted_offline"], "refusals are not written to R2");
    for (const a of detail.attempts) assert.equal(a.recorded_via, "fallback");
    const total = detail.clips[0].granted_bytes;
    assert.ok(total >= clip.size, `${total} charged, at least the clip`);
    // R2 has no transaction: aria2c's 8 connections racing in the same
    // instant can take a little more than one download's worth (docs/
    // downloads.md), at most a first segment each; a loaded CI machine once
    // saw 78.47 MiB of 78.12. Never a second download.
    const racing = 8 * 256 * 1024;
    assert.ok(total <= unit(clip.size, 1) + racing,
      `${mib(total)} charged, at most one download's worth (${mib(unit(clip.size, 1))}) and what racing adds`);
    assert.ok(total < 2 * clip.size, `${mib(total)} charged: less than two clips`);
    assert.equal(detail.attempts.reduce((s, a) => s + a.charged_bytes, 0), total, "the ledger adds up");
    const junk = (await admin(stack, "GET", "/admin/attempts?limit=10000")).body.attempts
      .filter((a) => a.recorded_via === "fallback" && a.order_id == null);
    assert.equal(junk.length, 0, "no refusal came back from R2");
    console.log(`# aria2c during the outage: ${detail.attempts.length} requests, charged ${mib(total)} ` +
      `for a ${mib(clip.size)} clip (${(total / clip.size).toFixed(3)} clips)`);
  });

  it("a download still streaming when D1 comes back is charged what it sent, not the span it reserved", async () => {
    const link = await mint(stack, { order: "O-SLOW", clips: [withheld.slug], downloads: 1 });
    const partial = path.join(work, "slow.mp4");
    await d1Down();
    let slow;
    try {
      slow = await slowDownload(clipUrl(link), partial);
    } finally {
      await d1Up();
    }
    // D1 is back while the body may still stream: a merge now must not
    // take its record as it is (the whole span, reserved), but wait for the
    // isolate to settle it to what was sent.
    const early = await admin(stack, "POST", "/admin/ledger/merge");
    assert.equal(early.status, 200, JSON.stringify(early.body));
    await breakOff(slow);
    let detail;
    for (let i = 0; ; i++) {
      await admin(stack, "POST", "/admin/ledger/merge");
      const res = await admin(stack, "GET", "/admin/orders/O-SLOW");
      if (res.status === 200 && res.body.attempts.some((a) => a.settled_at != null)) {
        detail = res.body;
        break;
      }
      assert.ok(i < 100, `the settled record is merged: ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [attempt] = detail.attempts;
    console.log(`# streaming when D1 came back: ${mib(fs.statSync(partial).size)} received, ` +
      `${mib(attempt.sent_bytes)} sent, ${mib(attempt.charged_bytes)} charged of ${mib(clip.size)}`);
    assert.equal(detail.attempts.length, 1);
    assert.equal(attempt.charged_bytes, attempt.sent_bytes, "charged what was sent, settled");
    assert.equal(detail.clips[0].granted_bytes, attempt.charged_bytes, "the ledger adds up");
  });

  it("a grant whose attempt row alone fails to be written is still settled in D1, the row with it", async () => {
    const link = await mint(stack, { order: "O-ROW", clips: [withheld.slug], downloads: 1 });
    const partial = path.join(work, "row.mp4");
    // Every other statement works; writing an attempt's row fails.
    const sql = (command) => stack.wrangler(["d1", "execute", "DB", "--command", command]);
    await sql("CREATE TRIGGER no_attempt_rows BEFORE INSERT ON download_attempts BEGIN SELECT RAISE(ABORT, 'test: no rows'); END;");
    let slow;
    try {
      slow = await slowDownload(clipUrl(link), partial);
    } finally {
      await sql("DROP TRIGGER no_attempt_rows;");
    }
    await breakOff(slow);
    let detail;
    for (let i = 0; ; i++) {
      const res = await admin(stack, "GET", "/admin/orders/O-ROW");
      if (res.status === 200 && res.body.attempts.some((a) => a.settled_at != null)) {
        detail = res.body;
        break;
      }
      assert.ok(i < 100, `settled in D1 without a merge: ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [attempt] = detail.attempts;
    assert.equal(attempt.recorded_via, "d1");
    assert.equal(attempt.charged_bytes, attempt.sent_bytes);
    assert.ok(attempt.sent_bytes < clip.size, `${mib(attempt.sent_bytes)} sent of ${mib(clip.size)}`);
    assert.equal(detail.clips[0].granted_bytes, attempt.charged_bytes, "the reservation was given back down to what was sent");
    // Its R2 record, merged later, adds nothing.
    await admin(stack, "POST", "/admin/ledger/merge");
    const after = (await admin(stack, "GET", "/admin/orders/O-ROW")).body;
    assert.equal(after.attempts.length, 1);
    assert.equal(after.clips[0].granted_bytes, attempt.charged_bytes);
  });

  it("a download whose settlement D1 refuses is settled by the merge, and can then be resumed", async () => {
    const link = await mint(stack, { order: "O-SETTLE", clips: [withheld.slug], downloads: 1 });
    const partial = path.join(work, "settle.mp4");
    const sql = (command) => stack.wrangler(["d1", "execute", "DB", "--command", command]);
    // D1 takes everything but settling an attempt, when the download breaks off.
    await sql("CREATE TRIGGER no_settling BEFORE UPDATE OF settled_at ON download_attempts " +
      "WHEN NEW.settled_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'test: no settlement'); END;");
    let started;
    try {
      const slow = await slowDownload(clipUrl(link), partial);
      [started] = (await admin(stack, "GET", "/admin/orders/O-SETTLE")).body.attempts;
      assert.ok(started && started.settled_at == null, `reserved and recorded in D1: ${JSON.stringify(started)}`);
      await breakOff(slow);
      const deferred = `"event":"ledger_fallback","key":"ledger-fallback/`;
      for (let i = 0; !stack.log().split("\n").some((l) => l.includes(deferred) && l.includes(started.attempt_id)); i++) {
        assert.ok(i < 100, "the settlement D1 refused went to R2");
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(stack.log(), /"event":"settlement_deferred"/);
      // Until it is merged, the whole reservation is held, as if still streaming.
      assert.match((await curl(link.url)).body.toString(), /Download in progress/);
      assert.notEqual((await admin(stack, "POST", "/admin/ledger/merge")).status, 200, "D1 still refuses it");
    } finally {
      await sql("DROP TRIGGER no_settling;");
    }
    const merged = await admin(stack, "POST", "/admin/ledger/merge");
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.ok(merged.body.merged >= 1);
    const detail = (await admin(stack, "GET", "/admin/orders/O-SETTLE")).body;
    const [attempt] = detail.attempts;
    assert.equal(detail.attempts.length, 1);
    assert.equal(attempt.attempt_id, started.attempt_id);
    assert.ok(attempt.settled_at != null, "settled by the merge");
    assert.equal(attempt.recorded_via, "d1");
    assert.equal(attempt.completed, 0);
    assert.equal(attempt.charged_bytes, attempt.sent_bytes);
    assert.ok(attempt.sent_bytes < clip.size, `${mib(attempt.sent_bytes)} sent of ${mib(clip.size)}`);
    assert.equal(detail.clips[0].granted_bytes, attempt.charged_bytes, "given back down to what was sent");
    const kept = fs.statSync(partial).size;
    console.log(`# settlement refused, merged later: ${mib(kept)} received, ${mib(attempt.sent_bytes)} sent and ` +
      `charged of ${mib(clip.size)}`);
    // The customer resumes the download (what a browser's "Resume" does) and gets the clip.
    const resumed = await curl(clipUrl(link), { args: ["-C", "-"], output: partial });
    assert.equal(resumed.status, 206);
    assert.equal(sha256File(partial), clip.sha256, "byte-identical after the resume");
    assert.equal((await admin(stack, "POST", "/admin/ledger/merge")).body.merged, 0, "merged once");
  });

  it("a download whose Worker dies mid-stream is settled to its last report once stale, and can be resumed", async () => {
    // What a Workers runtime update does to a response still streaming after
    // its grace period: the process ends, no settlement runs. A window of
    // 3 s here (reports every 150 ms); 10 minutes by default.
    const vars = { STALE_DOWNLOAD_SECONDS: "3" };
    const first = await startStack({ seed: [main], vars });
    let second;
    try {
      await putClip(first, withheld, clip.file);
      const link = await mint(first, { order: "O-DIES", clips: [withheld.slug], downloads: 1 });
      const partial = path.join(work, "dies.mp4");
      const slow = await slowDownload(clipUrl(link), partial);
      const exited = new Promise((resolve) => slow.on("exit", resolve));
      // The order page, meanwhile, says the download is running, not that none is left.
      const during = (await curl(link.url)).body.toString();
      assert.match(during, /Download in progress/);
      assert.doesNotMatch(during, /No downloads left/);
      // Alive for longer than the window: its reports keep it from being taken for stale.
      await new Promise((r) => setTimeout(r, 4000));
      const live = await admin(first, "POST", "/admin/ledger/merge");
      assert.equal(live.status, 200, JSON.stringify(live.body));
      assert.equal(live.body.settled_stale, 0, "a live download is not stale");
      await first.stop({ keep: true, kill: true });
      await exited;
      const kept = fs.statSync(partial).size;
      assert.ok(kept > 0 && kept < clip.size, `broken off at ${mib(kept)}`);
      const [row] = JSON.parse((await first.wrangler(["d1", "execute", "DB", "--json", "--command",
        "SELECT settled_at, progress_bytes, progress_at FROM download_attempts WHERE order_id = 'O-DIES'"])).stdout)[0].results;
      assert.equal(row.settled_at, null, "nothing settled it when the Worker died");
      // A report counts the segments started when it is sent (every 150 ms
      // here): the kill can fall after a segment began and before the next
      // report, so what arrived may pass it by at most that segment.
      const segment = Math.min(Math.max(Math.floor(clip.size / 16), 256 * 1024), 16 * 1024 * 1024); // segments.rs
      assert.ok(row.progress_bytes + segment >= kept,
        `its last report (${mib(row.progress_bytes)}) counts what arrived (${mib(kept)}) but the segment in flight`);

      second = await startStack({ reuse: first.dir, vars });
      await mergeUntilSwept(second);
      assert.match(second.log(), /"event":"stale_download_settled"/);
      const detail = (await admin(second, "GET", "/admin/orders/O-DIES")).body;
      const [attempt] = detail.attempts;
      assert.equal(detail.attempts.length, 1);
      assert.ok(attempt.settled_at != null);
      assert.equal(attempt.completed, 0);
      assert.equal(attempt.sent_bytes, row.progress_bytes, "charged what it last reported");
      assert.equal(detail.clips[0].granted_bytes, attempt.sent_bytes, "nothing else charged, nothing in flight");
      console.log(`# Worker killed mid-stream: ${mib(kept)} received, last report ${mib(row.progress_bytes)}, ` +
        `charged ${mib(attempt.sent_bytes)} of ${mib(clip.size)}`);
      // The customer resumes; the download completes byte for byte.
      const resumed = await curl(clipUrl({ url: `${second.base}${new URL(link.url).pathname}` }), { args: ["-C", "-"], output: partial });
      assert.equal(resumed.status, 206);
      assert.equal(sha256File(partial), clip.sha256);
      assert.equal((await admin(second, "POST", "/admin/ledger/merge")).body.settled_stale, 0, "settled once");
    } finally {
      await second?.stop();
      await first.stop();
    }
  });

  it("a grant whose row could not be written, on a Worker that then dies mid-stream, is settled once stale and can be resumed", async () => {
    const vars = { STALE_DOWNLOAD_SECONDS: "3" };
    const first = await startStack({ seed: [main], vars });
    let second;
    try {
      await putClip(first, withheld, clip.file);
      const link = await mint(first, { order: "O-ROW-DIES", clips: [withheld.slug], downloads: 1 });
      const partial = path.join(work, "row-dies.mp4");
      const sql = (command) => first.wrangler(["d1", "execute", "DB", "--command", command]);
      const rows = async (s) => JSON.parse((await s.wrangler(["d1", "execute", "DB", "--json", "--command",
        "SELECT recorded_via, settled_at, progress_bytes FROM download_attempts WHERE order_id = 'O-ROW-DIES'"])).stdout)[0].results;
      await sql("CREATE TRIGGER no_attempt_rows BEFORE INSERT ON download_attempts BEGIN SELECT RAISE(ABORT, 'test: no rows'); END;");
      let slow;
      try {
        slow = await slowDownload(clipUrl(link), partial);
      } finally {
        await sql("DROP TRIGGER no_attempt_rows;");
      }
      const exited = new Promise((resolve) => slow.on("exit", resolve));
      assert.match(first.log(), /"event":"ledger_write_failed"/);
      // Once D1 takes rows again, the next progress report writes the row with it.
      for (let i = 0; ; i++) {
        const [row] = await rows(first);
        if (row?.progress_bytes > 0) {
          assert.equal(row.recorded_via, "d1");
          break;
        }
        assert.ok(i < 50, `the row came with a report: ${JSON.stringify(row)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await first.stop({ keep: true, kill: true });
      await exited;
      const kept = fs.statSync(partial).size;
      assert.ok(kept > 0 && kept < clip.size, `broken off at ${mib(kept)}`);

      second = await startStack({ reuse: first.dir, vars });
      await mergeUntilSwept(second);
      const detail = (await admin(second, "GET", "/admin/orders/O-ROW-DIES")).body;
      const [attempt] = detail.attempts;
      assert.equal(detail.attempts.length, 1, "its R2 record added no second row");
      assert.ok(attempt.settled_at != null);
      assert.equal(attempt.recorded_via, "d1");
      assert.equal(detail.clips[0].granted_bytes, attempt.sent_bytes, "nothing left in flight");
      console.log(`# row not written, Worker killed mid-stream: ${mib(kept)} received, charged ${mib(attempt.sent_bytes)} of ${mib(clip.size)}`);
      const resumed = await curl(clipUrl({ url: `${second.base}${new URL(link.url).pathname}` }), { args: ["-C", "-"], output: partial });
      assert.equal(resumed.status, 206, "the 1-download link resumes");
      assert.equal(sha256File(partial), clip.sha256);
    } finally {
      await second?.stop();
      await first.stop();
    }
  });

  it("the success page after paying, while D1 fails: the link comes by e-mail (not 'your link is fine')", async () => {
    await stack.wrangler(["d1", "execute", "DB", "--command", "ALTER TABLE checkouts RENAME TO checkouts_offline;"]);
    try {
      const res = await curl(`${stack.base}/thanks?session_id=cs_test_outage0123456789`);
      assert.equal(res.status, 503);
      const page = res.body.toString();
      assert.match(page, /your payment is being recorded/);
      assert.match(page, /e-mailed to you as soon as the order is recorded/);
      assert.doesNotMatch(page, /Your link is fine/, "the customer has no link yet");
    } finally {
      await stack.wrangler(["d1", "execute", "DB", "--command", "ALTER TABLE checkouts_offline RENAME TO checkouts;"]);
    }
  });

  it("'Lost your download link?' while D1 fails says to try again, not that a mail is on its way", async () => {
    // The outage review: the page promised a mail, the lookup failed after
    // the answer, and no mail ever came.
    const ask = () => fetch(`${stack.base}/orders/recover`, {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "email=lost%40example.com",
    }).then(async (r) => ({ status: r.status, text: await r.text() }));
    await stack.wrangler(["d1", "execute", "DB", "--command", "ALTER TABLE recovery_requests RENAME TO recovery_requests_offline;"]);
    let down;
    try {
      down = await ask();
    } finally {
      await stack.wrangler(["d1", "execute", "DB", "--command", "ALTER TABLE recovery_requests_offline RENAME TO recovery_requests;"]);
    }
    assert.equal(down.status, 503, down.text);
    assert.match(down.text, /nothing was sent\. Please try again in a few minutes/);
    assert.match(down.text, /value="lost@example\.com"/, "the address typed is kept in the form");
    assert.doesNotMatch(down.text, /on its way/);
    const up = await ask();
    assert.equal(up.status, 200, up.text);
    assert.match(up.text, /on its way/);
  });

  it("D1 read-only: a used-up link stays used up (paused), a fresh one downloads once", async () => {
    // The second outage review: with reads working and writes refused, a
    // used-up 1-download link got the whole clip again from the R2 tally.
    const used = await mint(stack, { order: "O-RO-USED", clips: [withheld.slug], downloads: 1 });
    const first = await curl(clipUrl(used), { output: path.join(work, "ro-first") });
    assert.equal(first.status, 200);
    assert.equal(sha256File(path.join(work, "ro-first")), clip.sha256);
    const fresh = await mint(stack, { order: "O-RO-FRESH", clips: [withheld.slug], downloads: 1 });
    const tables = ["orders", "order_clips", "download_attempts", "order_links", "order_events"];
    const triggers = tables.flatMap((t) => ["INSERT", "UPDATE"].map((op) => `ro_${op}_${t}`));
    await stack.wrangler(["d1", "execute", "DB", "--command", tables.flatMap((t) => ["INSERT", "UPDATE"].map((op) =>
      `CREATE TRIGGER ro_${op}_${t} BEFORE ${op} ON ${t} BEGIN SELECT RAISE(ABORT, 'database is read-only'); END;`)).join(" ")]);
    let again, served;
    try {
      again = await curl(clipUrl(used), { output: path.join(work, "ro-again") });
      served = await curl(clipUrl(fresh), { output: path.join(work, "ro-fresh") });
    } finally {
      await stack.wrangler(["d1", "execute", "DB", "--command", triggers.map((t) => `DROP TRIGGER ${t};`).join(" ")]);
    }
    assert.equal(again.status, 503, "paused, not a second copy");
    assert.match(fs.readFileSync(path.join(work, "ro-again"), "utf8"), /paused for a while/);
    assert.equal(served.status, 200, "a link with its download left is served, counted in R2");
    assert.equal(sha256File(path.join(work, "ro-fresh")), clip.sha256);
    await admin(stack, "POST", "/admin/ledger/merge");
  });

  it("8 parallel full GETs of a fresh link: one complete body, the rest refused or cut off", async () => {
    const link = await mint(stack, { order: "O-PAR", clips: [withheld.slug], downloads: 1 });
    await d1Down();
    let results;
    try {
      results = await Promise.all(Array.from({ length: 8 }, (_, i) => {
        const output = path.join(work, `par-${i}`);
        return curl(clipUrl(link), { output }).then((r) => ({ ...r, output }), () => ({ status: "cut off", output }));
      }));
    } finally {
      await d1Up();
    }
    const complete = results.filter((r) => r.status === 200 && sha256File(r.output) === clip.sha256);
    assert.equal(complete.length, 1, results.map((r) => r.status).join(" "));
    const received = results.reduce((s, r) => s + (fs.existsSync(r.output) && r.status !== 503 ? fs.statSync(r.output).size : 0), 0);
    assert.ok(received <= 2 * unit(clip.size, 1), `${mib(received)} received in all`);
    await admin(stack, "POST", "/admin/ledger/merge");
    const detail = (await admin(stack, "GET", "/admin/orders/O-PAR")).body;
    console.log(`# 8 parallel GETs during the outage: ${results.map((r) => r.status).join(" ")}; ` +
      `${mib(received)} received, ${mib(detail.clips[0]?.granted_bytes ?? 0)} charged after the merge`);
  });
});
