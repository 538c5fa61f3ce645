// A real video player against the download allowance (docs/downloads.md): a
// headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core;
// no browser of playwright's own) plays a clip of realistic size (a >= 32 MiB
// H.264/AAC MP4 made at test time, support/bigclip.mjs) in a <video> element
// from a 1-download link, seeks three times (forward, back, forward) and plays
// to the end. The browser chooses its own Range requests, Sec-Fetch-Dest and
// aborts; the test then waits until the Worker has settled every response and
// checks in the ledger that all of it was charged at most one download.
//
// Needs /usr/bin/chromium (scripts/setup-tools.sh installs it; $CHROMIUM
// overrides the path). Prints one summary line: requests, bytes charged, clip
// size and their ratio.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";

import { chromium } from "playwright-core";

import { makeVideoClip, putClip } from "./support/bigclip.mjs";
import { admin, catalog, mint, startStack } from "./support/stack.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** Longest wait for one step of playback (start, a seek, some progress). */
const STEP_MS = 30_000;
/** Where the player jumps to, as fractions of the clip's duration. */
const SEEKS = [0.6, 0.2, 0.85];
/** Seconds the player must play after its start and after each seek. */
const PROGRESS_S = 0.5;

const { main, withheld } = catalog();
let stack;
let work;
let clip;
let browser;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-tools.sh (Debian package chromium)`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-player-"));
  clip = await makeVideoClip(work);
  stack = await startStack({ seed: [main] });
  await putClip(stack, withheld, clip.file);
  // A persistent context on a fresh, empty profile directory.
  browser = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

const show = async (order) => {
  const res = await admin(stack, "GET", `/admin/orders/${encodeURIComponent(order)}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};

/**
 * The order once every granted attempt is settled and no new attempt has
 * come in between two looks (the browser is closed by then).
 */
async function settled(order) {
  let seen = -1;
  for (let i = 0; ; i++) {
    const detail = await show(order);
    const open = detail.attempts.filter((a) => a.reserved_bytes != null && a.settled_at == null);
    if (open.length === 0 && detail.attempts.length === seen) return detail;
    seen = open.length === 0 ? detail.attempts.length : -1;
    if (i > 300) assert.fail(`${order}: ${detail.attempts.length} attempts, ${open.length} not settled`);
    await sleep(200);
  }
}

/**
 * Runs in the page: adds a muted <video> playing `src` and `window.player`:
 * `until(event, ok, ms)` resolves with currentTime at the first `event` after
 * which `ok(video)` holds, and rejects on a media error (with its code) or
 * after `ms`.
 */
function installPlayer({ src, started }) {
  const video = document.createElement("video");
  video.muted = true;
  const events = [];
  for (const name of ["loadedmetadata", "playing", "waiting", "stalled", "seeking", "seeked", "pause", "ended", "error"]) {
    video.addEventListener(name, () => events.push(`${name}@${video.currentTime.toFixed(1)}s/${Date.now() - started}ms`));
  }
  const state = () => `at ${video.currentTime.toFixed(2)} s of ${video.duration}, readyState ${video.readyState}, ` +
    `networkState ${video.networkState}; last events: ${events.slice(-8).join(" ")}`;
  const mediaError = () => new Error(`media error code ${video.error.code} (${video.error.message || "no message"}); ${state()}`);
  const until = (name, ok, ms) => new Promise((resolve, reject) => {
    if (video.error) return reject(mediaError());
    const finish = (settle) => {
      clearTimeout(timer);
      video.removeEventListener(name, check);
      video.removeEventListener("error", fail);
      settle();
    };
    const check = () => ok(video) && finish(() => resolve(video.currentTime));
    const fail = () => finish(() => reject(mediaError()));
    const timer = setTimeout(() => finish(() => reject(new Error(`no ${name} as expected within ${ms} ms; ${state()}`))), ms);
    video.addEventListener(name, check);
    video.addEventListener("error", fail);
  });
  window.player = { video, events, until, state };
  video.src = src;
  document.body.append(video);
}

/**
 * Plays the clip in the page's player: starts, seeks to each of SEEKS (waits
 * for `seeked` and some progress after each), then plays to `ended`, twice as
 * fast; if that stalls without a media error, jumps to just before the end.
 * Returns { duration, fallback (why it jumped, or null) }.
 */
async function play(page) {
  const duration = await page.evaluate(async ({ progress, ms }) => {
    const { video, until } = window.player;
    await Promise.all([video.play(), until("timeupdate", (v) => v.currentTime >= progress, ms)]);
    return video.duration;
  }, { progress: PROGRESS_S, ms: STEP_MS });

  for (const fraction of SEEKS) {
    await page.evaluate(async ({ fraction, progress, ms }) => {
      const { video, until } = window.player;
      const target = fraction * video.duration;
      const seeked = until("seeked", () => true, ms);
      video.currentTime = target;
      await seeked;
      await until("timeupdate", (v) => v.currentTime >= target + progress, ms);
    }, { fraction, progress: PROGRESS_S, ms: STEP_MS });
  }

  const fallback = await page.evaluate(async ({ ms }) => {
    const { video, until, state } = window.player;
    video.playbackRate = 2;
    try {
      await until("ended", () => true, ms);
      return null;
    } catch (e) {
      if (video.error) throw e;
      const stalled = state();
      video.currentTime = video.duration - 0.25;
      await until("ended", () => true, ms);
      return stalled;
    }
  }, { ms: STEP_MS });
  return { duration, fallback };
}

/** What the browser and the ledger saw, one line per request. */
function describe(events, requests, attempts) {
  return [
    `media events: ${events.join(" ")}`,
    "browser requests (ms since start, Range, status, Content-Range, end):",
    ...requests.map((q) => `  ${q.at} ${q.range} ${q.status ?? "-"} ${q.contentRange ?? "-"} ${q.end ?? "open"}`),
    "ledger attempts (Range, status, outcome, reserved, sent, charged, completed):",
    ...attempts.map((a) => `  ${a.range_header} ${a.status} ${a.outcome} ${a.reserved_bytes} ${a.sent_bytes} ${a.charged_bytes} ${a.completed}`),
  ].join("\n");
}

it("a <video> playing with three seeks from a 1-download link is charged at most one download", { timeout: 240_000 }, async () => {
  const started = Date.now();
  const link = await mint(stack, { order: "P-PLAY", clips: [withheld.slug], downloads: 1 });
  const src = `${link.url}/${withheld.slug}`;
  const page = await browser.newPage();

  // What the browser itself did with the clip's URL, as playwright sees it.
  const requests = [];
  page.on("request", async (r) => {
    if (r.url() !== src) return;
    const q = { r, at: Date.now() - started, range: undefined, end: null };
    requests.push(q);
    q.range = (await r.allHeaders().catch(() => ({}))).range;
  });
  const entry = (r) => requests.find((q) => q.r === r);
  page.on("response", (res) => {
    const q = entry(res.request());
    if (q) Object.assign(q, { status: res.status(), contentRange: res.headers()["content-range"] });
  });
  page.on("requestfinished", (r) => entry(r) && (entry(r).end = "finished"));
  page.on("requestfailed", (r) => entry(r) && (entry(r).end = r.failure()?.errorText ?? "failed"));

  await page.goto(`${stack.base}/`);
  await page.evaluate(installPlayer, { src, started });
  const canPlay = await page.evaluate(() => window.player.video.canPlayType('video/mp4; codecs="avc1.42E01F, mp4a.40.2"'));
  assert.ok(canPlay, `this Chromium cannot play H.264/AAC MP4 (canPlayType: "${canPlay}")`);

  let played;
  try {
    played = await play(page);
  } catch (e) {
    await sleep(1000); // let the Worker record and settle what it had in flight
    const { attempts, clips } = await show("P-PLAY");
    const events = await page.evaluate(() => window.player.events).catch(() => []);
    const refused = attempts.filter((a) => a.outcome !== "granted").map((a) => `${a.range_header}: ${a.status} ${a.outcome}`);
    const charged = clips[0] ? `${clips[0].granted_bytes} bytes charged (${(clips[0].granted_bytes / clip.size).toFixed(3)} clips)` : "nothing charged";
    assert.fail(`playback failed: ${e.message}\n${charged}; refused: ${refused.join(", ") || "none"}\n` +
      describe(events, requests, attempts));
  }
  assert.ok(Math.abs(played.duration - clip.seconds) < 1, `duration ${played.duration} s, made ${clip.seconds} s`);
  if (played.fallback) console.log(`player: playback stalled before the end (${played.fallback}); sought to the end instead`);
  const events = await page.evaluate(() => window.player.events);

  // After `ended` the player is paused: what does the browser still hold open?
  await sleep(2000);
  const openInBrowser = requests.filter((q) => q.end === null).length;
  const openInLedger = (await show("P-PLAY")).attempts.filter((a) => a.reserved_bytes != null && a.settled_at == null).length;
  await page.close();

  const detail = await settled("P-PLAY");
  const { attempts } = detail;
  const trace = describe(events, requests, attempts);

  // The requests were the browser's own, with ranges, and more than one.
  assert.ok(attempts.length > 1, `more than one request expected\n${trace}`);
  for (const a of attempts) {
    assert.equal(a.method, "GET", trace);
    assert.match(a.user_agent ?? "", /Chrome\/\d+/, `the browser's request\n${trace}`);
    assert.match(a.range_header ?? "", /^bytes=\d+-\d*$/, `a Range request\n${trace}`);
    assert.equal(a.outcome, "granted", `nothing refused\n${trace}`);
    assert.equal(a.status, 206, trace);
  }

  // At most one download charged, and the charges add up.
  const usage = detail.clips.find((c) => c.clip_slug === withheld.slug);
  assert.ok(usage, JSON.stringify(detail.clips));
  assert.equal(usage.clip_size, clip.size, "the Worker served the clip made for this test");
  const charged = attempts.reduce((sum, a) => sum + a.charged_bytes, 0);
  assert.equal(charged, usage.granted_bytes, `the attempts' charges add up to the order's\n${trace}`);
  assert.deepEqual([usage.downloads_used, usage.downloads_left], [1, 0], `one download used\n${trace}`);
  assert.ok(usage.granted_bytes < 2 * clip.size, `${usage.granted_bytes} bytes charged, two clips' worth\n${trace}`);

  const aborted = requests.filter((q) => q.end && q.end !== "finished").length;
  console.log(`player: ${attempts.length} requests (${requests.length} seen by the browser, ${aborted} aborted; ` +
    `${openInBrowser} still open and ${openInLedger} unsettled 2 s after 'ended'), ` +
    `${usage.granted_bytes} bytes charged (${mib(usage.granted_bytes)}) for a ${clip.size}-byte clip (${mib(clip.size)}): ` +
    `ratio ${(usage.granted_bytes / clip.size).toFixed(3)}; ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s${played.fallback ? "; ended by a seek to the end" : ""}`);
  if (process.env.CLIPSTORE_PLAYER_TRACE) console.log(trace);
});
