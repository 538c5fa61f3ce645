// A clip sold in several files under licence tiers (issue 13), end to end in
// workerd: the cart's item goes through the checkout (against the Stripe
// stand-in), the webhook's order and its version 2 token, to the download
// of exactly the file bought on a one-download link, the order page, the
// licence certificate, the e-mail and a reissue; older plain links keep
// serving the clip's main file. A variant of realistic size (tens of MB, made
// at test time) goes to a segmented download manager on a one-download link.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import Stripe from "stripe";

import { makeVideoClip, putClip } from "./support/bigclip.mjs";
import { startResendStandin } from "./support/resend-standin.mjs";
import {
  ADMIN_TOKEN, admin, catalog, curl, mint, paths, run, sha256File, SIGNING_KEY, startStack, STRIPE_WEBHOOK_SECRET, toolEnv,
} from "./support/stack.mjs";
import { startStripeStandin } from "./support/stripe-standin.mjs";

const API_KEY = "rk_test_51E2eRestrictedKey0123456789";
const API_VERSION = "2025-09-30.clover";
const { manifest } = catalog();
const licences = manifest.shop.licences ?? [];
const [slug, clip] = Object.entries(manifest.clips).find(([, c]) => Object.keys(c.variants ?? {}).length >= 2) ?? [];
const variantId = clip && Object.keys(clip.variants)[0];
const variant = clip && { ...clip.variants[variantId], file: path.join(paths.media, clip.variants[variantId].object_key) };
const plain = Object.entries(manifest.clips).find(([s, c]) => s !== slug && fs.existsSync(path.join(paths.media, c.object_key)));
const offline = new Stripe("sk_test_not_used_offline");
const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");
let counter = 0;
const unique = (prefix) => `${prefix}_test_${Date.now().toString(36)}${(counter++).toString(36)}E2e`;
let stack, stripeApi, resend, work;

/** The price of a file under a tier: clipstore_core's rule (round half up, then the surcharge). */
const priced = (price, tier) => Math.floor((price * tier.factor_permille + 500) / 1000) + tier.surcharge;

before(async () => {
  assert.ok(clip, "the sample shop has a clip with at least two other files ([[variants]])");
  assert.ok(licences.length >= 2, "the sample shop has two licence tiers");
  assert.ok(fs.existsSync(variant.file), `the variant's file is in sample-media (${variant.object_key})`);
  stripeApi = await startStripeStandin();
  resend = await startResendStandin();
  const seed = [
    { object_key: clip.object_key, file: path.join(paths.media, clip.object_key), content_type: clip.content_type },
    { object_key: variant.object_key, file: variant.file, content_type: variant.content_type },
    { object_key: plain[1].object_key, file: path.join(paths.media, plain[1].object_key), content_type: plain[1].content_type },
  ];
  stack = await startStack({
    seed,
    vars: {
      STRIPE_API_KEY: API_KEY,
      STRIPE_API_BASE: stripeApi.url,
      RESEND_API_KEY: "re_e2e_0123456789abcdef",
      MAIL_FROM: "Saltglass Footage <shop@mail.saltglass.example>",
      MAIL_API_BASE: resend.url,
      CHECKOUT_DOWNLOADS: "1",
    },
  });
});

after(async () => {
  await stack?.stop();
  await stripeApi?.close();
  await resend?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function postCheckout(pairs) {
  const res = await fetch(`${stack.base}/checkout`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(pairs).toString(),
    redirect: "manual",
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, location: res.headers.get("location"), text: await res.text() };
}

async function deliver(event) {
  const body = JSON.stringify(event, null, 2);
  const header = offline.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_WEBHOOK_SECRET });
  const res = await fetch(`${stack.base}/payments/stripe/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": header },
    body,
  });
  return { status: res.status, body: await res.json() };
}

describe("a clip in one of its files, under a licence tier", () => {
  const extended = () => licences.at(-1);
  let order, orderPath, certificatePath;

  it("checks out at the variant's price under the licence, the item in the session's metadata", async () => {
    const item = `${slug}:${variantId}:${extended().id}`;
    const res = await postCheckout([["clip", item], ["clip", plain[0]]]);
    assert.equal(res.status, 303, res.text);
    const sent = stripeApi.requests.at(-1);
    assert.equal(sent.status, 200, JSON.stringify(sent.response));
    const lines = sent.params.line_items;
    assert.equal(Number(lines[0].price_data.unit_amount), priced(variant.price, extended()));
    assert.equal(Number(lines[1].price_data.unit_amount), priced(manifest.clips[plain[0]].price, licences[0]));
    assert.equal(lines[0].price_data.product_data.name, `${clip.title} (${variant.label}, ${extended().name} licence)`);
    assert.equal(sent.params.metadata.clips, `${item},${plain[0]}::${licences[0].id}`);

    const session = sent.response;
    const paid = await deliver({
      id: unique("evt"), object: "event", api_version: API_VERSION, created: Math.floor(Date.now() / 1000),
      livemode: false, type: "checkout.session.completed",
      data: { object: { ...session, status: "complete", payment_status: "paid",
        customer_details: { email: "buyer.variants@example.com", name: "V" }, payment_intent: unique("pi") } },
    });
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    order = paid.body.order_id;
    const thanks = await curl(`${stack.base}/thanks?session_id=${session.id}`);
    const text = thanks.body.toString("utf8");
    // The link to keep is shown whole (origin included); its path is the order's.
    orderPath = /href="(?:http:\/\/[^"/]+)?(\/download\/[^"/]+)"/.exec(text)[1];
    assert.ok(text.includes(`${variant.label} · ${extended().name} licence`), "the order page names the file and licence");
    certificatePath = `${orderPath}/${slug}/licence`;
    assert.ok(text.includes(`href="${certificatePath}"`), "and links the certificate");
    assert.ok(text.includes(variant.sha256), "with the variant's SHA-256");
  });

  it("the one-download link serves the variant's bytes, once; never the main file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "variant-"));
    const out = path.join(dir, "clip.mp4");
    const first = await curl(`${stack.base}${orderPath}/${slug}`, { output: out });
    try {
      assert.equal(first.status, 200);
      assert.equal(first.headers["content-length"], String(variant.size));
      assert.equal(sha256(fs.readFileSync(out)), variant.sha256);
      assert.equal(sha256(fs.readFileSync(out)), sha256(fs.readFileSync(variant.file)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.match(String(first.headers["content-disposition"]), new RegExp(variant.file_name.replace(/[()]/g, ".")));
    const again = await curl(`${stack.base}${orderPath}/${slug}`);
    assert.equal(again.status, 403, "the allowance of one download is used");
  });

  it("the licence certificate names shop, order, clip, file, licence, date and SHA-256", async () => {
    const res = await curl(`${stack.base}${certificatePath}`);
    assert.equal(res.status, 200);
    const text = res.body.toString("utf8");
    for (const needle of [manifest.shop.title, order, clip.title, variant.label, variant.sha256,
      `${extended().name} licence`, `${manifest.shop.base_url}${extended().page}`, variant.file_name.replace(/&/g, "&amp;")]) {
      assert.ok(text.includes(needle), `${needle} on the certificate`);
    }
    assert.match(text, /<th scope="row">Date<\/th><td><time>\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC<\/time>/, "as the mail writes dates");
    assert.match(String(res.headers["content-security-policy"]), /frame-ancestors 'none'/);
    // A clip the order does not cover has no certificate.
    const other = Object.keys(manifest.clips).find((s) => s !== slug && s !== plain[0]);
    assert.equal((await curl(`${stack.base}${orderPath}/${other}/licence`)).status, 403);
  });

  it("the order e-mail names the file bought and its SHA-256", async () => {
    const deadline = Date.now() + 20_000;
    let mail;
    while (!mail && Date.now() < deadline) {
      mail = resend.sent.find((m) => m.email.to.includes("buyer.variants@example.com"));
      if (!mail) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(mail, "the order mail was sent");
    assert.ok(mail.email.text.includes(`SHA-256: ${variant.sha256}`), mail.email.text);
    assert.ok(mail.email.text.includes(`${clip.title} (${variant.label}, ${extended().name} licence)`), mail.email.text);
  });

  it("a reissued order keeps what was bought of each clip", async () => {
    const res = await admin(stack, "POST", `/admin/orders/${order}/reissue`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const choices = JSON.parse(res.body.order.choices);
    assert.deepEqual(choices[slug], { variant: variantId, licence: extended().id });
    assert.deepEqual(choices[plain[0]], { licence: licences[0].id });
  });

  it("an order the owner creates names files and licences as a cart does; unknown ones are refused", async () => {
    const created = await admin(stack, "POST", "/admin/orders", {
      body: { order_id: "ORD-V-ADMIN", clips: [`${slug}:${variantId}:${extended().id}`, plain[0]], downloads: 1 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Before any download, `orders show` gives the file bought: the
    // variant's size, not the main file's (the support review).
    const shown = (await admin(stack, "GET", "/admin/orders/ORD-V-ADMIN")).body;
    const line = shown.clips.find((c) => c.clip_slug === slug);
    assert.ok(variant.size !== clip.size, "the test needs sizes that differ");
    assert.equal(line.clip_size, variant.size, JSON.stringify(line));
    const res = await admin(stack, "POST", "/admin/orders/ORD-V-ADMIN/reissue");
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const choices = JSON.parse(res.body.order.choices);
    assert.deepEqual(choices[slug], { variant: variantId, licence: extended().id });
    assert.deepEqual(choices[plain[0]], { licence: licences[0].id });
    for (const [bad, says] of [[`${slug}:no-such-file`, /has no variant "no-such-file"/], ["no-such-clip", /not in the catalog/],
      [`${slug}::gold`, /no licence "gold"/], [`${slug}:../x`, /is not an item/]]) {
      const refused = await admin(stack, "POST", "/admin/orders", { body: { order_id: "ORD-V-BAD", clips: [bad], downloads: 1 } });
      assert.equal(refused.status, 400, bad);
      assert.match(refused.body.error, says);
    }
    assert.equal((await admin(stack, "GET", "/admin/orders/ORD-V-BAD")).status, 404, "nothing created");
  });

  it("bought the wrong file: reissue --exchange gives the other file in the same order, which a refund still stops", async () => {
    // The support review: a replacement order made by hand downloaded on
    // after the original payment was refunded. An exchange keeps the order.
    const [cmd, pre] = process.env.SITE_GEN_BIN ? [process.env.SITE_GEN_BIN, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const orders = (...args) => run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", paths.shopRoot, ...args], {
      env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    const payment = unique("pi");
    const checkout = await postCheckout([["clip", slug]]);
    assert.equal(checkout.status, 303, checkout.text);
    const session = stripeApi.requests.at(-1).response;
    const made = await deliver({
      id: unique("evt"), object: "event", api_version: API_VERSION, created: Math.floor(Date.now() / 1000),
      livemode: false, type: "checkout.session.completed",
      data: { object: { ...session, status: "complete", payment_status: "paid",
        customer_details: { email: "wrong.file@example.com", name: "W" }, payment_intent: payment } },
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const wrong = made.body.order_id;
    const bought = (await admin(stack, "GET", `/admin/orders/${wrong}`)).body;
    assert.equal(bought.clips[0].clip_size, clip.size, "bought: the main file");
    const thanks = (await curl(`${stack.base}/thanks?session_id=${session.id}`)).body.toString("utf8");
    const oldLink = stack.base + /href="(?:http:\/\/[^"/]+)?(\/download\/[^"/]+)"/.exec(thanks)[1];
    // A link mailed before the exchange and never opened (a resend): the
    // diff review opened it after the exchange, and the order went back to
    // the old file.
    const resent = await admin(stack, "POST", `/admin/orders/${wrong}/resend?to=wrong.file%40example.com`);
    assert.equal(resent.status, 200, JSON.stringify(resent.body));
    const wrongItem = `${slug}:no-such-file`;
    const typo = await orders("reissue", wrong, "--exchange", wrongItem).catch((e) => e);
    assert.match(String(typo.stderr), /has no file `no-such-file`/, "checked against the catalog first");
    // A dearer licence is not given for the price of the cheaper one
    // (the owner review): refused, nothing changed, unless --no-charge.
    const dearer = await orders("reissue", wrong, "--exchange", `${slug}::${extended().id}`).catch((e) => e);
    assert.match(String(dearer.stderr), /sells for \S+, more than the order's .+: nothing was changed\. .*add --no-charge/s);
    assert.equal((await curl(oldLink)).status, 200, "its links still work");

    const { stdout, stderr } = await orders("reissue", wrong, "--exchange", `${slug}:${variantId}`, "--base-url", `${stack.base}/download`);
    const link = stdout.trim();
    assert.match(stderr, new RegExp(`Exchanged: the order now has ${slug}:${variantId}`));
    // The customer hears of it from the shop: their links just stopped.
    assert.match(stderr, /a fresh link was e-mailed to wrong\.file@example\.com/);
    const told = resend.sent.filter((m) => m.email.to.includes("wrong.file@example.com")).at(-1);
    const mailedLink = /https?:\/\/[^\s"<]+\/download\/[A-Za-z0-9._~-]+/.exec(told?.email.text ?? "")?.[0];
    assert.ok(mailedLink, JSON.stringify(told?.email));
    const mailedHead = await curl(`${mailedLink.replace(/^https?:\/\/[^/]+/, stack.base)}/${slug}`, { args: ["-I"] });
    assert.equal(mailedHead.status, 200, `${mailedLink}: ${told.email.text}`);
    assert.equal(mailedHead.headers["content-length"], String(variant.size), "the mailed link serves the new file");
    const head = await curl(`${link}/${slug}`, { args: ["-I"] });
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], String(variant.size), "the new link serves the variant");
    const shown = (await admin(stack, "GET", `/admin/orders/${wrong}`)).body;
    assert.equal(shown.clips[0].clip_size, variant.size);
    assert.equal(shown.clips[0].downloads_left, shown.order.allowance, "its downloads start again");
    const exchange = shown.events.find((e) => e.kind === "exchange");
    assert.equal(exchange?.detail, `${variantId}:${licences[0]?.id ?? "standard"}, was ${clip.variant?.id ?? "main file"}:${licences[0]?.id ?? "standard"}`);
    assert.equal((await curl(`${oldLink}/${slug}`, { args: ["-I"] })).status, 403, "the old link (the main file) stops");
    assert.equal((await curl(`${resent.body.link}/${slug}`)).status, 403, "the resent old link too");
    const still = (await admin(stack, "GET", `/admin/orders/${wrong}`)).body;
    assert.equal(JSON.parse(still.order.choices)[slug].variant, variantId, "opening an old link does not undo the exchange");
    assert.equal(still.clips[0].clip_size, variant.size);
    const again = await orders("reissue", wrong, "--exchange", `${slug}:${variantId}`).catch((e) => e);
    assert.match(String(again.stderr), /is .* already: nothing to exchange/, "not a way to give downloads back");

    // The payment refunded in full: the exchanged order stops, as its own.
    const refunded = await deliver({
      id: unique("evt"), object: "event", api_version: API_VERSION, created: Math.floor(Date.now() / 1000),
      livemode: false, type: "charge.refunded",
      data: { object: { id: unique("ch"), object: "charge", amount: clip.price, amount_refunded: clip.price, refunded: true,
        payment_intent: payment } },
    });
    assert.equal(refunded.status, 200, JSON.stringify(refunded.body));
    assert.equal(refunded.body.order_id, wrong);
    const stopped = await curl(`${link}/${slug}`);
    assert.equal(stopped.status, 403);
    assert.match(stopped.body.toString(), /refunded/);
    // The owner's list says what the order holds now, and why it stopped.
    const line = (await orders("list")).stdout.split("\n").find((l) => l.startsWith(`${wrong} `));
    assert.match(line ?? "", new RegExp(` refunded .* ${slug}:${variantId}(:${licences[0]?.id})?$`), line);
  });

  it("two files of one clip in a cart are refused with a page that says so, nothing charged", async () => {
    const before = stripeApi.requests.length;
    const res = await postCheckout([["clip", slug], ["clip", `${slug}:${variantId}`]]);
    assert.equal(res.status, 400);
    assert.match(res.text, /in two versions/);
    assert.equal(stripeApi.requests.length, before, "Stripe was not asked");
  });

  it("links minted by the owner: a plain one serves the main file, slug:variant the variant; an unknown variant is refused", async () => {
    const mainLink = await mint(stack, { order: "ORD-V-1", clips: [slug], downloads: 1 });
    const head = await curl(`${mainLink.url}/${slug}`, { args: ["-I"] });
    assert.equal(head.headers["content-length"], String(clip.size));
    const variantLink = await mint(stack, { order: "ORD-V-2", clips: [`${slug}:${variantId}`], downloads: 1 });
    const headV = await curl(`${variantLink.url}/${slug}`, { args: ["-I"] });
    assert.equal(headV.headers["content-length"], String(variant.size));
    assert.ok(variantLink.token.startsWith("Ag"), "a version 2 token (first byte 0x02)");
    const cmd = process.env.SITE_GEN_BIN ?? "site-gen";
    await assert.rejects(
      run(cmd, ["token", "mint", "--root", paths.shopRoot, "--order", "X", "--clip", `${slug}:no-such-file`,
        "--base-url", `${stack.base}/download`], { env: { ...toolEnv, CLIPSTORE_SIGNING_KEY: SIGNING_KEY } }),
      (e) => new RegExp(`the clip \`${slug}\` has no file \`no-such-file\`; it has: `).test(String(e.stderr ?? e.message)),
    );
  });

  it("a variant of realistic size on a one-download link: aria2c -x8 -s8 gets it whole, then the link is used up", async () => {
    // Another of the clip's files than the one above, stored as a clip of
    // about 40 MB: the allowance must be that file's, not the main file's.
    const [otherId, other] = Object.entries(clip.variants).find(([id]) => id !== variantId);
    work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-variant-big-"));
    const big = await makeVideoClip(work, { seconds: 20, minBytes: 24 * 1024 * 1024 });
    assert.ok(big.size > 10 * clip.size, `${big.size} bytes against the main file's ${clip.size}`);
    await putClip(stack, other, big.file);
    const link = await mint(stack, { order: "ORD-V-BIG", clips: [`${slug}:${otherId}`], downloads: 1 });
    const out = path.join(work, "aria");
    await run("aria2c", ["-x8", "-s8", "-k1M", "--file-allocation=none", "--console-log-level=warn",
      "--summary-interval=0", "--allow-overwrite=true", "-d", out, "-o", "clip.mp4", `${link.url}/${slug}`]);
    assert.equal(sha256File(path.join(out, "clip.mp4")), big.sha256, "byte-identical");

    let detail;
    for (let i = 0; ; i++) {
      detail = (await admin(stack, "GET", "/admin/orders/ORD-V-BIG")).body;
      if (detail.attempts.every((a) => a.reserved_bytes == null || a.settled_at != null)) break;
      assert.ok(i < 600, "every reservation settles");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(detail.attempts.some((a) => a.range_header), "aria2c split the download");
    const [used] = detail.clips;
    assert.equal(used.clip_size, big.size, "the allowance is the variant's own size");
    assert.equal(used.downloads_used, 1, JSON.stringify(used));
    // The allowance's slack still answers a small range (a player's seek);
    // another whole download is refused (a browser's; a tool's plain GET
    // after a download in pieces gets only its first segment, cut short).
    // (409, not 403, in the minute after the clip's end was sent.)
    const again = await curl(`${link.url}/${slug}`, { args: ["-H", "Sec-Fetch-Mode: navigate", "-H", "Sec-Fetch-Dest: document"] });
    assert.equal(again.status, 409, "the one download is used");
    const detail2 = await admin(stack, "GET", "/admin/orders/ORD-V-BIG");
    assert.equal(detail2.body.clips[0].downloads_used, 1, "nothing more used");
  });
});
