// A customer's own browser downloading from the order page of a 1-download
// link (docs/downloads.md, "What each client behaviour costs"): a headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core) clicks
// Download, cancels the download half way (past what the resume credit
// covers, with what the network held), reloads the page and downloads
// again. Chromium reaches the Worker through a proxy that forwards at a
// customer's speed and reads no faster than it forwards, so that the
// Worker sees the download stop (Chromium's own throttling reads the
// socket at full speed and slows only what the page sees). Chromium deletes a cancelled
// download's file and cannot resume it (its Retry asks from byte 0), so the
// fresh start must be granted, once; the file that arrives is checked byte
// for byte, and a third start is refused.
//
// Needs /usr/bin/chromium (scripts/setup-tools.sh installs it; $CHROMIUM
// overrides the path).

import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";

import { chromium } from "playwright-core";

import { creditPool, slack } from "./support/allowance.mjs";
import { makeVideoClip, putClip } from "./support/bigclip.mjs";
import { admin, catalog, curl, mint, sha256File, startStack } from "./support/stack.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** How much of the clip is in the browser's file when the customer cancels. */
const CANCEL_AT = 0.5;
/** The customer's line: bytes per second from the Worker to the browser. */
const LINE_SPEED = 24 * 1024 * 1024;

const { main, withheld } = catalog();
let stack;
let work;
let clip;
let browser;
let proxy;

/**
 * A TCP proxy to `port` that forwards responses at `speed` bytes per second
 * and stops reading from the Worker while it forwards (back-pressure), as a
 * customer's line does. Resolves to { base, close }.
 */
function lineProxy(port, speed) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.on("data", (chunk) => {
      upstream.pause();
      client.write(chunk);
      setTimeout(() => upstream.resume(), (chunk.length / speed) * 1000);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  })));
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-tools.sh (Debian package chromium)`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-browser-"));
  // 60 s, about 120 MB: what the network holds when the browser cancels
  // (on loopback, up to 30 MB) stays well short of the clip's end.
  clip = await makeVideoClip(work, { seconds: 60, minBytes: 100 * 1024 * 1024 });
  stack = await startStack({ seed: [main] });
  await putClip(stack, withheld, clip.file);
  proxy = await lineProxy(Number(new URL(stack.base).port), LINE_SPEED);
  fs.mkdirSync(path.join(work, "downloads"));
  browser = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    downloadsPath: path.join(work, "downloads"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The most a broken download of a 1-download link may have been charged for
 * a fresh start to fit with the resume credit alone: the slack and the pool.
 */
function restartableWithoutGrace(size) {
  return slack(size, 1) + creditPool(size, 1);
}

/** The largest file in the downloads folder (Chromium's file in progress). */
function largestDownload() {
  const dir = path.join(work, "downloads");
  return Math.max(0, ...fs.readdirSync(dir).map((f) => fs.statSync(path.join(dir, f)).size));
}

/** The order once every granted attempt has settled. */
async function settled(order) {
  for (let i = 0; ; i++) {
    const res = await admin(stack, "GET", `/admin/orders/${encodeURIComponent(order)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const open = res.body.attempts.filter((a) => a.reserved_bytes != null && a.settled_at == null);
    if (open.length === 0) return res.body;
    if (i > 300) assert.fail(`${order}: ${open.length} attempts not settled`);
    await sleep(200);
  }
}

it("a download cancelled late in the browser can be started again from the order page, once", { timeout: 240_000 }, async () => {
  const link = await mint(stack, { order: "B-CANCEL", clips: [withheld.slug], downloads: 1 });
  const page = await browser.newPage();
  const orderPage = link.url.replace(stack.base, proxy.base);

  await page.goto(orderPage);
  const [first] = await Promise.all([page.waitForEvent("download"), page.click("a.button")]);
  for (let i = 0; largestDownload() < clip.size * CANCEL_AT; i++) {
    if (i > 3000) assert.fail(`the download did not reach ${CANCEL_AT * 100} % in 60 s (${largestDownload()} bytes)`);
    await sleep(20);
  }
  await first.cancel();
  assert.equal(await first.failure(), "canceled");
  const cancelled = await settled("B-CANCEL");
  const [broken] = cancelled.attempts;
  assert.equal(broken.completed, 0, "the Worker saw the download stop");
  assert.ok(broken.sent_bytes >= clip.size * CANCEL_AT, `${broken.sent_bytes} bytes sent`);
  // More than a fresh start fits with the resume credit: before the
  // restart was given back, the customer was refused here.
  assert.ok(broken.charged_bytes > restartableWithoutGrace(clip.size), `charged ${broken.charged_bytes}`);

  // Chromium deleted the file: the page offers to start again.
  await page.reload();
  const html = await page.content();
  assert.match(html, /(Your last download did not finish: y|If your browser no longer has it, y)ou can start it again once\./, html);
  const [second] = await Promise.all([page.waitForEvent("download"), page.click("a.button")]);
  const saved = path.join(work, "whole.mp4");
  await second.saveAs(saved);
  assert.equal(await second.failure(), null);
  assert.equal(sha256File(saved), clip.sha256, "the whole clip, byte for byte");

  // The restart was the one given back: a further fresh start is refused,
  // and the page says so.
  const detail = await settled("B-CANCEL");
  assert.equal(detail.attempts.length, 2, JSON.stringify(detail.attempts));
  await page.reload();
  assert.match(await page.content(), /No downloads left/);
  const again = await curl(`${orderPage}/${withheld.slug}`, {
    args: ["-H", "Sec-Fetch-Mode: navigate", "-H", "Sec-Fetch-Dest: document"],
  });
  // Refused: within the minute after the whole clip was sent, as still
  // arriving (its end may be in the network), with nothing used.
  assert.equal(again.status, 409, "one copy; the restart is given once");
  assert.match(again.body.toString(), /This second one was not started and used none of your downloads/);
  const after = await settled("B-CANCEL");
  assert.equal(after.attempts.filter((a) => a.outcome === "granted").length, 2, JSON.stringify(after.attempts));
  console.log(`# cancelled at ${(broken.sent_bytes / clip.size * 100).toFixed(0)} % sent; started again: ` +
    `the whole ${clip.size} bytes`);
});
