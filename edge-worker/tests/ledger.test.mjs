// The download ledger and allowance in workerd with a real local D1
// (docs/downloads.md): exact enforcement under concurrency, ranges and seeks
// counted as one download, the open-ended-range tricks, HEAD, revoke, reset,
// reissue, the never-fully-downloaded report, CSV export, admin auth, and a
// D1 failure mid-download whose records are recovered from R2.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { beyond, charge, creditPool, leastCharge, unit } from "./support/allowance.mjs";
import {
  ADMIN_TOKEN, REPO, SIGNING_KEY, admin, catalog, curl, mint, rawRequest, run, sha256File, startStack, toolEnv, vectors,
} from "./support/stack.mjs";

const { main, other, withheld } = catalog();
const S = main.size;
const mainBytes = fs.readFileSync(main.file);
let stack;
let work;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-ledger-"));
  stack = await startStack({ seed: [main, other] });
});

after(async () => {
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const clipUrl = (link, clip = main) => `${link.url}/${clip.slug}`;
const get = (url, headers = [], extra = []) =>
  curl(url, { args: [...headers.flatMap((h) => ["-H", h]), ...extra] });
const page = async (link) => (await curl(link.url)).body.toString("utf8");
const show = async (order) => {
  const res = await admin(stack, "GET", `/admin/orders/${encodeURIComponent(order)}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};
/** The order once all its `n` attempts are recorded and every granted one settled. */
async function settled(order, n) {
  for (let i = 0; ; i++) {
    const detail = await show(order);
    const open = detail.attempts.filter((a) => a.reserved_bytes != null && a.settled_at == null);
    if (detail.attempts.length >= n && open.length === 0) return detail;
    if (i > 300) assert.fail(`${order}: ${detail.attempts.length} attempts, ${open.length} not settled`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const granted = (detail, clip = main) => detail.clips.find((c) => c.clip_slug === clip.slug)?.granted_bytes ?? 0;

function siteGen(args, env = {}) {
  const [cmd, pre] = process.env.SITE_GEN_BIN
    ? [process.env.SITE_GEN_BIN, []]
    : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
  return run(cmd, [...pre, ...args], {
    cwd: REPO,
    env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN, CLIPSTORE_SIGNING_KEY: SIGNING_KEY, ...env },
  });
}

describe("allowance", () => {
  it("64 concurrent full requests against allowance 3 -> exactly 3 complete bodies, the rest refused or cut off", async () => {
    const link = await mint(stack, { order: "L-CONC", clips: [main.slug], downloads: 3 });
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => {
        const output = path.join(work, `conc-${i}`);
        // A request reserved in steps that the allowance then cuts off
        // ends short: curl exits non-zero.
        return curl(clipUrl(link), { output }).then((r) => ({ ...r, output }), () => ({ status: "cut off", output }));
      }),
    );
    const complete = results.filter((r) => r.status === 200 && fs.existsSync(r.output) && sha256File(r.output) === sha256File(main.file));
    assert.equal(complete.length, 3, results.map((r) => r.status).join(" "));
    // 403 once the three are done; 409 while they still hold the rest.
    const refused = results.filter((r) => r.status === 403 || r.status === 409);
    assert.equal(refused.length + results.filter((r) => !refused.includes(r) && !complete.includes(r)).length, 61);
    assert.ok(refused.length > 0, "most are refused before their first byte");
    const page403 = fs.readFileSync((refused.find((r) => r.status === 403) ?? refused[0]).output, "utf8");
    assert.match(page403, /used all downloads|already downloading/);
    assert.match(page403, /mailto:/);
    // Its link to the order page, relative to the clip's address, is the order page.
    const href = /<a href="([^"]*)">open your order's download page<\/a>/.exec(page403)?.[1];
    assert.ok(href, page403);
    const orderPage = await curl(new URL(href, clipUrl(link)).href);
    assert.equal(orderPage.status, 200);
    assert.match(orderPage.body.toString(), /0 of 3 downloads left|up to 3 downloads per clip/);

    // Every request that got bytes has its row; refusals are counted, and
    // only the first 5 a minute of one order's kind get a row (refusals.rs).
    const detail = await settled("L-CONC", 64 - refused.length);
    const charged = detail.attempts.reduce((sum, a) => sum + a.charged_bytes, 0);
    assert.equal(granted(detail), charged, "the ledger's bytes add up");
    assert.ok(charged < 4 * S, `${charged} bytes charged, less than 4 clips`);
    assert.equal(detail.attempts.filter((a) => a.outcome === "granted" && a.completed === 1).length, 3);
    assert.equal(detail.attempts.filter((a) => a.outcome === "granted").length, 64 - refused.length);
    const refusalRows = detail.attempts.filter((a) => ["allowance_used_up", "download_in_progress"].includes(a.outcome)).length;
    assert.ok(refusalRows >= 1 && refusalRows <= 10, `${refusalRows} refusal rows for ${refused.length} refusals`);
    assert.match(await page(link), /No downloads left/);
    assert.match(await page(link), /0 of 3 downloads left/);
  });

  it("a download manager's 16 ranges consume one download", async () => {
    const link = await mint(stack, { order: "L-16", clips: [main.slug], downloads: 3 });
    const part = Math.ceil(S / 16);
    const parts = await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const end = Math.min(S, (i + 1) * part) - 1;
        return get(clipUrl(link), [`Range: bytes=${i * part}-${end}`]);
      }),
    );
    for (const p of parts) assert.equal(p.status, 206);
    assert.ok(Buffer.concat(parts.map((p) => p.body)).equals(mainBytes));
    assert.equal(granted(await show("L-16")), S);
    assert.match(await page(link), /2 of 3 downloads left/);
  });

  it("a video player's seeks (Sec-Fetch-Dest: video) consume one download", async () => {
    const link = await mint(stack, { order: "L-SEEK", clips: [main.slug], downloads: 3 });
    const video = ["Sec-Fetch-Dest: video", "Accept-Encoding: identity;q=1, *;q=0"];
    // Play from the start, seek forward, play to the end, seek back, stop.
    // Each chunk is charged what it sent, a short last one the least charge.
    let charged = 0;
    for (const start of [0, 65536, 200000, 265536, 131072, 196608]) {
      if (start >= S) continue;
      const res = await get(clipUrl(link), [...video, `Range: bytes=${start}-`]);
      assert.equal(res.status, 206);
      const [, a, b, total] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers["content-range"]).map(Number);
      assert.equal(a, start);
      assert.equal(total, S);
      assert.ok(b - a + 1 <= Math.max(65536, Math.floor(S / 16)), "a bounded chunk");
      assert.ok(res.body.equals(mainBytes.subarray(a, b + 1)));
      charged += charge(res.body.length, S, 3);
    }
    assert.equal(granted(await show("L-SEEK")), charged);
    assert.match(await page(link), /2 of 3 downloads left/);

    // The same requests from a download tool get whole answers: each is
    // charged in full, less what a later one asked for again (a resume
    // credit, within the pool).
    const tool = await mint(stack, { order: "L-SEEK-TOOL", clips: [main.slug], downloads: 3 });
    for (const start of [0, 65536, 200000]) await get(clipUrl(tool), [`Range: bytes=${start}-`]);
    const toolDetail = await show("L-SEEK-TOOL");
    const credited = toolDetail.attempts.reduce((sum, a) => sum + (a.credited_bytes ?? 0), 0);
    assert.equal(granted(toolDetail) + credited, 3 * S - 265536);
    assert.ok(credited > 0 && credited <= creditPool(S, 3), `credits ${credited} within the pool`);
  });

  it("bytes=1- and repeated bytes=0- never give more than N downloads' worth", async () => {
    const link = await mint(stack, { order: "L-TRICK", clips: [main.slug], downloads: 3 });
    let received = 0;
    let charged = 0;
    const statuses = [];
    for (let i = 0; i < 12; i++) {
      const res = await get(clipUrl(link), [`Range: bytes=${i % 2}-`]);
      statuses.push(res.status);
      if (res.status === 206) received += res.body.length;
      if (res.status === 206) charged += charge(res.body.length, S, 3);
    }
    assert.ok(received < 4 * S, `received ${received} bytes, less than 4 copies of ${S}`);
    assert.ok(received >= 3 * S - 3, "three copies' worth was allowed");
    assert.deepEqual(statuses.slice(-6), [403, 403, 403, 403, 403, 403], statuses.join(" "));
    for (const h of ["Range: bytes=0-", "Range: bytes=1-", "Range: bytes=0-0,1-"]) {
      assert.equal((await get(clipUrl(link), [h])).status, 403, h);
    }
    // What is left of the slack can still be fetched in small pieces, but
    // never a whole clip more: the total stays three quarters of a clip
    // past 3.
    for (let i = 0; i < 1000; i++) {
      const res = await get(clipUrl(link), [`Range: bytes=-50000`]);
      if (res.status !== 206) break;
      received += res.body.length;
      charged += charge(res.body.length, S, 3);
    }
    assert.ok(received <= 3 * S + beyond(S), `received ${received} bytes, more than 3¾ copies of ${S}`);
    // Every byte received is charged (a piece shorter than the least charge
    // as much), or was given back by a resume credit (bytes=1- starts inside
    // the bytes=0- before it), within the pool.
    const detail = await show("L-TRICK");
    const credited = detail.attempts.reduce((sum, a) => sum + (a.credited_bytes ?? 0), 0);
    assert.equal(granted(detail) + credited, charged);
    assert.ok(credited <= creditPool(S, 3), `credits ${credited} within the pool`);
  });

  it("after the last download, curl -C - with the clip's first bytes is refused: never one copy more", async () => {
    // A review found a 5-download link of the sample clip sending the
    // rest of it to `curl -C -` with a one-byte file once the five were
    // done: the slack and the resume credits added up to all but one byte.
    const link = await mint(stack, { order: "L-RESUME-AFTER", clips: [main.slug], downloads: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await get(clipUrl(link))).status, 200, `download ${i + 1}`);
    // Every MP4 begins with a few bytes anyone can guess; a quarter of a
    // clip cannot be. curl -C - asks for the rest from the file's length
    // on, and gives up on an answer that is not a 206 (exit 33).
    const out = path.join(work, "resume-after.mp4");
    fs.writeFileSync(out, mainBytes.subarray(0, 8));
    const resumed = await run("curl", ["-sS", "-C", "-", "-o", out, clipUrl(link)]).catch((e) => e);
    assert.equal(resumed.code, 33, `curl -C - was refused: ${resumed.stderr ?? resumed.stdout}`);
    assert.equal(fs.statSync(out).size, 8, "nothing was added to the file");
    for (const have of [1, 8, 4096, Math.ceil(S / 4) - 1]) {
      assert.equal((await get(clipUrl(link), [`Range: bytes=${have}-`])).status, 403, `a resume from byte ${have}`);
    }
    // Whatever is asked, at most three quarters of the clip is sent once
    // more, and every byte of it is charged or was given back (rule 5).
    let more = 0;
    let charged = 3 * S;
    for (const start of [Math.ceil(S / 4), S >> 1, S - 65536, S - 1000, S - 1]) {
      const res = await get(clipUrl(link), [`Range: bytes=${start}-`]);
      if (res.status === 206) more += res.body.length;
      if (res.status === 206) charged += charge(res.body.length, S, 3);
      else assert.equal(res.status, 403);
    }
    assert.ok(more <= beyond(S), `${more} bytes sent after the three downloads`);
    const detail = await settled("L-RESUME-AFTER", 3);
    const credited = detail.attempts.reduce((sum, a) => sum + (a.credited_bytes ?? 0), 0);
    assert.equal(granted(detail) + credited, charged);
    assert.ok(credited <= creditPool(S, 3), `credits ${credited} within the pool`);
    assert.equal(detail.clips[0].downloads_left, 0);
  });

  it("HEAD, 304 and 416 are not charged, and not each given a row", async () => {
    const link = await mint(stack, { order: "L-HEAD", clips: [main.slug], downloads: 1 });
    for (let i = 0; i < 5; i++) assert.equal((await get(clipUrl(link), [], ["-I"])).status, 200);
    const etag = (await get(clipUrl(link), [], ["-I"])).headers.etag;
    assert.equal((await get(clipUrl(link), [`If-None-Match: ${etag}`])).status, 304);
    assert.equal((await get(clipUrl(link), [`Range: bytes=${S}-`])).status, 416);
    assert.equal((await get(clipUrl(link))).status, 200);
    assert.equal((await get(clipUrl(link))).status, 403);
    const detail = await show("L-HEAD");
    assert.equal(granted(detail), S);
    // Eight answers without a body: counted, the first five a minute (per
    // order, per isolate) with a row, as refusals are: a link looped with
    // HEAD cost a D1 row each.
    const bodiless = detail.attempts.filter((a) => a.outcome === "no_body");
    assert.ok(bodiless.length >= 1 && bodiless.length <= 5, `${bodiless.length} rows for 8 answers without a body`);
    for (const a of bodiless) assert.equal(a.charged_bytes, 0);
    assert.ok(bodiless.some((a) => a.method === "HEAD"));
  });

  it("a link asked for one byte at a time is refused after a bounded number of rows, not one row per byte", async () => {
    // Each granted request writes a ledger row. Charged one byte for
    // `bytes=0-0`, a 1-download link wrote a row per byte of its allowance
    // (558,838 rows for the sample clip); each is charged the least charge
    // (a 1024th of it), the last the budget's remaining bytes: 1,408 rows.
    const link = await mint(stack, { order: "L-BYTES", clips: [main.slug], downloads: 1 });
    const least = leastCharge(S, 1);
    const statuses = [];
    for (let i = 0; i < 3000 && statuses.at(-1) !== 403; i++) {
      const res = await fetch(clipUrl(link), { headers: { range: `bytes=${i}-${i}` } });
      const body = Buffer.from(await res.arrayBuffer());
      statuses.push(res.status);
      if (res.status === 206) assert.ok(body.equals(mainBytes.subarray(i, i + 1)), `byte ${i}`);
    }
    const served = statuses.filter((s) => s === 206).length;
    assert.equal(statuses.at(-1), 403, `still served after ${statuses.length} one-byte requests`);
    assert.equal(served, Math.ceil(unit(S, 1) / least), `${served} served of ${statuses.length}`);
    const detail = await settled("L-BYTES", served);
    assert.equal(granted(detail), unit(S, 1), "the whole budget");
    assert.ok(detail.attempts.length <= served + 5, `${detail.attempts.length} rows`);
    assert.equal(detail.clips[0].downloads_left, 0);
    // The owner's reset gives the download back: the link then sends the clip whole.
    assert.equal((await admin(stack, "POST", "/admin/orders/L-BYTES/reset", {})).status, 200);
    const whole = await get(clipUrl(link));
    assert.equal(whole.status, 200);
    assert.ok(whole.body.equals(mainBytes));
  });

  it("the budget's last bytes, fewer than the least charge, still serve a resume's last piece", async () => {
    // Refused, a download cut off at 99.9 % on a tight link could not be
    // finished, though the order page offered its resume.
    const link = await mint(stack, { order: "L-TAIL", clips: [main.slug], downloads: 1 });
    const left = leastCharge(S, 1) - 291;
    // Two pieces that leave `left` bytes of the budget, and end before the
    // last `left` bytes of the clip (so no resume credit comes into it).
    const first = S - left - 18;
    assert.equal((await get(clipUrl(link), [`Range: bytes=0-${first - 1}`])).status, 206);
    const second = unit(S, 1) - first - left;
    assert.equal((await get(clipUrl(link), [`Range: bytes=0-${second - 1}`])).status, 206);
    const tail = await get(clipUrl(link), [`Range: bytes=${S - left}-`]);
    assert.equal(tail.status, 206, "the last piece");
    assert.ok(tail.body.equals(mainBytes.subarray(S - left)));
    assert.equal((await get(clipUrl(link), ["Range: bytes=0-0"])).status, 403, "then nothing is left");
    const detail = await settled("L-TAIL", 3);
    assert.equal(granted(detail), unit(S, 1));
  });
});

describe("owner operations", () => {
  it("reset gives downloads back, revoke stops the links at once, reissue prints a working link", async () => {
    const old = await mint(stack, { order: "L-OPS", clips: [main.slug], downloads: 1, now: Math.floor(Date.now() / 1000) - 120 });
    assert.equal((await get(clipUrl(old))).status, 200);
    assert.equal((await get(clipUrl(old))).status, 403);

    await siteGen(["orders", "--worker-url", stack.base, "reset", "L-OPS"]);
    assert.equal((await get(clipUrl(old))).status, 200);

    await siteGen(["orders", "--worker-url", stack.base, "revoke", "L-OPS"]);
    const revoked = await get(clipUrl(old));
    assert.equal(revoked.status, 403);
    assert.match(revoked.body.toString("utf8"), /no longer valid/);
    assert.equal((await curl(old.url)).status, 403, "the order page too");
    assert.equal((await get(clipUrl(old), [], ["-I"])).status, 403, "and HEAD");

    await siteGen(["orders", "--worker-url", stack.base, "reset", "L-OPS"]);
    const { stdout } = await siteGen(["orders", "--worker-url", stack.base, "--root", REPO, "reissue", "L-OPS",
      "--expires", "2d", "--base-url", `${stack.base}/download`]);
    const fresh = stdout.trim();
    assert.ok(fresh.startsWith(`${stack.base}/download/`), stdout);
    assert.equal((await get(`${fresh}/${main.slug}`)).status, 200, "the reissued link works");
    assert.equal((await get(clipUrl(old))).status, 403, "the old link stays dead");

    // The owner's local key is not the Worker's (mistyped, or rotated since:
    // same key id, other secret): the link printed is the Worker's, and works.
    const stranger = vectors.keys.find((k) => !k.in_keyring && k.env.startsWith(SIGNING_KEY.split(":")[0]));
    assert.ok(stranger, "a key of the same id outside the Worker's keyring");
    await siteGen(["orders", "--worker-url", stack.base, "reset", "L-OPS"]);
    const again = await siteGen(["orders", "--worker-url", stack.base, "--root", REPO, "reissue", "L-OPS",
      "--expires", "2d", "--base-url", `${stack.base}/download`], { CLIPSTORE_SIGNING_KEY: stranger.env });
    const second = again.stdout.trim();
    assert.equal((await get(`${second}/${main.slug}`)).status, 200, "the link printed works");
    assert.equal((await get(`${fresh}/${main.slug}`)).status, 403, "the first reissue's link is replaced");

    // Two reissues a few milliseconds apart (links carry whole seconds): the
    // earlier one's link is stopped too, and the later one's works at once.
    const [third, fourth] = [await admin(stack, "POST", "/admin/orders/L-OPS/reissue"),
      await admin(stack, "POST", "/admin/orders/L-OPS/reissue")];
    assert.equal(third.status, 200, JSON.stringify(third.body));
    assert.equal(fourth.body.order.not_before, third.body.order.not_before + 1, JSON.stringify(fourth.body));
    assert.equal((await get(`${third.body.link}/${main.slug}`, ["Range: bytes=0-99"])).status, 403, "the earlier one is replaced");
    assert.equal((await get(`${fourth.body.link}/${main.slug}`, ["Range: bytes=0-99"])).status, 206, "the later one works");

    const detail = await show("L-OPS");
    assert.deepEqual(detail.events.map((e) => e.kind),
      ["reset", "revoke", "reset", "reissue", "reset", "reissue", "reissue", "reissue"]);
    assert.ok(detail.links.length >= 2, "both links recorded");

    // A mistyped id is refused by site-gen, and nothing is written for it.
    const typo = await siteGen(["orders", "--worker-url", stack.base, "revoke", "L-OPZ"]).catch((e) => e);
    assert.equal(typo.code, 1, typo.stderr);
    assert.match(typo.stderr, /no order L-OPZ in the ledger/);
    assert.equal((await admin(stack, "GET", "/admin/orders/L-OPZ")).status, 404, "no order created for the typo");
    assert.equal((await get(`${fourth.body.link}/${main.slug}`, ["Range: bytes=0-99"])).status, 206, "the real order still works");
  });

  it("unrevoke undoes the owner's revoke, of an order or one clip, with the links already sent; not a refund's", async () => {
    // A clip revoked by mistake could only be given back as a new order by
    // hand: the customer's link said "refunded" for good.
    const link = await mint(stack, { order: "L-UNDO", clips: [main.slug, other.slug], downloads: 2 });
    const orders = (...args) => siteGen(["orders", "--worker-url", stack.base, ...args]);
    assert.equal((await get(clipUrl(link, other), ["Range: bytes=0-99"])).status, 206, "opened: the ledger has the order");
    await orders("revoke", "L-UNDO", "--clip", other.slug);
    assert.equal((await get(clipUrl(link, other))).status, 403);
    // The owner's revoke, not a refund: the customer is not told "refunded".
    const refusal = (await curl(clipUrl(link, other))).body.toString();
    assert.match(refusal, /This download link is no longer valid/);
    assert.doesNotMatch(refusal, /refunded/);
    const orderPage = (await curl(link.url)).body.toString();
    assert.match(orderPage, /Withdrawn by the shop/);
    assert.doesNotMatch(orderPage, /Refunded|refunded/);
    assert.equal((await get(clipUrl(link))).status, 200, "the other clip works");
    const notRevoked = await orders("unrevoke", "L-UNDO", "--clip", main.slug).catch((e) => e);
    assert.match(String(notRevoked.stderr), new RegExp(`clip ${main.slug} of order L-UNDO is not revoked: nothing was restored`));
    const clip = await orders("unrevoke", "L-UNDO", "--clip", other.slug);
    assert.match(clip.stdout, new RegExp(`Order L-UNDO: clip ${other.slug} downloads again, with the links the customer already has`));
    assert.equal((await get(clipUrl(link, other))).status, 200, "the same link serves it again");

    await orders("revoke", "L-UNDO");
    assert.equal((await curl(link.url)).status, 403);
    const whole = await orders("unrevoke", "L-UNDO");
    assert.match(whole.stdout, /Order L-UNDO: its links work again/);
    assert.equal((await curl(link.url)).status, 200, "the order page");
    assert.equal((await get(clipUrl(link))).status, 200, "and its downloads (the second of two)");
    const events = (await show("L-UNDO")).events.map((e) => e.kind).filter((k) => /revoke/.test(k));
    assert.deepEqual(events.sort(), ["revoke", "revoke", "unrevoke", "unrevoke"], "the order's history says so");

    // Revoked for a refund: not the owner's revoke to undo here.
    await stack.wrangler(["d1", "execute", "DB", "--command",
      "UPDATE orders SET revoked_at = 1, revoked_reason = 'refunded' WHERE order_id = 'L-UNDO'"]);
    const refunded = await orders("unrevoke", "L-UNDO").catch((e) => e);
    assert.match(String(refunded.stderr), /was revoked because its payment was refunded: `unrevoke` undoes only your own `revoke`/);
    assert.match(String(refunded.stderr), /reissue L-UNDO --despite-refund/);
    assert.equal((await curl(link.url)).status, 403, "still refunded");
  });

  // The scale review: an order of 101 clips was made, no link could open
  // it, and every resend and reissue answered "the ledger is unavailable".
  it("an order of more clips than one link covers: refused when made; one in the ledger already is said as such", async () => {
    const many = [main.slug, ...Array.from({ length: 64 }, (_, i) => `extra-clip-${i}`)];
    const made = await admin(stack, "POST", "/admin/orders", { body: { order_id: "L-SIXTY-FIVE", clips: many, downloads: 1 } });
    assert.equal(made.status, 400, JSON.stringify(made.body));
    assert.match(made.body.error, /one order \(one link\) covers at most 64 clips, not 65: make two orders/);
    await stack.wrangler(["d1", "execute", "DB", "--command",
      `INSERT INTO orders (order_id, clips, allowance, source, created_at) VALUES ('L-SIXTY-FIVE', '${JSON.stringify(many.sort())}', 1, 'token', 1)`]);
    const resent = await admin(stack, "POST", "/admin/orders/L-SIXTY-FIVE/resend?to=big%40example.com");
    assert.equal(resent.status, 409, JSON.stringify(resent.body));
    assert.match(resent.body.error, /^signing the link: .*64/, "why, not 'the ledger is unavailable'");
  });

  it("a resend of an order whose links expired is refused with what to do instead", async () => {
    const now = Math.floor(Date.now() / 1000);
    // Issued an hour ago, valid for an hour and 6 s: expires 6 s from now.
    const link = await mint(stack, { order: "L-EXP", clips: [main.slug], downloads: 2, now: now - 3600, expires: "3606s" });
    assert.equal((await get(clipUrl(link), ["Range: bytes=0-99"])).status, 206, "the order is in the ledger");
    const early = await admin(stack, "POST", "/admin/orders/L-EXP/resend?to=exp%40example.com");
    assert.equal(early.status, 200, JSON.stringify(early.body));
    // "I never got the e-mail": the owner finds it by order or by address,
    // the order whole (the subject was cut to 48 characters before it).
    const outbox = (...args) => siteGen(["orders", "--worker-url", stack.base, "outbox", ...args]);
    for (const filter of [["--order", "L-EXP"], ["--email", "EXP@example.com "]]) {
      const { stdout } = await outbox(...filter);
      const rows = stdout.trim().split("\n").slice(1).filter((l) => !l.startsWith(" "));
      assert.equal(rows.length, 1, stdout);
      assert.match(rows[0], /^\S+ \S+ +\S+ +\d+ resend +L-EXP +exp@example\.com +http:\/\/127\.0\.0\.1:\d+\/download\//, stdout);
    }
    const none = await outbox("--email", "nobody@example.com");
    assert.match(none.stdout, /^No e-mail to nobody@example\.com among the newest 10000 in the outbox\./);
    const expiresAt = now + 6;
    await new Promise((r) => setTimeout(r, Math.max(0, (expiresAt + 1) * 1000 - Date.now())));
    const late = await siteGen(["orders", "--worker-url", stack.base, "resend", "L-EXP", "--to", "exp@example.com"])
      .catch((e) => e);
    assert.equal(late.code, 1, late.stderr);
    assert.match(late.stderr, /409: order L-EXP expired on .* UTC: reissue it/);
    assert.match(late.stderr, /a resent link would share its expiry: `site-gen orders reissue L-EXP` prints a new link/);

    // What it advises: a reissue prints a working link and moves the order's
    // expiry, so a resend works again and mails a link that works.
    const reissued = await siteGen(["orders", "--worker-url", stack.base, "--root", REPO, "reissue", "L-EXP",
      "--expires", "2d", "--base-url", `${stack.base}/download`]);
    const fresh = reissued.stdout.trim();
    assert.equal((await get(`${fresh}/${main.slug}`, ["Range: bytes=0-99"])).status, 206, "the reissued link works");
    const order = (await show("L-EXP")).order;
    assert.ok(Math.abs(order.expires_at - (Math.floor(Date.now() / 1000) + 2 * 86400)) < 60, JSON.stringify(order));
    const again = await admin(stack, "POST", "/admin/orders/L-EXP/resend?to=exp%40example.com");
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal((await get(`${again.body.link}/${main.slug}`, ["Range: bytes=0-99"])).status, 206, "the resent link works");
  });

  it("the never-fully-downloaded report is right on a seeded history; window reset", async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const since = Math.floor(Date.now() / 1000);
    const full = await mint(stack, { order: "R-FULL", clips: [main.slug], downloads: 2 });
    assert.equal((await get(clipUrl(full))).status, 200);
    const part = await mint(stack, { order: "R-PART", clips: [main.slug, other.slug], downloads: 2 });
    assert.equal((await get(clipUrl(part))).status, 200);
    assert.equal((await get(clipUrl(part, other), ["Range: bytes=0-999"])).status, 206);
    const seen = await mint(stack, { order: "R-SEEN", clips: [main.slug], downloads: 2 });
    assert.equal((await curl(seen.url)).status, 200, "order page viewed, nothing downloaded");
    const created = await admin(stack, "POST", "/admin/orders", {
      body: { order_id: "R-NONE", clips: [main.slug], downloads: 2 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await admin(stack, "POST", "/admin/orders", { body: { order_id: "R-NONE", clips: [main.slug], downloads: 1 } })).status, 409);
    assert.equal((await admin(stack, "POST", "/admin/orders", { body: { order_id: "R-EMPTY", clips: [], downloads: 1 } })).status, 400);
    // An id no link can carry: said so, not "the ledger is unavailable" (503).
    const spaced = await admin(stack, "POST", "/admin/orders", { body: { order_id: "R 2001", clips: [main.slug], downloads: 1, customer_email: "r@example.com" } });
    assert.equal(spaced.status, 400, JSON.stringify(spaced.body));
    assert.match(spaced.body.error, /printable ASCII characters without spaces/);
    // Granted in full, but the customer's connection broke off midway. The
    // clip must be larger than what socket buffers hold (the sample clips
    // are not), so the runtime cannot finish writing it: 40 MB under the
    // object key of the clip this stack did not seed.
    const big = path.join(work, "big.bin");
    fs.writeFileSync(big, Buffer.alloc(40 * 1024 * 1024, 7));
    await stack.wrangler(["r2", "object", "put", `clipstore-clips/${withheld.object_key}`, "--file", big,
      "--content-type", withheld.content_type]);
    const broken = await mint(stack, { order: "R-BROKEN", clips: [withheld.slug], downloads: 2 });
    const slow = spawn("curl", ["-sS", "--limit-rate", "1M", "-o", path.join(work, "broken.bin"), clipUrl(broken, withheld)],
      { stdio: "ignore" });
    const slowDone = new Promise((resolve) => slow.on("exit", resolve));
    // Break the download off only once bytes are flowing (a fixed delay is
    // too short when the machine is loaded), and well before its end.
    const partial = path.join(work, "broken.bin");
    for (let i = 0; i < 300 && !(fs.existsSync(partial) && fs.statSync(partial).size > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(fs.statSync(partial).size > 0, "the slow download started");
    slow.kill("SIGKILL");
    await slowDone;
    const rev = await mint(stack, { order: "R-REVOKED", clips: [main.slug], downloads: 2 });
    assert.equal((await curl(rev.url)).status, 200);
    assert.equal((await admin(stack, "POST", "/admin/orders/R-REVOKED/revoke")).status, 200);

    // Completions are written when the streams settle (waitUntil): poll.
    const expected = ["R-BROKEN", "R-NONE", "R-PART", "R-SEEN"];
    let ids;
    for (let i = 0; i < 300; i++) {
      const report = await admin(stack, "GET", `/admin/orders?filter=never-fully-downloaded&since=${since}`);
      assert.equal(report.status, 200);
      ids = report.body.orders.map((o) => o.order_id).sort();
      if (JSON.stringify(ids) === JSON.stringify(expected)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(ids, expected);
    const brokenOff = (await settled("R-BROKEN", 1)).attempts[0];
    assert.equal(brokenOff.completed, 0);
    assert.equal(brokenOff.reserved_bytes, 40 * 1024 * 1024);
    assert.ok(brokenOff.sent_bytes < 40 * 1024 * 1024, `charged only what was sent (${brokenOff.sent_bytes})`);
    assert.equal(granted(await show("R-BROKEN"), withheld), brokenOff.sent_bytes);
    const { stdout } = await siteGen(["orders", "--worker-url", stack.base, "never-downloaded", "--since", String(since)]);
    for (const id of expected) assert.ok(stdout.includes(id), stdout);
    assert.ok(!stdout.includes("R-FULL"));
    const empty = await admin(stack, "GET", `/admin/orders?filter=never-fully-downloaded&since=0&until=${since - 3600}`);
    assert.ok(!empty.body.orders.some((o) => o.order_id.startsWith("R-")));

    // Every order with an attempt in the window gets its downloads back.
    const reset = await siteGen(["orders", "--worker-url", stack.base, "reset",
      "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1)]);
    assert.match(reset.stdout, /Downloads given back to 3 order\(s\): R-BROKEN R-FULL R-PART/);
    assert.equal(granted(await show("R-FULL")), 0);
  });

  it("exports every attempt as CSV", async () => {
    // A User-Agent is anyone's to write: an escape sequence in it (OSC 52
    // sets the clipboard of the terminal that prints it) is written out.
    const link = await mint(stack, { order: "L-ESC", clips: [main.slug], downloads: 1 });
    const agent = "\u001b]52;c;ZWNobyBwd25lZAo=\u0007stranger\u001b[8m";
    const answer = await rawRequest(stack.base, "GET", new URL(`${link.url}/${main.slug}`).pathname,
      { "User-Agent": agent, Range: "bytes=0-1" });
    assert.match(answer.toString("latin1"), /^HTTP\/1\.1 206/);
    const shown = await siteGen(["orders", "--worker-url", stack.base, "show", "L-ESC"]);
    assert.ok(!shown.stdout.includes("\u001b"), "no escape reaches the terminal");
    const exported = await siteGen(["orders", "--worker-url", stack.base, "export", "--order", "L-ESC"]);
    assert.ok(!exported.stdout.includes("\u001b") && !exported.stdout.includes("\u0007"), exported.stdout);
    assert.ok(exported.stdout.includes("\\u{1b}]52;c;ZWNobyBwd25lZAo=\\u{7}stranger\\u{1b}[8m"), exported.stdout);

    const out = path.join(work, "attempts.csv");
    await siteGen(["orders", "--worker-url", stack.base, "export", "--out", out]);
    const lines = fs.readFileSync(out, "utf8").trimEnd().split("\r\n");
    assert.match(lines[0], /^id,attempt_id,at,at_utc,order_id,clip_slug,key_id,method,range_header,status,outcome,/);
    const all = await admin(stack, "GET", "/admin/attempts?limit=10000");
    assert.equal(lines.length - 1, all.body.attempts.length);
    assert.ok(lines.some((l) => l.includes(",L-CONC,") && l.includes(",allowance_used_up,")));
  });

  it("a flood of junk tokens costs a few D1 writes, not one each; every kind of refusal is capped", async () => {
    const before = (stack.log().match(/"event":"refusals_counted"/g) ?? []).length;
    const counted = async (code) => {
      const { stdout } = await stack.wrangler(["d1", "execute", "DB", "--json", "--command",
        `SELECT COALESCE(SUM(n), 0) AS n FROM refusal_minutes WHERE code = '${code}'`]);
      return JSON.parse(stdout)[0].results[0].n;
    };
    const countedBefore = await counted("malformed");
    const junk = async (name, count) => {
      for (let batch = 0; batch < count / 25; batch++) {
        const answers = await Promise.all(Array.from({ length: 25 }, (_, i) =>
          fetch(`${stack.base}/download/junk-${name}-${batch}-${i}/${main.slug}`).then(async (r) => (await r.arrayBuffer(), r.status))));
        for (const status of answers) assert.equal(status, 403);
      }
    };
    const flood = 250;
    await junk("flood", flood);
    const all = (await admin(stack, "GET", "/admin/attempts?limit=10000")).body.attempts;
    const rows = all.filter((a) => a.outcome === "malformed");
    // 20 a minute (40 if the flood crossed a minute), without claims.
    assert.ok(rows.length >= 1 && rows.length <= 40, `${rows.length} rows for ${flood} junk tokens`);
    for (const a of rows) assert.equal(a.order_id, null);
    const flushes = (stack.log().match(/"event":"refusals_counted"/g) ?? []).length - before;
    assert.ok(flushes >= 2 && flushes <= 4, `${flushes} count writes for ${flood} junk tokens`);
    // Every count is written once the isolate holds FLUSH_AT (100) of them or
    // a new minute begins, so at most 99 of the flood are still waiting.
    const n = (await counted("malformed")) - countedBefore;
    assert.ok(n > flood - 100, `${n} of ${flood} counted so far (the rest is written with the next batch)`);
    // 100 refusals more make the next batch due: then none of the flood is missing.
    await junk("more", 100);
    const total = (await counted("malformed")) - countedBefore;
    assert.ok(total >= flood && total <= flood + 100 + 99, `${total} counted after ${flood} + 100 junk tokens`);

    // A script hammering a used-up link: counted, a few rows.
    const used = await mint(stack, { order: "L-HAMMER", clips: [main.slug], downloads: 1 });
    assert.equal((await get(clipUrl(used))).status, 200);
    for (let i = 0; i < 30; i++) assert.equal((await get(clipUrl(used))).status, 403);
    const hammered = (await show("L-HAMMER")).attempts;
    const refusedRows = hammered.filter((a) => a.outcome === "allowance_used_up").length;
    assert.ok(refusedRows >= 1 && refusedRows <= 10, `${refusedRows} rows for 30 refusals`);
    assert.equal(hammered.filter((a) => a.outcome === "granted").length, 1);
  });

  it("admin endpoints refuse missing and wrong credentials", async () => {
    for (const [method, p] of [["GET", "/admin/orders"], ["GET", "/admin/orders/L-CONC"], ["POST", "/admin/orders/L-CONC/reset"],
      ["POST", "/admin/orders/L-CONC/revoke"], ["GET", "/admin/attempts"], ["POST", "/admin/ledger/merge"], ["GET", "/admin/nope"]]) {
      for (const token of [null, "wrong-token-0123456789", `${ADMIN_TOKEN}x`, ""]) {
        const res = await admin(stack, method, p, { token });
        assert.equal(res.status, 401, `${method} ${p} with ${token}`);
      }
    }
    const basic = await fetch(`${stack.base}/admin/orders`, { headers: { authorization: `Basic ${ADMIN_TOKEN}` } });
    assert.equal(basic.status, 401);
    assert.equal((await show("L-CONC")).order.order_id, "L-CONC", "the revoke above was refused");
    await assert.rejects(siteGen(["orders", "--worker-url", stack.base, "list"], { CLIPSTORE_ADMIN_TOKEN: "wrong-token-0123456789" }), /401/);
  });

  it("admin bodies over 64 KiB are refused before they are read", async () => {
    const res = await fetch(`${stack.base}/admin/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ order_id: "L-BIG", clips: [main.slug], downloads: 1, customer_ref: "x".repeat(70_000) }),
    });
    assert.equal(res.status, 413);
    const shown = await admin(stack, "GET", "/admin/orders/L-BIG");
    assert.equal(shown.status, 404, "nothing created");
  });
});

describe("when D1 fails", () => {
  it("a revoked link stays refused (the revocation list in R2); a valid one is served", async () => {
    const revokedLink = await mint(stack, { order: "L-REV", clips: [main.slug], downloads: 5 });
    const ok = await mint(stack, { order: "L-OFF-OK", clips: [main.slug], downloads: 5 });
    assert.equal((await admin(stack, "POST", "/admin/orders/L-REV/revoke")).status, 200);
    const list = await stack.wrangler(["r2", "object", "get", `${stack.bucket}/ledger-state/revocations.json`, "--pipe"]);
    assert.ok(JSON.parse(list.stdout).orders["L-REV"].revoked_at, list.stdout);
    const tables = ["order_clips", "download_attempts", "orders"];
    await stack.wrangler(["d1", "execute", "DB", "--command",
      tables.map((t) => `ALTER TABLE ${t} RENAME TO ${t}_offline;`).join(" ")]);
    try {
      assert.equal((await get(clipUrl(revokedLink))).status, 403, "GET");
      assert.equal((await get(clipUrl(revokedLink), [], ["-I"])).status, 403, "HEAD");
      assert.equal((await curl(revokedLink.url)).status, 403, "order page");
      const served = await get(clipUrl(ok), ["Range: bytes=0-999"]);
      assert.equal(served.status, 206, "a valid link is still served during the outage");
    } finally {
      await stack.wrangler(["d1", "execute", "DB", "--command",
        tables.map((t) => `ALTER TABLE ${t}_offline RENAME TO ${t};`).join(" ")]);
    }
  });

  it("serves a paying customer mid-download and recovers every record from R2", async () => {
    const link = await mint(stack, { order: "L-D1", clips: [main.slug], downloads: 5 });
    const out = path.join(work, "slow.bin");
    const slow = spawn("curl", ["-sS", "--limit-rate", "100K", "-o", out, "-w", "%{http_code}", clipUrl(link)]);
    let code = "";
    slow.stdout.on("data", (d) => (code += d));
    const slowDone = new Promise((resolve) => slow.on("exit", resolve));
    await new Promise((r) => setTimeout(r, 700));

    const tables = ["order_clips", "download_attempts", "orders"];
    await stack.wrangler(["d1", "execute", "DB", "--command",
      tables.map((t) => `ALTER TABLE ${t} RENAME TO ${t}_offline;`).join(" ")]);
    try {
      const full = await curl(clipUrl(link), { output: path.join(work, "during.bin") });
      assert.equal(full.status, 200);
      assert.equal(sha256File(path.join(work, "during.bin")), sha256File(main.file));
      const range = await get(clipUrl(link), ["Range: bytes=100-1099"]);
      assert.equal(range.status, 206);
      assert.ok(range.body.equals(mainBytes.subarray(100, 1100)));
      assert.equal((await get(clipUrl(link), [], ["-I"])).status, 200);
      const orderPage = await curl(link.url);
      assert.equal(orderPage.status, 200, "the order page still works");
      assert.match(orderPage.body.toString("utf8"), /up to 5 downloads/);
      assert.equal((await admin(stack, "GET", "/admin/orders")).status, 503);
    } finally {
      await stack.wrangler(["d1", "execute", "DB", "--command",
        tables.map((t) => `ALTER TABLE ${t}_offline RENAME TO ${t};`).join(" ")]);
    }
    await slowDone;
    assert.equal(code, "200");
    assert.equal(sha256File(out), sha256File(main.file), "the download in flight completed");

    // A record that cannot be read (sorted first) must not stop the others.
    const junk = path.join(work, "junk.json");
    fs.writeFileSync(junk, '{"attempt": "not a record"');
    await stack.wrangler(["r2", "object", "put", `${stack.bucket}/ledger-fallback/0000-junk.json`, "--file", junk]);
    const { stdout } = await siteGen(["orders", "--worker-url", stack.base, "merge"]);
    // The full GET and the range; the HEAD sent no body, so it was only logged.
    assert.match(stdout, /Merged 2 record/);
    const again = await admin(stack, "POST", "/admin/ledger/merge");
    assert.equal(again.body.merged, 0);
    const kept = await stack.wrangler(["r2", "object", "get", `${stack.bucket}/ledger-quarantine/0000-junk.json`, "--pipe"]);
    assert.equal(kept.stdout, '{"attempt": "not a record"', "set aside, bytes kept");
    assert.match(stack.log(), /"event":"ledger_fallback_set_aside"/);

    const detail = await show("L-D1");
    assert.equal(detail.attempts.length, 3, "none that sent bytes lost");
    assert.deepEqual(detail.attempts.map((a) => a.recorded_via).sort(), ["d1", "fallback", "fallback"]);
    // The range is charged the least charge, also while D1 failed.
    assert.equal(granted(detail), 2 * S + charge(1000, S, 5), "charges merged once");
    // Two whole downloads and a range: 3 of 5 whole downloads left.
    assert.match(await page(link), /3 of 5 downloads left/);
  });

  it("a backlog longer than one merge: each call takes a batch and says more are left; site-gen merges them all", async () => {
    // An invocation may make 1,000 D1 queries: a cron run that merged the
    // hundreds of records of a long outage at once failed part-way.
    const n = 230; // one batch is 200 (runtime/download.rs, MERGE_BATCH)
    const dir = path.join(work, "backlog");
    fs.mkdirSync(dir, { recursive: true });
    const entries = Array.from({ length: n }, (_, i) => {
      const id = `${"b".repeat(24)}${String(i).padStart(8, "0")}`;
      const at = 1_750_000_000_000 + i;
      const record = {
        attempt: { attempt_id: id, at, order_id: "L-BACKLOG", clip_slug: main.slug, key_id: "k", method: "GET",
          range_header: null, status: 403, outcome: "revoked", span_offset: null, span_length: null, charged_bytes: 0,
          client_ip: null, country: null, user_agent: "curl/8", recorded_via: "fallback" },
        order: null,
        charge: null,
      };
      const file = path.join(dir, `${i}.json`);
      fs.writeFileSync(file, JSON.stringify(record));
      return { key: `ledger-fallback/${String(at).padStart(15, "0")}-${id}.json`, file };
    });
    const list = path.join(dir, "list.json");
    fs.writeFileSync(list, JSON.stringify(entries));
    await stack.wrangler(["r2", "bulk", "put", stack.bucket, "--filename", list]);
    const first = await admin(stack, "POST", "/admin/ledger/merge");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual([first.body.merged, first.body.more], [200, true]);
    const { stdout } = await siteGen(["orders", "--worker-url", stack.base, "merge"]);
    assert.match(stdout, /Merged 30 record/);
    const again = await admin(stack, "POST", "/admin/ledger/merge");
    assert.deepEqual([again.body.merged, again.body.more], [0, false]);
    const rows = await stack.wrangler(["d1", "execute", "DB", "--json", "--command",
      "SELECT COUNT(*) AS n FROM download_attempts WHERE order_id = 'L-BACKLOG'"]);
    assert.equal(JSON.parse(rows.stdout)[0].results[0].n, n, "each record merged once");
  });
});

describe("an owner's order made by hand", () => {
  it("clips written in any order, with the customer's address: created, its link lists them sorted and works", async () => {
    // `site-gen orders create X --clip b --clip a --to …`: the link's
    // clips must be sorted to sign; unsorted, the order failed with 503.
    const [first, second] = [main.slug, other.slug].sort();
    const created = await admin(stack, "POST", "/admin/orders", {
      body: { order_id: "HAND-SORT", clips: [second, first], downloads: 1, customer_email: "sorted@example.com" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const shown = await admin(stack, "GET", "/admin/orders/HAND-SORT");
    assert.deepEqual(JSON.parse(shown.body.order.clips), [first, second]);
  });

  it("a link signed with a key the Worker lacks is not minted, and doctor warns until the keys agree", async () => {
    const mintWith = (key, order) => siteGen(["token", "mint", "--root", REPO, "--order", order, "--clip", main.slug,
      "--downloads", "1", "--expires", "2d", "--base-url", `${stack.base}/download`], { CLIPSTORE_SIGNING_KEY: key })
      .then((r) => ({ code: 0, ...r }), (e) => e);
    const doctor = (key) => siteGen(["doctor", "--root", REPO, "--worker-url", stack.base], { CLIPSTORE_SIGNING_KEY: key })
      .then((r) => ({ code: 0, ...r }), (e) => e);
    const [keyId] = SIGNING_KEY.split(":");
    // The key generated again under the Worker's key id, and a key of an
    // id the Worker does not have (retired from its keyring).
    const regenerated = vectors.keys.find((k) => !k.in_keyring && k.env.startsWith(`${keyId}:`));
    const retired = vectors.keys.find((k) => !k.in_keyring && !k.env.startsWith(`${keyId}:`));
    assert.ok(regenerated && retired, "the vectors have both kinds of key");

    const health = await admin(stack, "GET", "/admin/health");
    const workerKeys = health.body.signing_keys.map((k) => k.key_id);
    assert.ok(workerKeys.includes(keyId), JSON.stringify(health.body.signing_keys));
    assert.equal(health.body.signing_keys.find((k) => k.key_id === keyId).fingerprint,
      vectors.keys.find((k) => k.env === SIGNING_KEY).fingerprint, "the fingerprint is the vectors' (docs/token-format.md)");

    const same = await mintWith(regenerated.env, "HAND-KEY-1");
    assert.equal(same.code, 1, same.stderr);
    assert.equal(same.stdout, "", "no link printed");
    assert.match(same.stderr, new RegExp(`has a key ${keyId}, but with another secret .*"bad signature".*Nothing was minted`, "s"));
    const unknown = await mintWith(retired.env, "HAND-KEY-2");
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, new RegExp(`is not one the Worker at .* verifies \\(its TOKEN_KEYS: ${workerKeys.join(", ")}\\)`));
    assert.match(unknown.stderr, /"unknown key"/);
    // The Worker is a `wrangler dev` here: its keys are in .dev.vars, and no
    // deploy (the deployer review got `secret put` and "then deploy").
    assert.match(unknown.stderr, /`TOKEN_KEYS=…` in the Worker's .dev.vars \(then start `wrangler dev` again\)/);
    assert.doesNotMatch(unknown.stderr, /secret put|then deploy/);

    // The Worker's own key: minted, and the link downloads.
    const good = await mintWith(SIGNING_KEY, "HAND-KEY-3");
    assert.equal(good.code, 0, good.stderr);
    assert.doesNotMatch(good.stderr, /warning: could not check that the Worker/);
    assert.equal((await get(`${good.stdout.trim()}/${main.slug}`, ["Range: bytes=0-99"])).status, 206);

    const bad = await doctor(regenerated.env);
    assert.match(bad.stdout, new RegExp(`warn  minting key: the Worker has a key ${keyId}, but with another secret`));
    const fine = await doctor(SIGNING_KEY);
    assert.match(fine.stdout, new RegExp(`ok    minting key: links \`site-gen token mint\` signs with key ${keyId} \\(from CLIPSTORE_SIGNING_KEY\\) open on this Worker`));
    assert.doesNotMatch(fine.stdout, /minting key: the Worker has a key/);
    // This `wrangler dev` never ran its self-test: doctor says how to run it.
    assert.match(fine.stdout, /warn  ledger: D1 reachable; the scheduled self-test has not run yet/);
    assert.match(fine.stdout, new RegExp(`note: a \`wrangler dev\` runs the scheduled self-test only when asked: .*curl '${stack.base}/cdn-cgi/handler/scheduled`));
    // And what it gives runs it, on this stack without --test-scheduled.
    const ran = await fetch(`${stack.base}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(ran.status, 200, await ran.text());
    const after = await doctor(SIGNING_KEY);
    assert.doesNotMatch(after.stdout, /the scheduled self-test has not run yet/, after.stdout);
  });
});
