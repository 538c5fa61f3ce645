// The customer's whole journey, with no owner in it (docs/payments.md): a
// cart → `POST /checkout` → a Checkout Session at a local stand-in for
// Stripe's API (checked against what Stripe's own Node library sends) → the
// signed `checkout.session.completed` → one order → an e-mail through a
// stand-in for Resend's API whose link downloads every clip → "Lost your
// download link?" e-mails a fresh link that shares the allowance → a refund
// ends every link. On the tightest terms: one download per clip.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import Stripe from "stripe";

import { startResendStandin } from "./support/resend-standin.mjs";
import {
  ADMIN_TOKEN, admin, catalog, curl, mint, priceSeal, REPO, run, SIGNING_KEY, startStack, STRIPE_WEBHOOK_SECRET, toolEnv,
} from "./support/stack.mjs";
import { startStripeStandin } from "./support/stripe-standin.mjs";

const API_KEY = "rk_test_51E2eRestrictedKey0123456789";
const API_VERSION = "2025-09-30.clover";
const BUYER = "Buyer.One@example.com";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// axe-core (npm), the accessibility engine browsers' audits use, run in the
// page: every WCAG 2 A and AA rule and its best practices.
const AXE = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/**
 * The pages of `paths` wider than a 320 px phone whose browser text size is
 * 150 % (Chromium's own font-size setting, in a profile of its own), one line
 * each with what sticks out; the cart holds a clip with a long title.
 */
async function tooWide(base, paths) {
  const profile = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "clipstore-textsize-"));
  fs.mkdirSync(path.join(profile, "Default"));
  fs.writeFileSync(path.join(profile, "Default", "Preferences"),
    JSON.stringify({ webkit: { webprefs: { default_font_size: 24, default_fixed_font_size: 20 } } }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: ["--no-sandbox"], viewport: { width: 320, height: 640 }, isMobile: true, hasTouch: true });
  const wide = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    for (const p of paths) {
      await page.goto(`${base}${p}`);
      if (p === "/cart/") {
        // Two clips of the catalog (the cart drops what it does not sell).
        const items = await page.evaluate(async () => Object.entries(await (await fetch("/cart/clips.json")).json()).slice(0, 2));
        await page.evaluate((items) => localStorage.setItem("clipstore.cart", JSON.stringify({ id: "TextSizeTextSizeTextSi",
          items: items.map(([slug, c]) => ({ item: slug, slug, title: `${c.title} (Standard licence)`, price_cents: c.price_cents, price_display: c.price_display, url: c.url })) })), items);
        await page.reload();
        await page.locator(".cart-lines tbody tr").nth(1).waitFor();
        // "Remove" on one line, not broken inside the word ("Rem/ove": the diff review).
        const lines = await page.$$eval(".cart-remove", (bs) => bs.map((b) => {
          const text = document.createRange();
          text.selectNodeContents(b);
          return text.getClientRects().length;
        }));
        for (const n of lines) if (n > 1) wide.push(`/cart/: Remove broken over ${n} lines`);
      }
      const found = await page.evaluate(() => {
        const out = [];
        for (const el of document.querySelectorAll("body *")) {
          const box = el.getBoundingClientRect();
          if (box.width && box.right > 321 && !el.closest(".visually-hidden, .skip-link")) out.push(`${el.tagName.toLowerCase()}.${el.className} to ${Math.round(box.right)} px`);
        }
        return { width: document.scrollingElement.scrollWidth, out: out.slice(0, 3) };
      });
      if (found.width > 320) wide.push(`${p}: ${found.width} px (${found.out.join("; ")})`);
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  return wide;
}

/** The axe-core violations on the page now, one line each (rule, impact, where). */
async function axeViolations(page) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  }, AXE_TAGS);
  return found.map((v) => `${new URL(page.url()).pathname}: ${v}`);
}

/** A page's type for the accessibility check: its first path segment and depth. */
function pageType(pathname) {
  const parts = pathname.split("/").filter(Boolean);
  return parts.length <= 1 ? `/${parts.join("")}` : `/${parts[0]}/${parts.length > 2 && parts[1] === "page" ? "page/N" : "*"}`;
}
const ARTIFACTS = path.join(REPO, "target", "e2e-artifacts");

const { manifest } = catalog();
const present = Object.entries(manifest.clips)
  .map(([slug, c]) => ({ slug, ...c, file: path.join(REPO, "sample-media", c.object_key) }))
  .filter((c) => fs.existsSync(c.file));
const cart = present.slice(0, 3);
const tiers = manifest.shop.licences ?? [];
/**
 * What the Worker makes of a plain slug in the cart (clipstore_core's
 * `resolve`): the clip's main file under the default licence; its line's
 * name, its item in the metadata and its price.
 */
const lineOf = (c) => {
  const details = [c.variant?.label, tiers[0] && `${tiers[0].name} licence`].filter(Boolean);
  return {
    name: details.length ? `${c.title} (${details.join(", ")})` : c.title,
    item: tiers[0] ? `${c.slug}::${tiers[0].id}` : c.slug,
    price: tiers[0] ? Math.floor((c.price * tiers[0].factor_permille + 500) / 1000) + tiers[0].surcharge : c.price,
  };
};
const offline = new Stripe("sk_test_not_used_offline");
let stack, stripeApi, resend;

before(async () => {
  stripeApi = await startStripeStandin();
  resend = await startResendStandin();
  stack = await startStack({
    seed: present,
    devArgs: ["--test-scheduled"],
    // The scheduled-test route must reach the Worker, not the static assets.
    editConfig: (toml) => toml.replace(/^run_worker_first = \[/m, 'run_worker_first = ["/__scheduled", '),
    vars: {
      STRIPE_API_KEY: API_KEY,
      STRIPE_API_BASE: stripeApi.url,
      RESEND_API_KEY: "re_e2e_0123456789abcdef",
      MAIL_FROM: "Saltglass Footage <shop@mail.saltglass.example>",
      MAIL_API_BASE: resend.url,
      CHECKOUT_DOWNLOADS: "1",
    },
  });
  // The shop's webhook endpoint at Stripe, as step 5 of docs/payments.md
  // makes it: the health check (and doctor) looks for it.
  stripeApi.webhookEndpoints.push(webhookEndpoint(stack.base));
});

/** A webhook endpoint object as Stripe lists it, sending every event the Worker acts on. */
function webhookEndpoint(base) {
  return { id: `we_${crypto.randomBytes(12).toString("hex")}`, object: "webhook_endpoint", api_version: null,
    application: null, created: Math.floor(Date.now() / 1000), description: null, livemode: false, metadata: {},
    status: "enabled", url: `${base}/payments/stripe/webhook`,
    enabled_events: ["checkout.session.completed", "checkout.session.async_payment_succeeded",
      "checkout.session.async_payment_failed", "charge.refunded", "charge.dispute.created", "charge.dispute.closed",
      "refund.failed", "refund.updated"] };
}

after(async () => {
  await stack?.stop();
  await stripeApi?.close();
  await resend?.close();
});

const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");
let counter = 0;
const unique = (prefix) => `${prefix}_test_${Date.now().toString(36)}${(counter++).toString(36)}E2e`;

function form(pairs) {
  return new URLSearchParams(pairs).toString();
}

/** `ip`: the client's address as Cloudflare gives it (each its own checkout limit). */
async function postCheckout(body, contentType = "application/x-www-form-urlencoded", ip = undefined) {
  const res = await fetch(`${stack.base}/checkout`, {
    method: "POST",
    headers: { "content-type": contentType, ...(ip ? { "cf-connecting-ip": ip } : {}) },
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, location: res.headers.get("location"), text: await res.text() };
}

/** Posts a Stripe event signed by Stripe's own library. */
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

/** The event Stripe sends once the customer has paid `session` (as the stand-in created it). */
function completed(session, { email = BUYER, paymentIntent = unique("pi"), amount = session.amount_total } = {}) {
  return {
    id: unique("evt"), object: "event", api_version: API_VERSION, created: Math.floor(Date.now() / 1000),
    livemode: false, type: "checkout.session.completed",
    data: { object: { ...session, status: "complete", payment_status: "paid", amount_total: amount,
      customer_details: { email, name: "Buyer One" }, payment_intent: paymentIntent } },
  };
}

/** An amount in the currency's smallest unit as the shop writes prices
 * (`clipstore_core::display::price_text`: `€44.00`, `12.50 CHF`); the
 * sample shop's currency has cents. */
function price(minor, currency = manifest.shop.currency) {
  const code = currency.toUpperCase();
  const amount = (minor / 100).toFixed(2);
  const sign = { EUR: "€", USD: "$", GBP: "£" }[code];
  return sign ? `${sign}${amount}` : `${amount} ${code}`;
}

/** A unix time as the Worker writes it for people
 * (`clipstore_core::display::date_time_utc`: `1 January 2027, 00:00 UTC`). */
function utcDate(unix) {
  const d = new Date(unix * 1000);
  const month = d.toLocaleString("en-GB", { month: "long", timeZone: "UTC" });
  const hm = `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
  return `${d.getUTCDate()} ${month} ${d.getUTCFullYear()}, ${hm} UTC`;
}

function chargeEvent(type, object) {
  return { id: unique("evt"), object: "event", api_version: API_VERSION, created: Math.floor(Date.now() / 1000),
    livemode: false, type, data: { object } };
}

/** Waits until `resend.sent` has a message matching `match`. */
async function mailTo(match, { timeout = 20_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = resend.sent.filter((m) => match(m.email));
    if (found.length) return found;
    if (Date.now() > deadline) throw new Error(`no such mail; sent: ${JSON.stringify(resend.sent.map((m) => m.email.subject))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the stack's log matches `re` (log lines arrive a moment after the response). */
async function logMatching(s, re, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const log = s.log();
    if (re.test(log)) return log;
    if (Date.now() > deadline) assert.fail(`the log never matched ${re}:\n${log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A checkout of one clip from the network `ip` (each has its own checkout limit), paid by `email` on Stripe's page. */
async function paidCheckoutFrom(ip, clip, email) {
  const res = await postCheckout(form([["clip", clip.slug]]), undefined, ip);
  assert.equal(res.status, 303, res.text);
  const session = stripeApi.requests.at(-1).response;
  const paymentIntent = unique("pi");
  stripeApi.pay(session.id, { email, paymentIntent });
  return { session, paymentIntent };
}

/** One run of the cron (`wrangler dev --test-scheduled`) on stack `s`, asserted 200. */
async function cronRun(s = stack) {
  const res = await fetch(`${s.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
  assert.equal(res.status, 200, await res.text());
}

/** A statement on stack `s`'s local D1. */
const d1Sql = (command, s = stack) => s.wrangler(["d1", "execute", "DB", "--command", command]);

const linksIn = (text) => [...text.matchAll(/https?:\/\/[^\s"<>]+\/download\/[A-Za-z0-9._~-]+/g)].map((m) => m[0]);

describe("the customer's journey", () => {
  let order, firstLink, recoveredLink, paymentIntent;

  it("a cart of three checks out at the catalog's prices, exactly as Stripe's own library would ask", async () => {
    const cartId = "AbCdEfGhIjKlMnOpQrStUv";
    const body = form([...cart.map((c) => ["clip", c.slug]), ["cart", cartId], ["price", "1"]]);
    const res = await postCheckout(body);
    assert.equal(res.status, 303, res.text);
    const sent = stripeApi.requests.at(-1);
    assert.equal(sent.status, 200, JSON.stringify(sent.response));
    assert.equal(res.location, sent.response.url, "the customer goes to Stripe's payment page");

    // The same session through Stripe's official library, against the stand-in.
    const lib = new Stripe(API_KEY, { host: "127.0.0.1", port: stripeApi.port, protocol: "http", apiVersion: API_VERSION });
    const currency = manifest.shop.currency.toLowerCase();
    const items = cart.map((c) => lineOf(c).item);
    const params = {
      mode: "payment",
      line_items: cart.map((c) => ({
        price_data: { currency: manifest.shop.currency.toLowerCase(), unit_amount: lineOf(c).price,
          product_data: { name: lineOf(c).name, metadata: { clip: lineOf(c).item } } },
        quantity: 1,
      })),
      // The total sealed with the link-signing key: the webhook holds the
      // payment to it, should the catalog's prices change meanwhile.
      // (At the time the Worker sealed it: the start of its two-minute window.)
      metadata: { clips: items.join(","), priced: priceSeal(cart.reduce((s, c) => s + lineOf(c).price, 0), currency, items,
        { at: Number(sent.params.metadata.priced.split(":")[2]) }) },
      success_url: `${stack.base}/thanks?session_id={CHECKOUT_SESSION_ID}&cart=${cartId}`,
      cancel_url: `${stack.base}/cart/`,
    };
    const key = sent.headers["idempotency-key"];
    await lib.checkout.sessions.create(params, { idempotencyKey: key });
    const fromLib = stripeApi.requests.at(-1);
    assert.equal(sent.raw, fromLib.raw, "the same parameters, form-encoded the same way");
    for (const h of ["authorization", "idempotency-key", "content-type", "stripe-version"]) {
      assert.equal(sent.headers[h], fromLib.headers[h], h);
    }
    assert.equal(fromLib.status, 200, "an identical request under the same key is a replay, not a conflict");
    const total = cart.reduce((s, c) => s + lineOf(c).price, 0);
    assert.equal(sent.response.amount_total, total, "priced from the manifest, never the request");

    // The same cart again (a double click): the same session.
    const again = await postCheckout(body);
    assert.equal(again.location, res.location);
    // The same cart id from another network (a stranger, or a page of
    // another site that chose the id for the customer): its own session,
    // never the customer's (the attack review: the same one, and from
    // /thanks the customer's link once they had paid).
    const stranger = await postCheckout(body, undefined, "198.51.100.23");
    assert.equal(stranger.status, 303, stranger.text);
    assert.notEqual(stranger.location, res.location);
    stripeApi.session = sent.response;
  });

  it("a checkout posted from a page of another site is refused and told to start from the cart; one from the shop's own pages is started", async () => {
    const body = form([["clip", cart[0].slug], ["cart", "CrossSiteChosenId00001"]]);
    const post = (headers) => fetch(`${stack.base}/checkout`, { method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
    const before = stripeApi.requests.length;
    // A browser's word for another site, or, from one that sends no
    // Sec-Fetch-Site, an Origin of another host.
    for (const headers of [{ "sec-fetch-site": "cross-site", origin: stack.base }, { origin: "https://evil.example" }]) {
      const res = await post(headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.match(await res.text(), /came from a page of another website.*Nothing was charged.*check out from the cart/s);
    }
    assert.equal(stripeApi.requests.length, before, "Stripe was not asked");
    // The shop's own page, also under a no-referrer policy (Origin: null)
    // or over http (the diff review: both were turned away).
    const own = [{ "sec-fetch-site": "same-origin", origin: stack.base }, { "sec-fetch-site": "same-origin", origin: "null" },
      { origin: stack.base }];
    for (const headers of own) {
      const res = await post(headers);
      assert.equal(res.status, 303, JSON.stringify(headers));
      assert.notEqual(res.headers.get("location"), "/cart/");
    }
    assert.equal(stripeApi.requests.length, before + own.length, "the shop's own pages reached Stripe");
  });

  it("paying creates one order with three clips, shows the links and e-mails them", async () => {
    paymentIntent = unique("pi");
    const res = await deliver(completed(stripeApi.session, { paymentIntent }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    order = res.body.order_id;
    const shown = await admin(stack, "GET", `/admin/orders/${order}`);
    assert.deepEqual(JSON.parse(shown.body.order.clips), cart.map((c) => c.slug).sort());

    // Back from paying at the session's success address: the cart paid for
    // (named there) is emptied, and no other.
    const back = stripeApi.session.success_url.replace("{CHECKOUT_SESSION_ID}", stripeApi.session.id);
    assert.ok(back.endsWith("&cart=AbCdEfGhIjKlMnOpQrStUv"), back);
    const thanks = await curl(back);
    assert.equal(thanks.status, 200);
    const body = /<body data-cart-clear="AbCdEfGhIjKlMnOpQrStUv" data-cart-bought="([^"]*)">/.exec(thanks.body.toString());
    assert.ok(body, "the cart empties after payment");
    assert.deepEqual(body[1].split(" ").sort(), cart.map((c) => c.slug).sort(), "and what it bought leaves any other cart");
    const noCart = await curl(`${stack.base}/thanks?session_id=${stripeApi.session.id}`);
    assert.doesNotMatch(noCart.body.toString(), /data-cart-clear/, "a Payment Link's success page empties no cart");

    const [mail] = await mailTo((m) => m.to.includes(BUYER) && m.subject.includes(order));
    const { email } = mail;
    for (const c of cart) {
      assert.ok(email.text.includes(c.title) && email.html.includes(c.file_name.replace(/&/g, "&amp;")), c.slug);
      if (c.sha256) assert.ok(email.text.includes(c.sha256), `sha256 of ${c.slug}`);
    }
    assert.ok(email.text.includes("/orders/recover"), "how to get the links again");
    [firstLink] = linksIn(email.text);
    assert.ok(firstLink.startsWith(`${stack.base}/download/`), firstLink);
    // The customer's record of the price: what the checkout took.
    const total = price(stripeApi.session.amount_total, stripeApi.session.currency);
    assert.ok(email.text.includes(`Order ${order} · 3 clips · paid ${total}\n`), email.text);
    assert.equal(resend.requests.at(-1).headers.authorization, "Bearer re_e2e_0123456789abcdef");

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-tools.sh`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 700, height: 900 } });
      await page.setContent(email.html);
      assert.equal(await page.locator(`a[href="${firstLink}"]`).count() >= 1, true, "the HTML mail links the order");
      await page.screenshot({ path: path.join(ARTIFACTS, "order-mail.png"), fullPage: true });
      // The customer's pages on a small phone: nothing wider than the
      // screen (the certificate's table was, by a licence's address).
      const phone = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true });
      // (The success page shows the whole link: it ran 1,476 px wide.)
      const thanks = `${stack.base}/thanks?session_id=${stripeApi.session.id}`;
      for (const url of [firstLink, `${firstLink}/${cart[0].slug}/licence`, `${stack.base}/orders/recover`, thanks]) {
        await phone.goto(url);
        const [wide, screen] = await phone.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
        assert.ok(wide <= screen, `${url}: ${wide} px wide on a ${screen} px screen`);
      }
    } finally {
      await browser.close();
    }
  });

  it("the mailed link downloads all three clips byte for byte", async () => {
    for (const c of cart) {
      const res = await curl(`${firstLink}/${c.slug}`);
      assert.equal(res.status, 200, c.slug);
      assert.equal(sha256(res.body), sha256(fs.readFileSync(c.file)), c.slug);
    }
  });

  // "I paid with jane@…, no link came": the owner had only the order
  // number to go by, which is what the customer lost.
  it("the owner finds the order by the buyer's address, and sees who paid what", async () => {
    const [cmd, pre] = process.env.SITE_GEN_BIN ? [process.env.SITE_GEN_BIN, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const orders = (args) => run(cmd, [...pre, "orders", "--worker-url", stack.base, ...args],
      { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN } });
    const listed = await orders(["list", "--email", BUYER.toLowerCase()]);
    const line = listed.stdout.split("\n").find((l) => l.startsWith(order));
    assert.ok(line?.includes(BUYER), listed.stdout);
    const shown = await orders(["show", order]);
    const { amount_total: amount, currency } = stripeApi.session;
    assert.ok(shown.stdout.includes(`customer:   ${BUYER}\n`), shown.stdout);
    assert.ok(shown.stdout.includes(`paid:       ${price(amount, currency)} (Stripe payment ${paymentIntent})`),
      shown.stdout);
    const none = await orders(["list", "--email", "nobody@example.com"]);
    assert.match(none.stdout, /^No order of nobody@example.com/);
  });

  it("'Lost your download link?' e-mails a fresh link that shares the allowance, and answers the same for anyone", async () => {
    const form1 = await curl(`${stack.base}/orders/recover`);
    assert.equal(form1.status, 200);
    assert.match(form1.body.toString(), /<form method="post" action="\/orders\/recover"/);

    const ask = (email) => fetch(`${stack.base}/orders/recover`, {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form([["email", email]]),
    }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const before = resend.sent.length;
    // A link minted in the same second as the order's would be the same token.
    await new Promise((r) => setTimeout(r, 1100));
    const known = await ask(BUYER.toUpperCase());
    const unknown = await ask("nobody@example.com");
    assert.equal(known.status, 200);
    assert.equal(known.text.replace(BUYER.toUpperCase(), "X"), unknown.text.replace("nobody@example.com", "X"),
      "the page never tells who bought what");
    assert.match(known.text, new RegExp(`If <strong>${BUYER.toUpperCase()}</strong> has orders`), "a slip in the address shows");
    // Sent to the address the customer paid with, not as typed now.
    const [mail] = await mailTo((m) => m.to.includes(BUYER) && /download links/i.test(m.subject));
    assert.ok(!resend.sent.some((m) => m.email.to.includes(BUYER.toUpperCase())), "not to the address as typed");
    [recoveredLink] = linksIn(mail.email.text);
    assert.ok(recoveredLink && recoveredLink !== firstLink, "a fresh link");
    // One order, one date on its licence certificates, whichever link.
    const dated = async (link) => /<time>([^<]+)<\/time>/.exec((await curl(`${link}/${cart[0].slug}/licence`)).body.toString())[1];
    assert.equal(await dated(recoveredLink), await dated(firstLink));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("nobody@example.com")).length, 0);
    assert.equal(resend.sent.length, before + 1);

    // One download per clip, all used by the first link: the fresh link shares them.
    const page = await curl(recoveredLink);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /0 of 1 download left/);
    const clip = await curl(`${recoveredLink}/${cart[0].slug}`);
    assert.equal(clip.status, 403, "no extra download");
    const bad = await ask("not an address");
    assert.equal(bad.status, 400);
    assert.match(bad.text, /Enter the e-mail address you used at checkout/);
    assert.match(bad.text, /value="not an address" aria-invalid="true" aria-describedby="email-error" autofocus>/,
      "what was typed stays in the field, marked, its problem tied to it");
    assert.match(bad.text, /<title>Not sent: lost your download link\?/, "said from the title on");
  });

  it("recovery is rate-limited per address", async () => {
    const ask = () => fetch(`${stack.base}/orders/recover`, {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form([["email", BUYER]]),
    }).then((r) => r.text());
    const mails = () => resend.sent.filter((m) => m.email.to.some((t) => t.toLowerCase() === BUYER.toLowerCase())
      && /download links/i.test(m.email.subject)).length;
    const start = mails(); // one recovery so far
    await ask();
    await ask();
    await mailTo(() => mails() >= start + 2);
    const limited = await ask(); // the fourth within the hour
    assert.match(limited, /has orders with us/, "the same answer");
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(mails(), start + 2, "the fourth request within an hour sends nothing");
  });

  it("a full refund ends every link of the order from the next request on", async () => {
    const res = await deliver(chargeEvent("charge.refunded", {
      id: "ch_e2e", object: "charge", amount: stripeApi.session.amount_total,
      amount_refunded: stripeApi.session.amount_total, refunded: true, payment_intent: paymentIntent,
    }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.order_id, order);
    for (const link of [firstLink, recoveredLink]) {
      const page = await curl(link);
      assert.equal(page.status, 403);
      assert.match(page.body.toString(), /refunded/);
      const head = await curl(`${link}/${cart[1].slug}`, { args: ["-I"] });
      assert.equal(head.status, 403);
    }
    const payments = await admin(stack, "GET", "/admin/payments?limit=5");
    assert.ok(payments.body.payments.some((p) => p.order_id === order && p.detail.startsWith("refunded")));
  });

  it("a refund that fails (the card was closed): the order stays as the refund left it, and the owner is told both ways on", async () => {
    const failed = chargeEvent("refund.failed", { id: "re_e2e", object: "refund", amount: stripeApi.session.amount_total,
      charge: "ch_e2e", currency: manifest.shop.currency.toLowerCase(), payment_intent: paymentIntent, status: "failed",
      failure_reason: "expired_or_canceled_card", failure_balance_transaction: "txn_e2e" });
    const res = await deliver(failed);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.order_id, res.body.refund_failed], [order, true]);
    assert.equal((await deliver(failed)).body.duplicate, true, "a redelivery is recorded once");
    // Pending, then succeeded: nothing to tell.
    const fine = await deliver(chargeEvent("refund.updated", { id: "re_ok", object: "refund", amount: 1,
      payment_intent: paymentIntent, status: "succeeded" }));
    assert.equal(fine.body.ignored, true, JSON.stringify(fine.body));
    // An endpoint of an API version before 2024-10-28 tells a failed card
    // refund only as `charge.refund.updated`; a newer one sends that too,
    // beside `refund.failed`, and it counts once.
    const oldEndpoint = { ...chargeEvent("charge.refund.updated", { id: "re_old", object: "refund", amount: 1800,
      charge: "ch_e2e", currency: manifest.shop.currency.toLowerCase(), payment_intent: paymentIntent, status: "failed",
      failure_reason: "lost_or_stolen_card" }), api_version: "2024-06-20" };
    const old = await deliver(oldEndpoint);
    assert.deepEqual([old.body.order_id, old.body.refund_failed], [order, true], JSON.stringify(old.body));
    const newer = await deliver({ ...oldEndpoint, id: unique("evt"), api_version: "2024-10-28.acacia" });
    assert.equal(newer.body.ignored, true, JSON.stringify(newer.body));
    assert.equal((await curl(firstLink)).status, 403, "still revoked: the owner decides");
    const shown = await admin(stack, "GET", `/admin/orders/${order}`);
    assert.ok(shown.body.events.some((e) => e.kind === "refund_failed"), JSON.stringify(shown.body.events));
    const alerts = await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(alerts.status, 200);
    const log = await logMatching(stack, /a refund of €\d+\.\d\d failed: expired_or_canceled_card/);
    assert.match(log, new RegExp(`Refund the customer another way; or, if a full refund revoked it and they should have the clips after all: site-gen orders reissue ${order} --despite-refund`));
  });
});

describe("a bank debit that fails days later", () => {
  it("the customer is mailed that no link will come, what they chose and how to buy again, once however often Stripe says so", async () => {
    const to = "debit@example.com";
    const chosen = cart.slice(0, 2);
    const session = { id: unique("cs"), object: "checkout.session",
      metadata: { clips: chosen.map((c) => lineOf(c).item).join(",") },
      amount_total: chosen.reduce((sum, c) => sum + lineOf(c).price, 0), currency: manifest.shop.currency.toLowerCase() };
    const pending = completed(session, { email: to });
    pending.data.object.payment_status = "unpaid";
    assert.equal((await deliver(pending)).body.awaiting_payment, true);
    const failed = { ...completed(session, { email: to }), type: "checkout.session.async_payment_failed" };
    failed.data.object.payment_status = "unpaid";
    const res = await deliver(failed);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.payment_failed, true);
    const [mail] = await mailTo((m) => m.to.includes(to));
    assert.equal(mail.email.subject, `Your payment to ${manifest.shop.title} did not go through`);
    const text = mail.email.text;
    assert.match(text, /No order was made, so no download link will come/);
    assert.ok(text.includes(`Your payment of ${price(session.amount_total)} `), text);
    for (const c of chosen) assert.ok(text.includes(`- ${lineOf(c).name}\n`), `${lineOf(c).name} in:\n${text}`);
    assert.ok(text.includes(`order again at ${manifest.shop.base_url.replace(/\/$/, "")}/`), text);
    assert.deepEqual(linksIn(text), [], "no download link in it");
    // Stripe delivers it again, and the same failure read back under
    // another event id (the cron's reading of missed events): no second mail.
    assert.equal((await deliver(failed)).status, 200);
    assert.equal((await deliver({ ...failed, id: unique("evt") })).status, 200);
    const { stdout } = await stack.wrangler(["d1", "execute", "DB", "--json", "--command",
      `SELECT kind, COUNT(*) AS n FROM outbox WHERE to_addr = '${to}' GROUP BY kind`]);
    assert.deepEqual(JSON.parse(stdout)[0].results, [{ kind: "payment_failed", n: 1 }]);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes(to)).length, 1);
    // The success page, opened again, says the same.
    assert.match((await curl(`${stack.base}/thanks?session_id=${session.id}`)).body.toString(), /did not go through/);

    // An order the owner made by hand before the money came (`orders create
    // --session`, the owner review): the failure is the owner's to decide,
    // not a mail telling the customer that no order was made.
    const early = { ...session, id: unique("cs") };
    const waiting = completed(early, { email: "early.debit@example.com" });
    waiting.data.object.payment_status = "unpaid";
    assert.equal((await deliver(waiting)).body.awaiting_payment, true);
    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO, "create", "SEPA-E2E",
      "--clip", lineOf(chosen[0]).item, "--to", "early.debit@example.com", "--session", early.id],
    { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    const late = { ...completed(early, { email: "early.debit@example.com" }), type: "checkout.session.async_payment_failed" };
    late.data.object.payment_status = "unpaid";
    const answer = await deliver(late);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.order_id, "SEPA-E2E");
    await cronRun();
    const log = await logMatching(stack, /SEPA-E2E: the bank debit of checkout cs_\S+ failed, but the order was made/);
    assert.match(log, /If the customer does not pay another way: site-gen orders revoke SEPA-E2E/);
    const mailed = await stack.wrangler(["d1", "execute", "DB", "--json", "--command",
      "SELECT COUNT(*) AS n FROM outbox WHERE to_addr = 'early.debit@example.com' AND kind = 'payment_failed'"]);
    assert.deepEqual(JSON.parse(mailed.stdout)[0].results, [{ n: 0 }], "no mail saying no order was made");
  });
});

describe("the cart in a browser, against the Worker", () => {
  it("two clips added, one removed, Checkout: the Worker opens a session for the one left, and the paid page empties the cart", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${stack.base}/clips/`);
      const add = page.locator("[data-cart-add]");
      await add.first().waitFor({ state: "visible" });
      const slugs = [await add.nth(0).getAttribute("data-slug"), await add.nth(1).getAttribute("data-slug")];
      await add.nth(0).click();
      await add.nth(1).click();
      await page.goto(`${stack.base}/cart/`);
      const lines = page.locator("[data-cart-lines] tr");
      assert.equal(await lines.count(), 2);
      await lines.first().getByRole("button").click();
      assert.equal(await lines.count(), 1);
      const n = stripeApi.requests.length;
      // Stripe's page is the stand-in's URL (a 404 there is fine): stop at the redirect.
      const redirected = page.waitForRequest((r) => r.url().startsWith(`${stripeApi.url}/c/pay/`));
      await page.getByRole("button", { name: "Checkout" }).click();
      const pay = await redirected;
      const sent = stripeApi.requests.slice(n).find((r) => r.status === 200);
      assert.ok(sent, "the Worker created a session");
      assert.equal(pay.url(), sent.response.url);
      const left = { slug: slugs[1], ...manifest.clips[slugs[1]] };
      assert.equal(sent.params.metadata.clips, lineOf(left).item, "only the clip left in the cart");
      assert.equal(sent.params.line_items.length, 1);
      assert.equal(Number(sent.params.line_items[0].price_data.unit_amount), lineOf(left).price);

      // Paid: the success page (the address Stripe sends the customer back
      // to, which names this cart) empties the cart.
      const paid = await deliver(completed(sent.response, { email: "browser@example.com" }));
      assert.equal(paid.status, 200);
      await page.goto(sent.response.success_url.replace("{CHECKOUT_SESSION_ID}", sent.response.id));
      await page.waitForFunction(() => JSON.parse(localStorage.getItem("clipstore.cart") ?? "{}").items?.length === 0);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});

describe("the success page in a browser", () => {
  it("before the webhook it waits without reloading itself, then shows the links once the order exists", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      let loads = 0;
      page.on("load", () => { loads += 1; });
      const [a] = present;
      const session = { id: unique("cs"), object: "checkout.session", metadata: { clips: a.slug },
        amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
      await page.goto(`${stack.base}/thanks?session_id=${session.id}`);
      await page.getByText("your payment is being confirmed").waitFor();
      await page.waitForTimeout(7000); // two checks of the script
      assert.equal(loads, 1, "the pending page does not reload while nothing changed");
      const paid = await deliver(completed(session, { email: "waiting@example.com" }));
      assert.equal(paid.status, 200);
      await page.locator("a.order-link").waitFor({ timeout: 15000 });
      // The link to keep is shown whole, so that copying its text works;
      // a screen reader names it in words, not its 200 characters (the
      // accessibility review).
      const kept = await page.locator("a.order-link").getAttribute("href");
      assert.ok(kept.startsWith(`${stack.base}/download/`), kept);
      assert.equal(await page.locator("code.order-url").textContent(), kept);
      assert.equal(await page.getByRole("link", { name: "Your download link", exact: true }).getAttribute("href"), kept);
      assert.equal(await page.locator(`a[href$="/${a.slug}"]`).count() > 0, true, "the clip's download link is there");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});

describe("security headers", () => {
  it("every page type, static or the Worker's, carries the shop's CSP and loads in Chromium without a CSP or accessibility (axe-core) violation", async () => {
    const csp = (await curl(`${stack.base}/`)).headers["content-security-policy"];
    assert.match(csp ?? "", /frame-ancestors 'none'/, "the static pages get public/_headers");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const violations = [];
      page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(`${page.url()}: ${m.text()}`); });
      page.on("pageerror", (e) => violations.push(`${page.url()}: ${e}`));
      // Every page the static site links to (home, lists, clips, tags, news, pages, the cart) ...
      const seen = new Set(["/"]);
      const queue = ["/"];
      const audited = new Set();
      const examples = [];
      const inaccessible = [];
      while (queue.length && seen.size < 60) {
        const p = queue.shift();
        const res = await page.goto(`${stack.base}${p}`);
        assert.equal(res.headers()["content-security-policy"], csp, p);
        assert.equal(res.headers()["x-content-type-options"], "nosniff", p);
        if (!audited.has(pageType(p))) {
          audited.add(pageType(p));
          examples.push(p);
          inaccessible.push(...(await axeViolations(page)));
        }
        const links = await page.$$eval("a[href^='/']", (as) => as.map((a) => a.getAttribute("href")));
        for (const l of links) {
          const clean = l.split("#")[0];
          if (!seen.has(clean) && !/\.(xml|mp4|jpg|svg|css|js)$/.test(clean) && !clean.startsWith("/download/")) {
            seen.add(clean);
            queue.push(clean);
          }
        }
      }
      assert.ok(seen.has("/cart/") && [...seen].some((p) => p.startsWith("/clips/") && p.length > 7), [...seen].join(" "));
      for (const type of ["/", "/clips", "/clips/*", "/news", "/news/*", "/tags", "/tags/*", "/cart", "/search", "/about"]) {
        assert.ok(audited.has(type), `axe ran on a page of type ${type}: ${[...audited].join(" ")}`);
      }
      // A clip sold in several files: its choice of file and licence.
      const [chooser] = Object.entries(manifest.clips).find(([, c]) => Object.keys(c.variants ?? {}).length) ?? [];
      assert.ok(chooser, "the sample shop has a clip with variants");
      await page.goto(`${stack.base}/clips/${chooser}/`);
      await page.locator("[data-cart-choice] fieldset").waitFor();
      inaccessible.push(...(await axeViolations(page)));
      // The cart with a clip in it (its lines, the remove button, the checkout form).
      const clipPage = [...seen].find((p) => p.startsWith("/clips/") && pageType(p) === "/clips/*");
      await page.goto(`${stack.base}${clipPage}`);
      await page.getByRole("button", { name: "Add to cart" }).first().click();
      await page.goto(`${stack.base}/cart/`);
      await page.getByRole("button", { name: "Checkout" }).waitFor();
      inaccessible.push(...(await axeViolations(page)));
      // The search page with results (Pagefind's index and WebAssembly, from
      // public/pagefind/, under the same CSP).
      await page.goto(`${stack.base}/search/`);
      await page.getByLabel("Search for").fill("harbour");
      await page.getByLabel("Duration").selectOption("Under 10 s");
      await page.locator("[data-search-status]").filter({ hasText: "1 clip found." }).waitFor({ timeout: 15000 });
      assert.equal(await page.locator("[data-search-results] .clip-card").count(), 1);
      inaccessible.push(...(await axeViolations(page)));
      const bundle = await page.goto(`${stack.base}/pagefind/pagefind.js`);
      assert.equal(bundle.headers()["content-security-policy"], csp, "/pagefind/pagefind.js");
      // ... the 404 page, and the pages the Worker renders itself.
      const [a] = present;
      const paidSession = unique("cs");
      const order = await deliver(completed({ id: paidSession, object: "checkout.session", metadata: { clips: a.slug },
        amount_total: a.price, currency: manifest.shop.currency.toLowerCase() }, { email: "csp@example.com" }));
      const [mail] = await mailTo((m) => m.to.includes("csp@example.com"));
      const [link] = linksIn(mail.email.text);
      // A bank debit that failed.
      const failedSession = { id: unique("cs"), object: "checkout.session", metadata: { clips: a.slug } };
      const failed = { ...completed(failedSession), type: "checkout.session.async_payment_failed" };
      failed.data.object.payment_status = "unpaid";
      assert.equal((await deliver(failed)).status, 200);
      // The 404, recovery, the success page while pending, once paid and
      // once failed, the order page, and a refused download.
      const workerPages = ["/no-such-page/", "/orders/recover", `/thanks?session_id=${unique("cs")}`,
        `/thanks?session_id=${paidSession}`, `/thanks?session_id=${failedSession.id}`, link.slice(stack.base.length),
        `${link.slice(stack.base.length)}/${a.slug}/licence`, "/download/not-a-token"];
      for (const p of workerPages) {
        const res = await page.goto(`${stack.base}${p}`);
        assert.equal(res.headers()["content-security-policy"], csp, p);
        inaccessible.push(...(await axeViolations(page)));
      }
      assert.equal(order.status, 200);
      assert.deepEqual(violations, []);
      assert.deepEqual(inaccessible, [], "axe-core found WCAG 2 A/AA or best-practice violations");
      // The same pages on a 320 px phone whose browser text size is 150 %
      // (WCAG 1.4.4 and 1.4.10): none is wider than the screen. Grids with
      // rem minimums, a table of prices and an e-mail address had pushed
      // pages to 340-472 px (the shopper review).
      const wide = await tooWide(stack.base, [...examples, `/clips/${chooser}/`, clipPage, "/cart/", "/search/", ...workerPages]);
      assert.deepEqual(wide, [], "pages wider than a 320 px screen at 150 % text");
    } finally {
      await browser.close();
    }
  });
});

describe("partial refunds and disputes", () => {
  it("the same clip paid twice by one address (two payment pages, both paid): both orders work, and the owner is told which to refund", async () => {
    const [a] = present.slice(5, 6);
    const sessions = [unique("cs"), unique("cs")].map((id) => ({ id, object: "checkout.session", mode: "payment",
      metadata: { clips: a.slug }, amount_total: a.price, currency: manifest.shop.currency.toLowerCase() }));
    const first = await deliver(completed(sessions[0], { email: "Twice@Example.com", paymentIntent: unique("pi") }));
    const second = await deliver(completed(sessions[1], { email: "twice@example.com", paymentIntent: unique("pi") }));
    assert.deepEqual([first.status, second.status], [200, 200]);
    const alerts = await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(alerts.status, 200, await alerts.text());
    const log = await logMatching(stack, new RegExp(`${second.body.order_id}: paid for again`));
    assert.ok(log.includes(`paid for again (${a.slug}, bought on `), log);
    assert.ok(log.includes(` in order ${first.body.order_id}: two payment pages of the same clip, both paid). If it was a mistake, refund the payment of the order the customer has not downloaded with (\`site-gen orders show ${first.body.order_id}\` and \`show ${second.body.order_id}\``), log);
    assert.ok(!/paid for again[^\n]*@/.test(log), "no address in the alert");
    for (const to of ["Twice@Example.com", "twice@example.com"]) {
      const [mail] = await mailTo((m) => m.to.includes(to));
      const [link] = linksIn(mail.email.text);
      assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 200, "each order downloads");
    }
  });

  it("a partial refund keeps the links, alerts the owner, and the owner revokes one clip with site-gen", async () => {
    const [a, b] = present.slice(3, 5);
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: `${a.slug},${b.slug}` },
      amount_total: a.price + b.price, currency: manifest.shop.currency.toLowerCase() };
    const pi = unique("pi");
    const paid = await deliver(completed(session, { email: "two@example.com", paymentIntent: pi }));
    assert.equal(paid.status, 200);
    const partial = chargeEvent("charge.refunded", {
      id: "ch_p", object: "charge", amount: a.price + b.price, amount_refunded: a.price, refunded: false, payment_intent: pi,
      currency: manifest.shop.currency.toLowerCase(),
    });
    const refund = await deliver(partial);
    assert.equal(refund.status, 200);
    // What Stripe's dashboard shows the owner of the delivery.
    assert.deepEqual([refund.body.partial_refund, refund.body.revoked], [true, undefined], JSON.stringify(refund.body));
    assert.equal((await deliver(partial)).body.duplicate, true, "a redelivered partial refund is recorded once");
    const [mail] = await mailTo((m) => m.to.includes("two@example.com"));
    const [link] = linksIn(mail.email.text);
    assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 200, "a partial refund revokes nothing by itself");

    // The self-test tells the owner what to do.
    const alerts = await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(alerts.status, 200, await alerts.text());
    const health = await admin(stack, "GET", "/admin/payments?limit=10");
    assert.ok(health.body.payments.some((p) => p.outcome === "partial_refund" && p.order_id === paid.body.order_id));
    const log = await logMatching(stack, /payment matter\(s\) need a look/);
    assert.match(log, new RegExp(`site-gen orders revoke ${paid.body.order_id} --clip SLUG`));
    // The amounts in the shop's currency, as the owner reads them.
    const money = (minor) => price(minor);
    assert.ok(log.includes(`partially refunded (refunded: ${money(a.price)} of ${money(a.price + b.price)} back (refund)`), log);
    // The amount is one line's price: the alert names that clip.
    const order = paid.body.order_id;
    assert.ok(log.includes(a.price === b.price ? "that is the price of each of clips"
      : `that is the price of clip ${a.slug}: \`site-gen orders revoke ${order} --clip ${a.slug}\` stops it`), log);

    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const { stdout } = await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO,
      "revoke", paid.body.order_id, "--clip", a.slug], { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    assert.match(stdout, /clip \S+ revoked; the order's other clips keep working/, "the first time, not 'it already was'");
    const again = await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO,
      "revoke", paid.body.order_id, "--clip", a.slug], { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    assert.match(again.stdout, /revoked \(it already was\)/);
    const gone = await curl(`${link}/${a.slug}`);
    assert.equal(gone.status, 403);
    assert.match(gone.body.toString(), /refunded/);
    const kept = await curl(`${link}/${b.slug}`);
    assert.equal(kept.status, 200);
    assert.equal(sha256(kept.body), sha256(fs.readFileSync(b.file)));
    const page = await curl(link);
    assert.match(page.body.toString(), /Refunded/);
    assert.doesNotMatch(page.body.toString(), new RegExp(`/${a.slug}/licence"`), "no certificate for a refunded clip");
    const certificate = await curl(`${link}/${a.slug}/licence`);
    assert.equal(certificate.status, 403);
    assert.match(certificate.body.toString(), /refunded/, "said so, not 'not part of your order'");

    // The owner sends the customer a fresh link: it shares the order's downloads.
    await new Promise((r) => setTimeout(r, 1100)); // a token of another second
    const resent = await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO,
      "resend", paid.body.order_id], { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    assert.match(resent.stdout, /a fresh link e-mailed to two@example\.com: sent/);
    const mails = await mailTo((m) => m.to.includes("two@example.com") && linksIn(m.text).some((l) => l !== link));
    const [fresh] = linksIn(mails.at(-1).email.text);
    assert.ok(resent.stdout.includes(fresh), "the owner sees the link that was sent");
    // It lists the clip the customer kept, not the refunded one as ready
    // (the refunds review), and thanks for no order.
    const resentText = mails.at(-1).email.text;
    assert.match(resentText, /^Here is the download link of your order at /);
    assert.match(resentText, / · 1 clip\b/);
    assert.doesNotMatch(mail.email.text, / · 1 clip\b/, "the order mail listed both");
    assert.equal((await curl(`${fresh}/${b.slug}`)).status, 403, "b's one download was used through the first link");
    assert.equal((await curl(`${fresh}/${a.slug}`)).status, 403, "a stays revoked");
    // A reissue says so too (its output named every clip as new).
    const reissued = await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO,
      "reissue", paid.body.order_id], { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    assert.ok(reissued.stderr.includes(`Note: in order ${paid.body.order_id}, clip ${a.slug} is revoked`), reissued.stderr);
    assert.ok(reissued.stderr.includes("The e-mail lists the order's other clips only."), reissued.stderr);
  });

  // The refunds review: the owner who stopped the clip first and then
  // refunded its price was told to revoke the clip the customer kept (of
  // the same price), and the refunded one said "Withdrawn by the shop".
  it("the owner revokes a clip, then refunds its price: the refund names that clip as done, and the customer sees it refunded", async () => {
    const [a, b] = present.slice(3, 5);
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: `${a.slug},${b.slug}` },
      amount_total: a.price + b.price, currency: manifest.shop.currency.toLowerCase() };
    const pi = unique("pi");
    const paid = await deliver(completed(session, { email: "stop-first@example.com", paymentIntent: pi }));
    assert.equal(paid.status, 200);
    const order = paid.body.order_id;
    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO, "revoke", order, "--clip", b.slug],
      { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    const refund = await deliver(chargeEvent("charge.refunded", { id: unique("ch"), object: "charge", amount: a.price + b.price,
      amount_refunded: b.price, refunded: false, payment_intent: pi, currency: manifest.shop.currency.toLowerCase() }));
    assert.equal(refund.body.partial_refund, true, JSON.stringify(refund.body));
    const payments = await admin(stack, "GET", "/admin/payments?limit=20");
    const row = payments.body.payments.find((p) => p.order_id === order && p.outcome === "partial_refund");
    assert.ok(row.detail.endsWith(`that is the price of clip ${b.slug}, which you revoked already: nothing more to do`), row.detail);
    assert.ok(!row.detail.includes(`--clip ${a.slug}`), row.detail);
    const [mail] = await mailTo((m) => m.to.includes("stop-first@example.com"));
    const [link] = linksIn(mail.email.text);
    const gone = await curl(`${link}/${b.slug}`);
    assert.equal(gone.status, 403);
    assert.match(gone.body.toString(), /refunded/);
    assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 200, "the kept clip downloads");
  });

  it("a refund Stripe delivers before the checkout event: the order is created revoked, and no mail goes out", async () => {
    const [a] = present.slice(2, 3);
    const pi = unique("pi");
    const refund = chargeEvent("charge.refunded", { id: "ch_early", object: "charge", amount: a.price, amount_refunded: a.price,
      refunded: true, payment_intent: pi });
    const early = await deliver(refund);
    assert.equal(early.status, 200);
    assert.equal(early.body.pending, true);
    assert.equal((await deliver(refund)).body.duplicate, true, "a redelivered refund is a duplicate");
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const paid = await deliver(completed(session, { email: "early@example.com", paymentIntent: pi }));
    assert.equal(paid.status, 200);
    const shown = await admin(stack, "GET", `/admin/orders/${paid.body.order_id}`);
    assert.equal(shown.body.order.revoked_reason, "refunded");
    const thanks = await curl(`${stack.base}/thanks?session_id=${session.id}`);
    assert.equal(thanks.status, 403);
    assert.match(thanks.body.toString(), /refunded/);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("early@example.com")).length, 0, "no order mail");

    // A reissue would make a refunded order's downloads work again: site-gen
    // refuses it unless the owner says so, and changes nothing.
    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const reissue = await run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO, "reissue",
      paid.body.order_id, "--base-url", `${stack.base}/download`], { cwd: REPO,
      env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789", CLIPSTORE_SIGNING_KEY: SIGNING_KEY } })
      .catch((e) => e);
    assert.equal(reissue.code, 1, reissue.stderr);
    assert.match(reissue.stderr, /was revoked because its payment was refunded: .*nothing was changed/);
    const after = await admin(stack, "GET", `/admin/orders/${paid.body.order_id}`);
    assert.equal(after.body.order.revoked_reason, "refunded", "still revoked");
    assert.ok(!after.body.events?.some((e) => e.kind === "reissue"), JSON.stringify(after.body.events));
  });

  it("a dispute revokes the order; a refund of an unknown payment changes nothing and is recorded", async () => {
    const [a] = present.slice(5, 6);
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const pi = unique("pi");
    const paid = await deliver(completed(session, { email: "three@example.com", paymentIntent: pi }));
    const dispute = chargeEvent("charge.dispute.created", { id: "dp_1", object: "dispute", amount: a.price, charge: "ch_x",
      payment_intent: pi, reason: "fraudulent", status: "needs_response" });
    const res = await deliver(dispute);
    assert.equal(res.status, 200);
    assert.equal(res.body.revoked, "disputed");
    const again = await deliver(dispute);
    assert.equal(again.body.duplicate, true, "a redelivery is a duplicate");
    const [mail] = await mailTo((m) => m.to.includes("three@example.com"));
    const [link] = linksIn(mail.email.text);
    assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 403);
    // The customer is told it is disputed, not that it was refunded.
    const page = await curl(link);
    assert.equal(page.status, 403);
    assert.match(page.body.toString(), /This purchase is disputed/);

    const orphan = await deliver(chargeEvent("charge.refunded", { id: "ch_o", object: "charge", amount: 100, amount_refunded: 100,
      refunded: true, payment_intent: unique("pi") }));
    assert.equal(orphan.status, 200);
    assert.equal(orphan.body.order_id, null);
    assert.equal(paid.status, 200);

    // The shop wins the dispute: the same link works again, nothing for the owner to do.
    const closed = (status) => chargeEvent("charge.dispute.closed", { id: "dp_1", object: "dispute", amount: a.price,
      charge: "ch_x", payment_intent: pi, reason: "fraudulent", status });
    const won = await deliver(closed("won"));
    assert.equal(won.status, 200);
    assert.equal(won.body.restored, true);
    assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 200, "the link works again");
    const detail = (await admin(stack, "GET", `/admin/orders/${paid.body.order_id}`)).body;
    assert.equal(detail.order.revoked_at, null);
    assert.ok(detail.events.some((e) => e.kind === "restore"), JSON.stringify(detail.events));
  });

  it("a dispute won mails a fresh link, with the time the dispute took given back; a dispute lost leaves the order revoked, as refunded", async () => {
    const [a] = present.slice(5, 6);
    const buy = async (to) => {
      const pi = unique("pi");
      const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
        amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
      const paid = await deliver(completed(session, { email: to, paymentIntent: pi }));
      assert.equal(paid.status, 200);
      return { pi, order: paid.body.order_id };
    };
    const dispute = (type, pi, status) => chargeEvent(type, { id: unique("dp"), object: "dispute", amount: a.price,
      charge: unique("ch"), payment_intent: pi, reason: "fraudulent", status });
    const outboxTo = async (to) => (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.find((m) => m.to === to);
    // The mail provider fails; the dispute arrives while the mail waits.
    resend.failNext(1);
    const early = await buy("nine@example.com");
    const deadline = Date.now() + 10_000;
    while ((await outboxTo("nine@example.com"))?.attempts !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await deliver(dispute("charge.dispute.created", early.pi, "needs_response"))).body.revoked, "disputed");
    assert.match((await outboxTo("nine@example.com")).last_error, /^withdrawn: the order was disputed/);
    const won = await deliver(dispute("charge.dispute.closed", early.pi, "won"));
    assert.equal(won.body.restored, true);
    const [mail] = await mailTo((m) => m.to.includes("nine@example.com"));
    const mails = (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.filter((m) => m.to === "nine@example.com");
    assert.deepEqual(mails.map((m) => [m.kind, m.status]), [["resend", "sent"], ["order", "failed"]],
      "a fresh link mail; the withdrawn one stays withdrawn");
    const [link] = linksIn(mail.email.text);
    assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 200, "the mailed link works");
    // It says why it comes: the customer was told the dispute ended the links.
    assert.match(mail.email.subject, new RegExp(`can be downloaded again: order ${early.order}$`));
    assert.match(mail.email.text, /^The dispute about the payment of your order at .* is closed, and your downloads work again\./);

    // A dispute's closing delivered before its opening (Stripe promises no
    // order; the cron reads missed events back newest first): the opening
    // revokes nothing. A review found such an order revoked for good, the
    // money the shop's. A later dispute of the payment still revokes.
    const reordered = await buy("twelve@example.com");
    const [reorderedMail] = await mailTo((m) => m.to.includes("twelve@example.com"));
    const [reorderedLink] = linksIn(reorderedMail.email.text);
    const same = (type, status) => chargeEvent(type, { id: "du_reordered", object: "dispute", amount: a.price,
      charge: unique("ch"), payment_intent: reordered.pi, reason: "fraudulent", status });
    assert.equal((await deliver(same("charge.dispute.closed", "warning_closed"))).body.restored, false);
    const opened = await deliver(same("charge.dispute.created", "warning_needs_response"));
    assert.deepEqual([opened.status, opened.body.closed_before, opened.body.revoked], [200, true, undefined], JSON.stringify(opened.body));
    assert.equal((await curl(`${reorderedLink}/${a.slug}`, { args: ["-I"] })).status, 200, "the order still downloads");
    assert.equal((await deliver(dispute("charge.dispute.created", reordered.pi, "needs_response"))).body.revoked, "disputed",
      "another dispute of the payment revokes");

    // A dispute takes weeks: won after the order's links expired, the order
    // gets back the time the dispute took from it, from the day it closed,
    // and the customer a link to that. The ledger is set back in time as if
    // the dispute had opened 40 days ago with 20 days left.
    const order = async (o) => (await admin(stack, "GET", `/admin/orders/${o}`)).body.order;
    const sql = (command) => stack.wrangler(["d1", "execute", "DB", "--command", command]);
    const days = 86_400;
    const weeks = await buy("fourteen@example.com");
    const [before] = await mailTo((m) => m.to.includes("fourteen@example.com"));
    assert.equal((await deliver(dispute("charge.dispute.created", weeks.pi, "needs_response"))).body.revoked, "disputed");
    const then = Math.floor(Date.now() / 1000);
    await sql(`UPDATE orders SET revoked_at = ${then - 40 * days}, expires_at = ${then - 20 * days} WHERE order_id = '${weeks.order}'`);
    assert.equal((await deliver(dispute("charge.dispute.closed", weeks.pi, "won"))).body.restored, true);
    const expiry = (await order(weeks.order)).expires_at;
    assert.equal((await order(weeks.order)).revoked_reason, null, "no reason of a revoke on a working order");
    assert.ok(Math.abs(expiry - (then + 20 * days)) < 120, `expires ${expiry - then} s from now, not ${20 * days}`);
    const [fresh] = await mailTo((m) => m.to.includes("fourteen@example.com") && m !== before.email);
    const [freshLink] = linksIn(fresh.email.text);
    assert.notEqual(freshLink, linksIn(before.email.text)[0], "a new link");
    const orderPage = await curl(freshLink);
    assert.equal(orderPage.status, 200);
    assert.ok(orderPage.body.toString().includes(`<time>${utcDate(expiry)}</time>`), "the new link runs to the new expiry");
    assert.equal((await curl(`${freshLink}/${a.slug}`, { args: ["-I"] })).status, 200, "the fresh link works");
    // Expired before its dispute opened: restored as it was, and no mail.
    const stale = await buy("fifteen@example.com");
    await mailTo((m) => m.to.includes("fifteen@example.com"));
    await deliver(dispute("charge.dispute.created", stale.pi, "needs_response"));
    await sql(`UPDATE orders SET revoked_at = ${then - 40 * days}, expires_at = ${then - 45 * days} WHERE order_id = '${stale.order}'`);
    assert.equal((await deliver(dispute("charge.dispute.closed", stale.pi, "won"))).body.restored, true);
    assert.equal((await order(stale.order)).expires_at, then - 45 * days);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("fifteen@example.com")).length, 1, "only the order mail");

    // Lost: the bank gave the money back. The order stays revoked, as
    // refunded: its page told the customer to wait for the dispute, for
    // ever, and nothing in the order's history said it had closed.
    const lost = await buy("ten@example.com");
    const [tenth] = await mailTo((m) => m.to.includes("ten@example.com"));
    const [tenLink] = linksIn(tenth.email.text);
    assert.equal((await deliver(dispute("charge.dispute.created", lost.pi, "needs_response"))).status, 200);
    assert.match((await curl(tenLink)).body.toString(), /This purchase is disputed/);
    const closed = await deliver(dispute("charge.dispute.closed", lost.pi, "lost"));
    assert.equal(closed.status, 200);
    assert.equal(closed.body.revoked, "refunded", JSON.stringify(closed.body));
    const lostOrder = (await admin(stack, "GET", `/admin/orders/${lost.order}`)).body;
    assert.equal(lostOrder.order.revoked_reason, "refunded");
    assert.notEqual(lostOrder.order.revoked_at, null, "still revoked");
    assert.ok(lostOrder.events.some((e) => e.kind === "revoke" && /dispute lost/.test(e.detail)), JSON.stringify(lostOrder.events));
    const page = await curl(tenLink);
    assert.equal(page.status, 403);
    assert.match(page.body.toString(), /This purchase was refunded/);

    // An inquiry settled the way Stripe advises, by a full refund: the
    // inquiry then closes `warning_closed`, and the order stays refunded. The
    // owner's own revoke during a dispute stays too.
    const settled = await buy("eleven@example.com");
    const [eleventh] = await mailTo((m) => m.to.includes("eleven@example.com"));
    const [elevenLink] = linksIn(eleventh.email.text);
    assert.equal((await deliver(dispute("charge.dispute.created", settled.pi, "warning_needs_response"))).body.revoked, "disputed");
    const refund = chargeEvent("charge.refunded", { id: unique("ch"), object: "charge", amount: a.price,
      amount_refunded: a.price, refunded: true, payment_intent: settled.pi });
    assert.equal((await deliver(refund)).body.revoked, "refunded");
    const inquiryClosed = await deliver(dispute("charge.dispute.closed", settled.pi, "warning_closed"));
    assert.equal(inquiryClosed.body.restored, false, JSON.stringify(inquiryClosed.body));
    assert.equal((await order(settled.order)).revoked_reason, "refunded");
    const refused = await curl(`${elevenLink}/${a.slug}`, { args: ["-I"] });
    assert.equal(refused.status, 403, "the refunded customer's link stays stopped");

    // A dispute Stripe delivers before the checkout event (after a webhook
    // outage): the order is made revoked with no mail; the dispute won, the
    // customer gets a mail with a link, and it works.
    const early2 = unique("pi");
    assert.equal((await deliver(dispute("charge.dispute.created", early2, "needs_response"))).body.pending, true);
    const lateSession = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const late = await deliver(completed(lateSession, { email: "thirteen@example.com", paymentIntent: early2 }));
    assert.equal(late.status, 200, JSON.stringify(late.body));
    assert.equal((await order(late.body.order_id)).revoked_reason, "disputed");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("thirteen@example.com")).length, 0, "no mail while disputed");
    assert.equal((await deliver(dispute("charge.dispute.closed", early2, "won"))).body.restored, true);
    const [thirteenth] = await mailTo((m) => m.to.includes("thirteen@example.com"));
    const [thirteenLink] = linksIn(thirteenth.email.text);
    assert.equal((await curl(`${thirteenLink}/${a.slug}`, { args: ["-I"] })).status, 200, "the mailed link works");

    // Opened and won before the checkout event arrived: the order is made
    // working, with its mail.
    const early3 = unique("pi");
    assert.equal((await deliver(dispute("charge.dispute.created", early3, "needs_response"))).body.pending, true);
    assert.equal((await deliver(dispute("charge.dispute.closed", early3, "won"))).status, 200);
    const lateWon = await deliver(completed({ ...lateSession, id: unique("cs") }, { email: "sixteen@example.com", paymentIntent: early3 }));
    assert.equal(lateWon.status, 200, JSON.stringify(lateWon.body));
    assert.equal((await order(lateWon.body.order_id)).revoked_at, null);
    const [sixteenth] = await mailTo((m) => m.to.includes("sixteen@example.com"));
    assert.equal((await curl(`${linksIn(sixteenth.email.text)[0]}/${a.slug}`, { args: ["-I"] })).status, 200);

    const revokedByOwner = await buy("twelve@example.com");
    await deliver(dispute("charge.dispute.created", revokedByOwner.pi, "needs_response"));
    assert.equal((await admin(stack, "POST", `/admin/orders/${revokedByOwner.order}/revoke`)).status, 200);
    assert.equal((await deliver(dispute("charge.dispute.closed", revokedByOwner.pi, "won"))).body.restored, false);
    assert.notEqual((await order(revokedByOwner.order)).revoked_at, null, "the owner's revoke stays");
    // Revoked by the owner before the dispute opened: its win restores
    // nothing, and mails nothing.
    const revokedFirst = await buy("seventeen@example.com");
    await mailTo((m) => m.to.includes("seventeen@example.com"));
    assert.equal((await admin(stack, "POST", `/admin/orders/${revokedFirst.order}/revoke`)).status, 200);
    await deliver(dispute("charge.dispute.created", revokedFirst.pi, "needs_response"));
    assert.equal((await order(revokedFirst.order)).revoked_reason, "admin");
    assert.equal((await deliver(dispute("charge.dispute.closed", revokedFirst.pi, "won"))).body.restored, false);
    assert.notEqual((await order(revokedFirst.order)).revoked_at, null);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("seventeen@example.com")).length, 1, "the order mail only");
  });
});

describe("'Lost your download link?' for orders that changed since", () => {
  // From a client of its own: the earlier tests used up 127.0.0.1's
  // recovery requests for the hour.
  const recoverFor = (email) => fetch(`${stack.base}/orders/recover`, {
    method: "POST", body: form([["email", email]]),
    headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.7" },
  });
  const recoveryMailTo = async (email, after) => {
    const [mail] = await mailTo((m) => m.to.includes(email) && /download links|^Your orders at/i.test(m.subject)
      && resend.sent.findIndex((s) => s.email === m) >= after);
    return mail;
  };

  it("an expired order is named with its date, a clip refunded on its own is left out, and an address the owner resent a link to finds the order", async () => {
    const [a, b] = present.slice(2, 4);
    const to = "recover@example.com";
    const buy = async (clips) => {
      const session = { id: unique("cs"), object: "checkout.session", mode: "payment",
        metadata: { clips: clips.map((c) => c.slug).join(",") }, amount_total: clips.reduce((s, c) => s + c.price, 0),
        currency: manifest.shop.currency.toLowerCase() };
      const paid = await deliver(completed(session, { email: to }));
      assert.equal(paid.status, 200);
      return paid.body.order_id;
    };
    const old = await buy([a]);
    const both = await buy([a, b]);
    await mailTo((m) => m.to.includes(to) && !/download links|^Your orders at/i.test(m.subject));
    // The first order's link ran out; one clip of the second was refunded.
    await stack.wrangler(["d1", "execute", "DB", "--command", `UPDATE orders SET expires_at = 1764547200 WHERE order_id = '${old}'`]);
    assert.equal((await admin(stack, "POST", `/admin/orders/${both}/revoke?clip=${b.slug}`)).status, 200);
    await new Promise((r) => setTimeout(r, 1100));
    let after = resend.sent.length;
    assert.equal((await recoverFor(to)).status, 200);
    const mail = await recoveryMailTo(to, after);
    assert.match(mail.email.text, new RegExp(`Order ${old}: expired on 1 December 2025, 00:00 UTC`));
    assert.match(mail.email.text, /For a new link of an order whose time ran out, reply to .* with its order number/);
    const links = linksIn(mail.email.text).filter((l) => l.includes("/download/"));
    assert.equal(links.length, 1, "a link for the order that still downloads only");
    assert.ok(mail.email.text.includes(a.title), mail.email.text);
    assert.ok(!mail.email.text.includes(b.title), "the refunded clip is not offered");

    // The owner resends the second order to the customer's other address:
    // asking with that address finds it, and the mail goes there.
    const other = "recover-work@example.com";
    assert.equal((await admin(stack, "POST", `/admin/orders/${both}/resend?to=${encodeURIComponent(other)}`)).status, 200);
    await mailTo((m) => m.to.includes(other));
    await new Promise((r) => setTimeout(r, 1100));
    after = resend.sent.length;
    assert.equal((await recoverFor(other)).status, 200);
    const second = await recoveryMailTo(other, after);
    assert.ok(second.email.to.includes(other), "to the address asked with");
    assert.equal(linksIn(second.email.text).filter((l) => l.includes("/download/")).length, 1);
  });

  // An order paid by bank transfer has no checkout: its link minted by hand
  // and resent to the customer, "Lost your download link?" said a mail was
  // on its way and sent none.
  it("an order minted by hand, its link resent to the customer, is found by their address", async () => {
    const [a] = present.slice(2, 3);
    const to = "transfer@example.com";
    const order = unique("ORD-BANK");
    const { url } = await mint(stack, { order, clips: [a.slug] });
    assert.equal((await curl(url)).status, 200, "the order is known once its link was opened");
    assert.equal((await admin(stack, "POST", `/admin/orders/${order}/resend?to=${encodeURIComponent(to)}`)).status, 200);
    await mailTo((m) => m.to.includes(to));
    await new Promise((r) => setTimeout(r, 1100));
    const after = resend.sent.length;
    const asked = await fetch(`${stack.base}/orders/recover`, {
      method: "POST", body: form([["email", to]]),
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.9" },
    });
    assert.equal(asked.status, 200);
    const mail = await recoveryMailTo(to, after);
    assert.ok(mail.email.text.includes(order), mail.email.text);
    const [link] = linksIn(mail.email.text).filter((l) => l.includes("/download/"));
    assert.ok(link && link !== url, "a fresh link");
    assert.equal((await curl(`${link}/${a.slug}`)).status, 200);
    // A plain resend goes where the last link mail went (the support
    // review: it went back to the checkout's address, or to none).
    const plain = await admin(stack, "POST", `/admin/orders/${order}/resend`);
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.equal(plain.body.to, to);
  });

  it("a mistyped checkout address the owner replaces (reissue --to … --replace-address) no longer gets the order's links for the asking", async () => {
    // The owner review: after a reissue to the corrected address, asking
    // with the typo still mailed its owner a fresh, working link.
    const [a] = present.slice(2, 3);
    const typo = "jane.doe@exmaple.com";
    const right = "jane.doe@example.com";
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const paid = await deliver(completed(session, { email: typo }));
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    const order = paid.body.order_id;
    const [first] = await mailTo((m) => m.to.includes(typo));
    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const orders = (...args) => run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO, ...args],
      { cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } });
    // An address the Worker would refuse (pasted with its comma) is refused
    // before anything changes (the attack review: the reissue stopped the
    // old links, then the Worker refused the mail and the replacement).
    const comma = await orders("reissue", order, "--to", `${right},`, "--replace-address").catch((e) => e);
    assert.match(String(comma.stderr), /is not an e-mail address .*nothing was changed/);
    assert.equal((await curl(linksIn(first.email.text)[0])).status, 200, "its links unchanged");
    await new Promise((r) => setTimeout(r, 1100)); // links of another second
    const { stdout, stderr } = await orders("reissue", order, "--to", right, "--replace-address");
    assert.match(stderr, new RegExp(`order ${order}'s address is now ${right.replace(/\./g, "\\.")}: the earlier ones no longer`));
    const [fresh] = await mailTo((m) => m.to.includes(right));
    const [link] = linksIn(fresh.email.text);
    assert.ok(stdout.includes(link), "the owner sees the link mailed");
    assert.equal((await curl(linksIn(first.email.text)[0])).status, 403, "the typo's link stopped");
    await new Promise((r) => setTimeout(r, 1100));
    const after = resend.sent.length;
    assert.equal((await recoverFor(typo)).status, 200, "the same answer for any address");
    assert.equal((await recoverFor(right)).status, 200);
    const found = await recoveryMailTo(right, after);
    const [recovered] = linksIn(found.email.text).filter((l) => l.includes("/download/"));
    assert.equal((await curl(`${recovered}/${a.slug}`, { args: ["-I"] })).status, 200, "the right address gets a working link");
    // The typo, asked first, was sent nothing (an address with no order
    // gets no mail).
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(resend.sent.slice(after).filter((m) => m.email.to.includes(typo)).map((m) => m.email.subject), []);
    // The owner sees the corrected address, and the typo in the history.
    const shown = (await admin(stack, "GET", `/admin/orders/${order}`)).body;
    assert.ok(shown.events.some((e) => e.kind === "address" && e.detail === `to ${right}, was ${typo}`), JSON.stringify(shown.events));
  });

  it("an address whose only order ended gets a mail saying so, not silence", async () => {
    const [a] = present.slice(2, 3);
    const to = "ended@example.com";
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const pi = unique("pi");
    const paid = await deliver(completed(session, { email: to, paymentIntent: pi }));
    await mailTo((m) => m.to.includes(to));
    const refund = await deliver(chargeEvent("charge.refunded", { id: unique("ch"), object: "charge", amount: a.price,
      amount_refunded: a.price, refunded: true, payment_intent: pi }));
    assert.equal(refund.body.revoked, "refunded");
    const after = resend.sent.length;
    assert.equal((await recoverFor(to)).status, 200);
    const mail = await recoveryMailTo(to, after);
    assert.match(mail.email.text, /^We found no order at .* that can still be downloaded for this address/);
    assert.match(mail.email.subject, /^Your orders at /, "no \"download links\" promised in a mail without any");
    assert.doesNotMatch(mail.email.text, /Here are the download links|Keep these links private|time ran out/);
    assert.match(mail.email.text, new RegExp(`Order ${paid.body.order_id}: refunded`));
    assert.equal(linksIn(mail.email.text).filter((l) => l.includes("/download/")).length, 0);
  });

  // The owner took the order's clip out of the catalog (renamed or deleted)
  // and deployed: a mail of "0 clips" with "Your downloads are ready" went
  // out, from the recovery and from the owner's resend alike.
  it("an order whose clips the catalog no longer has is named as such, and a resend of it is refused, not mailed empty", async () => {
    const [a] = present.slice(2, 3);
    const to = "gone@example.com";
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const paid = await deliver(completed(session, { email: to }));
    assert.equal(paid.status, 200);
    const order = paid.body.order_id;
    await mailTo((m) => m.to.includes(to));
    await stack.wrangler(["d1", "execute", "DB", "--command",
      `UPDATE orders SET clips = '["no-longer-sold"]', choices = NULL WHERE order_id = '${order}'`]);
    await new Promise((r) => setTimeout(r, 1100));
    const after = resend.sent.length;
    const asked = await fetch(`${stack.base}/orders/recover`, {
      method: "POST", body: form([["email", to]]),
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.8" },
    });
    assert.equal(asked.status, 200);
    const mail = await recoveryMailTo(to, after);
    assert.match(mail.email.text, new RegExp(`Order ${order}: its clips are no longer in the shop`));
    assert.doesNotMatch(mail.email.text, /0 clips/);
    assert.equal(linksIn(mail.email.text).filter((l) => l.includes("/download/")).length, 0);

    const resent = await admin(stack, "POST", `/admin/orders/${order}/resend`);
    assert.equal(resent.status, 409, JSON.stringify(resent.body));
    assert.match(resent.body.error, /none of order .*'s clips \(no-longer-sold\) is in the deployed catalog/);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes(to)).length, 2, "the order mail and the recovery mail only");
  });
});

describe("a checkout the Worker refused, made good by the owner", () => {
  it("the alert's filled-in orders create: mailed, found by 'Lost your download link?', Stripe's retry is a duplicate, a refund revokes it", async () => {
    const a = present[4];
    const pi = unique("pi");
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: "no-such-clip" },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const refused = await deliver(completed(session, { email: "hand@example.com", paymentIntent: pi }));
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error, "unknown_clip");
    // The customer's success page says the order needs the shop, and does
    // not check again (nothing changes by itself).
    const held = (await curl(`${stack.base}/thanks?session_id=${session.id}`)).body.toString();
    assert.match(held, /your payment has arrived/);
    assert.doesNotMatch(held, /data-await-order|\/download\//);

    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const env = { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" };
    const create = (order, ...more) => run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO, "create", order,
      "--clip", a.slug, "--to", "hand@example.com", "--downloads", "1", ...more], { cwd: REPO, env }).catch((e) => e);

    // The self-test's alert gives the command that makes the order, filled
    // in from the checkout; the owner puts the clip they should have in
    // place of the one the catalog lacks, and runs it as it is.
    const scheduled = await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(scheduled.status, 200, await scheduled.text());
    const filled = new RegExp(`in place of the one the catalog lacks: \`(site-gen orders create (PAY-[0-9a-f]{20}) [^\`]*--session ${session.id}[^\`]*)\``);
    const [, command, order] = (await logMatching(stack, filled)).match(filled);
    // Until the order is made, doctor fails on it, however old the alert.
    const doctor = () => run(cmd, [...pre, "doctor", "--root", REPO, "--worker-url", stack.base], { cwd: REPO, env }).catch((e) => e);
    const waiting = await doctor();
    assert.equal(waiting.code, 1, waiting.stdout);
    assert.match(waiting.stdout, /FAIL  open incident `checkouts_refused`: a customer paid, but the checkout named a clip the catalog lacks/);
    assert.equal(command, `site-gen orders create ${order} --to hand@example.com --downloads 1 --expires 30d ` +
      `--session ${session.id} --payment ${pi} --clip no-such-clip`);
    const owner = command.replace("--clip no-such-clip", `--clip ${a.slug}`).replace(/^site-gen /, `${[cmd, ...pre].join(" ")} `);
    const made = await run("sh", ["-c", owner], { cwd: REPO, env: { ...env, CLIPSTORE_WORKER_URL: stack.base } }).catch((e) => e);
    assert.equal(made.code ?? 0, 0, made.stderr);
    const [mail] = await mailTo((m) => m.to.includes("hand@example.com"));
    assert.equal((await curl(`${linksIn(mail.email.text)[0]}/${a.slug}`, { args: ["-I"] })).status, 200);
    assert.match((await curl(`${stack.base}/thanks?session_id=${session.id}`)).body.toString(), /Thank you for your order/);
    await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.doesNotMatch((await doctor()).stdout, /checkouts_refused/, "the checkout has its order");
    const twice = await create("HAND-2", "--session", session.id);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, new RegExp(`checkout ${session.id} already has order ${order}: nothing was created`));

    // The customer lost the mail: self-service finds the order by address.
    await new Promise((r) => setTimeout(r, 1100)); // a token of another second
    await fetch(`${stack.base}/orders/recover`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form([["email", "hand@example.com"]]) });
    const recovered = await mailTo((m) => m.to.includes("hand@example.com") && /download links/i.test(m.subject));
    assert.ok(recovered[0].email.text.includes(order), recovered[0].email.text);

    // Stripe retries the checkout once the clip is back: no second order.
    const retried = await deliver(completed({ ...session, metadata: { clips: a.slug } }, { email: "hand@example.com", paymentIntent: pi }));
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.duplicate, true, JSON.stringify(retried.body));

    // The payment is refunded: the order made by hand is revoked.
    const refund = await deliver(chargeEvent("charge.refunded", { id: "ch_hand", object: "charge", amount: a.price,
      amount_refunded: a.price, refunded: true, payment_intent: pi }));
    assert.equal(refund.status, 200);
    assert.equal(refund.body.order_id, order, JSON.stringify(refund.body));
    const shown = await admin(stack, "GET", `/admin/orders/${order}`);
    assert.equal(shown.body.order.revoked_reason, "refunded");

    // Disputed before the owner made it good: created revoked, nothing mailed.
    const pi2 = unique("pi");
    const session2 = { ...session, id: unique("cs") };
    assert.equal((await deliver(completed(session2, { email: "hand2@example.com", paymentIntent: pi2 }))).status, 422);
    const early = await deliver(chargeEvent("charge.dispute.created", { id: "dp_hand", object: "dispute", amount: a.price,
      charge: "ch_h2", payment_intent: pi2, reason: "fraudulent", status: "needs_response" }));
    assert.equal(early.body.pending, true, JSON.stringify(early.body));
    // Refused, then refunded in full: nobody waits for its order.
    const pi3 = unique("pi");
    const session3 = { ...session, id: unique("cs") };
    assert.equal((await deliver(completed(session3, { email: "hand3@example.com", paymentIntent: pi3 }))).status, 422);
    await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.match((await doctor()).stdout, /FAIL  open incident `checkouts_refused`/);
    const back = await deliver(chargeEvent("charge.refunded", { id: "ch_h3", object: "charge", amount: a.price,
      amount_refunded: a.price, refunded: true, payment_intent: pi3 }));
    assert.equal(back.body.pending, true, JSON.stringify(back.body));
    await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.doesNotMatch((await doctor()).stdout, /checkouts_refused/, "its payment was refunded (session2's is disputed)");

    const late = await create("HAND-3", "--session", session2.id, "--payment", pi2);
    assert.match(late.stdout, /Order HAND-3 created, and revoked at once/, late.stderr);
    assert.equal((await admin(stack, "GET", "/admin/orders/HAND-3")).body.order.revoked_reason, "disputed");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("hand@example.com") && m.email.subject.includes("HAND-3")).length, 0);
    // A payment without its checkout is refused: the order could not be found by either.
    const alone = await create("HAND-4", "--payment", unique("pi"));
    assert.equal(alone.code, 1);
    assert.match(alone.stderr, /--payment needs the checkout's --session/);
  });
});

describe("a payment that does not match the catalog", () => {
  it("a 100 %-off checkout still gets its clips, and the owner is told", async () => {
    const [a] = present.slice(7, 8);
    // A Payment Link's promotion code (the owner's); the cart's checkout has none.
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: 0, currency: manifest.shop.currency.toLowerCase(), payment_link: unique("plink") };
    const paid = await deliver(completed(session, { email: "five@example.com", amount: 0 }));
    assert.equal(paid.status, 200, "the customer paid what the payment page asked");
    const [mail] = await mailTo((m) => m.to.includes("five@example.com"));
    const [link] = linksIn(mail.email.text);
    assert.equal((await curl(`${link}/${a.slug}`, { args: ["-I"] })).status, 200);
    const payments = (await admin(stack, "GET", "/admin/payments?limit=50")).body.payments;
    const row = payments.find((p) => p.outcome === "amount_mismatch" && p.order_id === paid.body.order_id);
    assert.ok(row, JSON.stringify(payments.slice(0, 3)));
    // In the currency's unit, as the owner reads it (the sample shop's has cents).
    assert.ok(row.detail.includes(`paid ${price(0)} where the catalog prices the clips at ${price(a.price)}`), row.detail);
    await logMatching(stack, /"event":"payment_amount_mismatch"/);
  });
});

describe("paying while D1 is down", () => {
  // A network of its own: the success page's look-ups count against the
  // checkout limit (10 a minute) as checkouts do.
  const IP = "192.0.2.35";
  const ip = ["-H", `cf-connecting-ip: ${IP}`];
  // D1 failing as an outage fails it: every query of these tables errors.
  const TABLES = ["checkouts", "orders", "order_clips", "download_attempts", "refusal_minutes"];
  const d1 = (to) => stack.wrangler(["d1", "execute", "DB", "--command",
    TABLES.map((t) => (to === "down" ? `ALTER TABLE ${t} RENAME TO ${t}_offline;` : `ALTER TABLE ${t}_offline RENAME TO ${t};`)).join(" ")]);

  const paidCheckout = (clip, email) => paidCheckoutFrom(IP, clip, email);

  it("the success page asks Stripe, shows the link at once and it downloads; once D1 is back the order is the same one", async () => {
    const bought = present.at(-1);
    const { session, paymentIntent } = await paidCheckout(bought, "outage@example.com");
    const unpaid = await postCheckout(form([["clip", cart[0].slug], ["cart", "UnPaidCartUnPaidCart00"]]), undefined, IP);
    const unpaidSession = stripeApi.requests.at(-1).response;
    assert.equal(unpaid.status, 303);

    await d1("down");
    let link;
    try {
      const before = stripeApi.requests.length;
      const thanks = await curl(`${stack.base}/thanks?session_id=${session.id}`, { args: ip });
      assert.equal(thanks.status, 200, thanks.body.toString().slice(0, 500));
      [link] = linksIn(thanks.body.toString());
      assert.ok(link?.startsWith(`${stack.base}/download/`), thanks.body.toString().slice(0, 800));
      // A reload shows the same link (dated the session's creation).
      const again = await curl(`${stack.base}/thanks?session_id=${session.id}`, { args: ip });
      assert.deepEqual([...new Set(linksIn(again.body.toString()))], [link]);
      // What the Worker asked Stripe, and what Stripe's own library asks for
      // the same session: one request, the same line and credentials.
      const asked = stripeApi.requests.slice(before);
      assert.deepEqual(asked.map((r) => `${r.method} ${r.path} ${r.status}`), Array(2).fill(`GET /v1/checkout/sessions/${session.id} 200`));
      const lib = new Stripe(API_KEY, { host: "127.0.0.1", port: stripeApi.port, protocol: "http", apiVersion: API_VERSION });
      const fromLib = await lib.checkout.sessions.retrieve(session.id);
      assert.equal(fromLib.payment_status, "paid");
      const libRequest = stripeApi.requests.at(-1);
      assert.equal(`${libRequest.method} ${libRequest.path}`, `${asked[0].method} ${asked[0].path}`);
      for (const h of ["authorization", "stripe-version"]) assert.equal(asked[0].headers[h], libRequest.headers[h], h);
      assert.equal(asked[0].raw, "", "no body");

      // The link downloads during the outage (a 1-download link).
      const part = await curl(`${link}/${bought.slug}`, { args: ["-H", "Range: bytes=0-65535"] });
      assert.equal(part.status, 206);
      assert.deepEqual(part.body, fs.readFileSync(bought.file).subarray(0, 65536));

      // A session nobody paid: nothing to show but "unavailable".
      const notPaid = await curl(`${stack.base}/thanks?session_id=${unpaidSession.id}`, { args: ip });
      assert.equal(notPaid.status, 503);
      assert.doesNotMatch(notPaid.body.toString(), /\/download\//);
      await logMatching(stack, /"event":"order_link_from_stripe"/);
    } finally {
      await d1("up");
    }

    // D1 answers; the customer opens the link before Stripe's retry comes:
    // the order is made from the link. Stripe's retry makes it the
    // payment's (a refund of it then finds it), and mails a link to it; the
    // outage link keeps working.
    assert.equal((await curl(link)).status, 200);
    const paid = await deliver(completed(session, { email: "outage@example.com", paymentIntent }));
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    const shown = await admin(stack, "GET", `/admin/orders/${paid.body.order_id}`);
    assert.equal(shown.body.order.source, "stripe", JSON.stringify(shown.body.order));
    const page = (await curl(link)).body.toString();
    assert.ok(page.includes(paid.body.order_id), `the outage link's order page names ${paid.body.order_id}`);
    const [mail] = await mailTo((m) => m.to.includes("outage@example.com"));
    assert.ok(mail.email.subject.includes(paid.body.order_id), mail.email.subject);
    assert.equal((await curl(`${link}/${bought.slug}`, { args: ["-H", "Range: bytes=65536-131071"] })).status, 206);
  });

  it("an outage that outlasts Stripe's retries: the owner's orders create --session attaches the payment to the order the link made, and a refund then ends it", async () => {
    const bought = present.at(-2);
    const { session, paymentIntent } = await paidCheckout(bought, "after-retries@example.com");
    await d1("down");
    let link;
    try {
      const thanks = await curl(`${stack.base}/thanks?session_id=${session.id}`, { args: ip });
      assert.equal(thanks.status, 200, thanks.body.toString().slice(0, 500));
      [link] = linksIn(thanks.body.toString());
      assert.ok(link?.startsWith(`${stack.base}/download/`), thanks.body.toString().slice(0, 800));
    } finally {
      await d1("up");
    }
    // D1 is back, Stripe has given up (its event never arrives); the
    // customer opens the link: the order is made from it, without its payment.
    assert.equal((await curl(link)).status, 200);
    // The checkout's order id, as docs/payments.md gives it.
    const order = `PAY-${crypto.createHash("sha256").update(`stripe:${session.id}`).digest("hex").slice(0, 20)}`;
    assert.equal((await admin(stack, "GET", `/admin/orders/${order}`)).body.order.source, "token");

    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const env = { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" };
    const create = (id, ...clips) => run(cmd, [...pre, "orders", "--worker-url", stack.base, "--root", REPO, "create", id,
      "--to", "after-retries@example.com", "--downloads", "3", "--session", session.id, "--payment", paymentIntent,
      ...clips.flatMap((c) => ["--clip", c])], { cwd: REPO, env }).catch((e) => e);
    // The owner names an order of their own: refused, naming the one to use.
    const other = await create("HAND-LONG", bought.slug);
    assert.equal(other.code, 1, other.stdout);
    assert.match(other.stderr, new RegExp(`checkout ${session.id} already has order ${order}, made from the link its success page showed`));
    assert.equal((await admin(stack, "GET", "/admin/orders/HAND-LONG")).status, 404, "nothing was created");

    // Naming a clip the catalog no longer has (removed since the outage)
    // is no refusal: the order keeps its link's clips.
    const made = await create(order, bought.slug, present[0].slug, "removed-since-the-outage");
    assert.equal(made.code ?? 0, 0, made.stderr);
    assert.match(made.stdout, new RegExp(`Order ${order} already existed: the customer opened the link`));
    const kept = made.stdout.match(new RegExp(`It keeps the clips and downloads its link carries: ${bought.slug} \\((\\d+) download\\(s\\) each\\)`));
    assert.ok(kept, made.stdout);
    assert.match(made.stdout, new RegExp(`note: --clip named .*${present[0].slug}.*the order was left with its own`));
    const shown = await admin(stack, "GET", `/admin/orders/${order}`);
    assert.equal(shown.body.order.source, "stripe", JSON.stringify(shown.body.order));
    const clips = shown.body.order.clips;
    assert.deepEqual(typeof clips === "string" ? JSON.parse(clips) : clips, [bought.slug]);
    assert.equal(shown.body.order.allowance, Number(kept[1]), "the link's downloads, not --downloads 3");
    assert.equal(shown.body.events.filter((e) => e.kind === "create").length, 1, JSON.stringify(shown.body.events));
    // The customer gets the link by mail (the success page's was never mailed).
    const [mail] = await mailTo((m) => m.to.includes("after-retries@example.com"));
    assert.ok(mail.email.subject.includes(order), mail.email.subject);
    assert.equal((await curl(`${linksIn(mail.email.text)[0]}/${bought.slug}`, { args: ["-I"] })).status, 200);
    // Run again: the order is the checkout's; nothing is made twice.
    const again = await create(order, bought.slug);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`order ${order} already exists: nothing was created`));

    // A refund now finds the order, and ends the link the success page showed.
    const refund = await deliver(chargeEvent("charge.refunded", { id: "ch_long", object: "charge", amount: session.amount_total,
      amount_refunded: session.amount_total, refunded: true, payment_intent: paymentIntent }));
    assert.equal(refund.status, 200, JSON.stringify(refund.body));
    assert.equal(refund.body.order_id, order, JSON.stringify(refund.body));
    const page = await curl(link);
    assert.equal(page.status, 403);
    assert.match(page.body.toString(), /refunded/);
  });
});

describe("paying while D1 refuses writes", () => {
  const IP = "192.0.2.36";
  const ip = ["-H", `cf-connecting-ip: ${IP}`];
  it("the success page, which would wait for an order that cannot be written, asks Stripe and shows the link", async () => {
    const bought = present.at(-2);
    const res = await postCheckout(form([["clip", bought.slug]]), undefined, IP);
    assert.equal(res.status, 303, res.text);
    const session = stripeApi.requests.at(-1).response;
    stripeApi.pay(session.id, { email: "full@example.com", paymentIntent: unique("pi") });
    const sql = (command) => stack.wrangler(["d1", "execute", "DB", "--command", command]);
    const tables = ["thanks_waiting", "payment_events", "checkouts", "orders"];
    await sql(tables.map((t) => `CREATE TRIGGER full_${t} BEFORE INSERT ON ${t} BEGIN SELECT RAISE(ABORT, 'database full'); END;`).join(" "));
    try {
      assert.equal((await deliver(completed(session, { email: "full@example.com" }))).status, 503, "the webhook cannot record it");
      const thanks = await curl(`${stack.base}/thanks?session_id=${session.id}`, { args: ip });
      assert.equal(thanks.status, 200);
      const [link] = linksIn(thanks.body.toString());
      assert.ok(link, thanks.body.toString().slice(0, 800));
      assert.doesNotMatch(thanks.body.toString(), /being confirmed/);
      assert.equal((await curl(`${link}/${bought.slug}`, { args: ["-H", "Range: bytes=0-99"] })).status, 206);
    } finally {
      await sql(tables.map((t) => `DROP TRIGGER full_${t};`).join(" "));
    }
  });
});

describe("the mail provider failing", () => {
  it("delays the order mail, never loses it: a 500, then the cron run sends it once", async () => {
    const [a] = present.slice(6, 7);
    const to = "four@example.com";
    resend.failNext(1);
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const paid = await deliver(completed(session, { email: to }));
    assert.equal(paid.status, 200, "the order does not wait for the mail");
    const outbox = async () => (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.find((m) => m.to === to);
    const deadline = Date.now() + 10_000;
    while ((await outbox())?.attempts !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const waiting = await outbox();
    assert.equal(waiting.status, "queued", JSON.stringify(waiting));
    assert.match(waiting.last_error, /500/);
    assert.equal(resend.sent.filter((m) => m.email.to.includes(to)).length, 0);
    assert.ok(resend.requests.some((r) => r.status === 500), "the provider was asked and failed");

    // The retry is due after its back-off; let that time pass for the outbox.
    await stack.wrangler(["d1", "execute", "DB", "--command", `UPDATE outbox SET next_attempt_at = 0 WHERE to_addr = '${to}'`]);
    const cron = await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(cron.status, 200);
    const [mail] = await mailTo((m) => m.to.includes(to));
    assert.ok(linksIn(mail.email.text).length >= 1);
    const sent = await outbox();
    assert.equal(sent.status, "sent");
    assert.equal(sent.provider_id, mail.id, "marked sent with the provider's message id");
    await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(resend.sent.filter((m) => m.email.to.includes(to)).length, 1, "sent once");
  });

  it("once a mail goes through, those waiting out their back-off go at the next run, not up to an hour later", async () => {
    const [a] = present.slice(6, 7);
    const buy = (to) => deliver(completed({ id: unique("cs"), object: "checkout.session", mode: "payment",
      metadata: { clips: a.slug }, amount_total: a.price, currency: manifest.shop.currency.toLowerCase() }, { email: to }));
    const outboxTo = async (to) => (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.find((m) => m.to === to);
    resend.failNext(1);
    assert.equal((await buy("eleven@example.com")).status, 200);
    const deadline = Date.now() + 10_000;
    while ((await outboxTo("eleven@example.com"))?.attempts !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const waiting = await outboxTo("eleven@example.com");
    assert.equal(waiting.status, "queued");
    assert.ok(waiting.next_attempt_at > Date.now() / 1000, "waiting out its back-off");
    // The provider works again: the next order's mail goes through ...
    assert.equal((await buy("twelve@example.com")).status, 200);
    await mailTo((m) => m.to.includes("twelve@example.com"));
    // ... and the next run sends the one that waited.
    assert.equal((await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`)).status, 200);
    await mailTo((m) => m.to.includes("eleven@example.com"));
    assert.equal((await outboxTo("eleven@example.com")).status, "sent");
  });

  it("a full refund while the order mail waits withdraws the mail: no customer gets a link that answers 'refunded'", async () => {
    const [a] = present.slice(6, 7);
    const to = "six@example.com";
    const pi = unique("pi");
    resend.failNext(1);
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    assert.equal((await deliver(completed(session, { email: to, paymentIntent: pi }))).status, 200);
    const outbox = async () => (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.find((m) => m.to === to);
    const deadline = Date.now() + 10_000;
    while ((await outbox())?.attempts !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await outbox()).status, "queued", "the provider failed: the mail waits for its retry");

    const refund = await deliver(chargeEvent("charge.refunded", { id: unique("ch"), object: "charge", amount: a.price,
      amount_refunded: a.price, refunded: true, payment_intent: pi }));
    assert.equal(refund.status, 200);
    assert.equal(refund.body.revoked, "refunded");
    const withdrawn = await outbox();
    assert.equal(withdrawn.status, "failed");
    assert.equal(withdrawn.last_error, "withdrawn: the order was refunded before the mail went out");
    await stack.wrangler(["d1", "execute", "DB", "--command", `UPDATE outbox SET next_attempt_at = 0 WHERE to_addr = '${to}'`]);
    assert.equal((await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`)).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(resend.sent.filter((m) => m.email.to.includes(to)).length, 0, "never sent");
  });

  it("a mail waiting for an order revoked since (the owner's revoke, a refund that raced its checkout) is withdrawn by the next delivery run", async () => {
    const [a, b] = present.slice(6, 8);
    const waiting = async (to, clip) => {
      resend.failNext(1);
      const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: clip.slug },
        amount_total: clip.price, currency: manifest.shop.currency.toLowerCase() };
      const paid = await deliver(completed(session, { email: to, paymentIntent: unique("pi") }));
      assert.equal(paid.status, 200);
      const deadline = Date.now() + 10_000;
      while ((await outboxTo(to))?.attempts !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.equal((await outboxTo(to)).status, "queued", "the provider failed: the mail waits for its retry");
      return paid.body.order_id;
    };
    const outboxTo = async (to) => (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.find((m) => m.to === to);
    const revokedByOwner = await waiting("seven@example.com", a);
    assert.equal((await admin(stack, "POST", `/admin/orders/${revokedByOwner}/revoke`)).status, 200);
    // A refund whose batch D1 wrote just after the checkout read no order and
    // just before the order was made leaves this state (REVOKE_OF_PAYMENT,
    // REVOKE_IF_PENDING): the order revoked, its mail queued.
    const raced = await waiting("eight@example.com", b);
    await stack.wrangler(["d1", "execute", "DB", "--command",
      `UPDATE orders SET revoked_at = 1, revoked_reason = 'refunded' WHERE order_id = '${raced}'`]);
    assert.equal((await outboxTo("eight@example.com")).status, "queued");
    await stack.wrangler(["d1", "execute", "DB", "--command", "UPDATE outbox SET next_attempt_at = 0 WHERE to_addr IN ('seven@example.com', 'eight@example.com')"]);
    assert.equal((await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`)).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    for (const [to, why] of [["seven@example.com", "revoked"], ["eight@example.com", "refunded"]]) {
      const mail = await outboxTo(to);
      assert.equal(mail.status, "failed", JSON.stringify(mail));
      assert.equal(mail.last_error, `withdrawn: the order was ${why} before the mail went out`);
      assert.equal(resend.sent.filter((m) => m.email.to.includes(to)).length, 0, `never sent to ${to}`);
    }
  });
});

describe("mail the provider refuses for good", () => {
  it("is kept as failed, never retried, and the self-test tells the owner how to send it again", async () => {
    const [a] = present.slice(8, 9);
    const to = "typo@@example.com"; // Resend answers 422 for it
    const session = { id: unique("cs"), object: "checkout.session", mode: "payment", metadata: { clips: a.slug },
      amount_total: a.price, currency: manifest.shop.currency.toLowerCase() };
    const paid = await deliver(completed(session, { email: to }));
    assert.equal(paid.status, 200);
    const entry = async () => (await admin(stack, "GET", "/admin/outbox?limit=100")).body.outbox.find((m) => m.to === to);
    const deadline = Date.now() + 10_000;
    while ((await entry())?.status !== "failed" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const failed = await entry();
    assert.equal(failed.status, "failed", JSON.stringify(failed));
    assert.match(failed.last_error, /422/);
    const asked = resend.requests.filter((r) => JSON.stringify(r.body).includes(to)).length;
    await fetch(`${stack.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    const log = await logMatching(stack, /refused by the mail provider for good/);
    assert.match(log, new RegExp(`order mail of ${paid.body.order_id}: Resend answered 422`));
    assert.ok(!/"notice":[^\n]*typo@@example\.com/.test(log), "the alert names the order, not the address");
    assert.equal(resend.requests.filter((r) => JSON.stringify(r.body).includes(to)).length, asked, "never retried");
  });
});

describe("checkout refusals: a clear page, and nothing charged or written", () => {
  const requests = () => stripeApi.requests.length;

  it("an empty cart, an unknown clip, too many clips, a non-form body, an oversized body", async () => {
    const n = requests();
    const empty = await postCheckout(form([["cart", "AbCdEfGhIjKlMnOpQrStUv"]]));
    assert.equal(empty.status, 400);
    assert.match(empty.text, /Your cart is empty/);
    const unknown = await postCheckout(form([["clip", cart[0].slug], ["clip", "no-such-clip"]]));
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /no longer for sale/);
    // More than one download link covers: refused before Stripe is asked.
    const many = await postCheckout(form(Array.from({ length: 65 }, (_, i) => ["clip", `clip-${i}`])));
    assert.equal(many.status, 400);
    assert.match(many.text, /up to 64 clips/);
    const json = await postCheckout(JSON.stringify({ clip: cart[0].slug }), "application/json");
    assert.equal(json.status, 400);
    const huge = await postCheckout(`clip=${"a".repeat(20_000)}`);
    assert.equal(huge.status, 413);
    assert.equal(requests(), n, "Stripe was never asked");
    const get = await fetch(`${stack.base}/checkout`, { redirect: "manual" });
    assert.equal(get.status, 303);
    assert.equal(get.headers.get("location"), "/cart/");
  });

  it("Stripe failing or unreachable: try again, nothing charged; a key without permission: not available", async () => {
    const one = form([["clip", cart[0].slug]]);
    stripeApi.failNext(1, "500");
    const down = await postCheckout(one);
    assert.equal(down.status, 503);
    assert.match(down.text, /Nothing was charged: please try again/);
    stripeApi.failNext(1, "drop");
    const dropped = await postCheckout(one);
    assert.equal(dropped.status, 503);
    stripeApi.failNext(1, "permission");
    const denied = await postCheckout(one);
    assert.equal(denied.status, 502);
    assert.match(denied.text, /Checkout is not available right now/);
    const log = await logMatching(stack, /required permissions/);
    assert.match(log, /"event":"checkout_failed"/);
    const payments = (await admin(stack, "GET", "/admin/payments?limit=50")).body.payments;
    assert.ok(payments.some((p) => p.outcome === "checkout_unavailable" && /required permissions/.test(p.detail)),
      "recorded for the self-test's alert");
    assert.ok(!payments.some((p) => p.outcome === "checkout_unavailable" && /500/.test(p.detail)), "an outage is not the owner's mistake");
    const ok = await postCheckout(one);
    assert.equal(ok.status, 303, "works again");
  });

  // The customer paid, then got nothing: the webhook could not record the
  // order (a Worker deployed before its migrations), or the link answered
  // 503 (a clip not uploaded yet). Stripe is not asked while that is so.
  it("a clip whose file is not in the bucket, or a ledger without this Worker's migrations: not available, before Stripe is asked", async () => {
    const n = requests();
    const [first, second] = cart;
    await stack.wrangler(["r2", "object", "delete", `${stack.bucket}/${second.object_key}`]);
    try {
      const missing = await postCheckout(form([["clip", first.slug], ["clip", second.slug]]));
      assert.equal(missing.status, 502);
      // The clip is named, so that the customer can buy the others (the
      // customer review: "try again later" blocked the whole cart).
      assert.match(missing.text, /A clip in your cart cannot be sold right now/);
      assert.ok(missing.text.includes(`“${lineOf(second).name.replace(/&/g, "&amp;")}” cannot be delivered`), missing.text);
      assert.match(missing.text, /Remove it from your cart to buy the others/);
      assert.match(missing.text, /Nothing was charged/);
      const log = await logMatching(stack, /"event":"checkout_undeliverable"/);
      assert.match(log, new RegExp(`the file of the clip ${second.slug} \\(${second.object_key}\\) is not in the R2 bucket`));
    } finally {
      await stack.wrangler(["r2", "object", "put", `${stack.bucket}/${second.object_key}`, "--file", second.file,
        "--content-type", second.content_type]);
    }
    const migrations = fs.readdirSync(path.join(REPO, "edge-worker", "migrations")).filter((f) => f.endsWith(".sql")).sort();
    const latest = migrations.at(-1);
    await d1Sql(`UPDATE d1_migrations SET name = 'away-' || name WHERE name = '${latest}'`);
    try {
      const unmigrated = await postCheckout(form([["clip", first.slug]]));
      assert.equal(unmigrated.status, 502);
      assert.match(stack.log(), new RegExp(`the ledger \\(D1\\) lacks migration ${latest.replace(".", "\\.")}`));
      assert.equal(requests(), n, "Stripe was never asked");
      // The deep health check (which asks Stripe about its webhook) says so
      // at once, not after the next self-test.
      const health = await admin(stack, "GET", "/admin/health");
      const schema = health.body.checks.find((c) => c.name === "ledger_schema");
      assert.equal(schema?.ok, false, JSON.stringify(health.body.checks));
      assert.match(schema.detail, /--config wrangler\.toml/);
    } finally {
      await d1Sql(`UPDATE d1_migrations SET name = '${latest}' WHERE name = 'away-${latest}'`);
    }
    assert.equal((await postCheckout(form([["clip", first.slug], ["clip", second.slug]]))).status, 303, "works again");
    // No `d1_migrations` table, but the order's tables are there (a schema
    // imported, or a `migrations_table` of the shop's own): not refused.
    await d1Sql("ALTER TABLE d1_migrations RENAME TO d1_migrations_away");
    try {
      assert.equal((await postCheckout(form([["clip", first.slug]]))).status, 303, "the schema came another way");
    } finally {
      await d1Sql("ALTER TABLE d1_migrations_away RENAME TO d1_migrations");
    }
  });

  it("a flood of checkouts from one network: the 11th in a minute is a 429 that costs no call to Stripe, other networks go on", async () => {
    // The limiter's windows are whole minutes of the wall clock: start the
    // flood early in one, so that all of it falls into it.
    const into = Date.now() % 60_000;
    if (into > 45_000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
    const from = (ip) => fetch(`${stack.base}/checkout`, {
      method: "POST", redirect: "manual", body: form([["clip", cart[0].slug]]),
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
    });
    const before = stripeApi.requests.length;
    const flood = [];
    for (let i = 0; i < 12; i++) flood.push(await from(i % 2 ? "2001:db8:7:1::1" : "2001:db8:7:1:ffff::9"));
    assert.deepEqual(flood.map((r) => r.status), [...Array(10).fill(303), 429, 429], "one /64, one limit");
    assert.equal(stripeApi.requests.length - before, 10, "the refused ones never reached Stripe");
    const refused = flood.at(-1);
    assert.equal(refused.headers.get("retry-after"), "60");
    const page = await refused.text();
    assert.match(page, /Too many checkouts at once/);
    assert.match(page, /Nothing was charged: please try again in a minute/);
    assert.equal((await from("198.51.100.23")).status, 303, "another network is not held up");
    assert.match(stack.log(), /"event":"checkout_rate_limited"/);
  });

  it("webhook bodies over the limit are refused before they are read", async () => {
    const res = await fetch(`${stack.base}/payments/stripe/webhook`, {
      method: "POST", headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00" },
      body: "x".repeat(300 * 1024),
    });
    assert.equal(res.status, 413);
    // Sent in chunks, without a declared length: refused too (411), not
    // read whole to be measured after.
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 64; i++) c.enqueue(new TextEncoder().encode("x".repeat(16 * 1024)));
        c.close();
      },
    });
    const chunked = await fetch(`${stack.base}/payments/stripe/webhook`, {
      method: "POST", headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00" },
      body: chunks, duplex: "half",
    });
    assert.equal(chunked.status, 411, await chunked.text());
  });
});

describe("a shop set up without its link-signing key", () => {
  // Stripe's settings right, TOKEN_KEYS forgotten: the payment page opened,
  // the webhook answered 503 for three days, and the customer never got a link.
  let own;
  after(async () => {
    await own?.stop();
  });

  it("opens no payment page, and the health check's checkout fails with what to do", async () => {
    own = await startStack({ seed: present.slice(0, 1),
      vars: { TOKEN_KEYS: undefined, STRIPE_API_KEY: API_KEY, STRIPE_API_BASE: stripeApi.url } });
    const before = stripeApi.requests.length;
    const res = await fetch(`${own.base}/checkout`, { method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" }, body: form([["clip", present[0].slug]]) });
    assert.equal(res.status, 502);
    assert.match(await res.text(), /Checkout is not available right now/);
    assert.equal(stripeApi.requests.length, before, "Stripe was never asked");
    const health = await admin(own, "GET", "/admin/health");
    const checkout = health.body.checks.find((c) => c.name === "checkout");
    assert.equal(checkout.ok, false);
    assert.match(checkout.detail, /the TOKEN_KEYS secret is not set: a paid order could get no download link/);
    assert.match(checkout.detail, /site-gen token keygen/);
  });
});

describe("Stripe's webhook endpoint, as the health check and doctor see it", () => {
  const bin = process.env.SITE_GEN_BIN;
  const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
  const doctor = () => run(cmd, [...pre, "doctor", "--root", REPO, "--worker-url", stack.base], {
    cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } }).catch((e) => e);
  const check = async () => {
    const health = await admin(stack, "GET", "/admin/health");
    return { status: health.status, ...health.body.checks.find((c) => c.name === "stripe_webhook") };
  };

  it("found, enabled and sending every event: ok; asked as Stripe's own library asks", async () => {
    const before = stripeApi.requests.length;
    const found = await check();
    assert.equal(found.ok, true, found.detail);
    assert.equal(found.detail, `Stripe sends the shop's events to ${stack.base}/payments/stripe/webhook (${stripeApi.webhookEndpoints[0].id})`);
    const [asked] = stripeApi.requests.slice(before);
    const lib = new Stripe(API_KEY, { host: "127.0.0.1", port: stripeApi.port, protocol: "http", apiVersion: API_VERSION });
    const listed = await lib.webhookEndpoints.list({ limit: 100 });
    assert.equal(listed.data[0].url, `${stack.base}/payments/stripe/webhook`);
    const libRequest = stripeApi.requests.at(-1);
    assert.equal(`${asked.method} ${asked.path}`, `${libRequest.method} ${libRequest.path}`);
    for (const h of ["authorization", "stripe-version"]) assert.equal(asked.headers[h], libRequest.headers[h], h);
    assert.equal(asked.raw, "");
  });

  it("disabled, missing events, or none at the shop's address: the check and doctor fail saying what to do; a key that may not look: a warning", async () => {
    const endpoint = stripeApi.webhookEndpoints[0];
    try {
      endpoint.status = "disabled";
      let found = await check();
      assert.equal(found.status, 503);
      assert.equal(found.ok, false);
      assert.match(found.detail, /is disabled, so Stripe sends it no event: paid checkouts become orders only while their customer stays on the success page/);
      const disabled = await doctor();
      assert.equal(disabled.code, 1, disabled.stdout);
      assert.match(disabled.stdout, /FAIL {2}stripe_webhook: Stripe's webhook endpoint http:\/\/127\.0\.0\.1:\d+\/payments\/stripe\/webhook \(we_[0-9a-f]+\) is disabled.*Enable it in the Stripe Dashboard/);

      Object.assign(endpoint, { status: "enabled", enabled_events: ["checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"] });
      found = await check();
      assert.equal(found.ok, false);
      assert.match(found.detail, /does not send charge\.refunded, charge\.dispute\.created, charge\.dispute\.closed, refund\.failed, refund\.updated: refunds and disputes end no link/);

      // Elsewhere: this Worker runs at a loopback address, a local try-out
      // (`stripe listen` forwards without an endpoint): no failure, said so.
      endpoint.url = "https://staging.shop.example/payments/stripe/webhook";
      found = await check();
      assert.equal(found.ok, true);
      assert.equal(found.detail, `no webhook endpoint at Stripe sends to ${stack.base}/payments/stripe/webhook or ${manifest.shop.base_url.replace(/\/$/, "")}/payments/stripe/webhook: a local try-out, where \`stripe listen --forward-to\` delivers the events without one`);
      // At the catalog's address, written otherwise, with every event: found.
      endpoint.enabled_events = webhookEndpoint(stack.base).enabled_events;
      endpoint.url = `${manifest.shop.base_url.replace(/\/$/, "").toUpperCase().replace("HTTPS://", "https://")}/payments/stripe/webhook?from=stripe`;
      found = await check();
      assert.equal(found.ok, true, found.detail);
      assert.match(found.detail, /^Stripe sends the shop's events to /);

      // A rolled key: the cart's checkout fails too, and this is where it shows.
      stripeApi.failNext(1, "key");
      found = await check();
      assert.equal(found.ok, false);
      assert.match(found.detail, /^Stripe refused STRIPE_API_KEY \(401: rolled, revoked or mistyped\)/);

      stripeApi.failNext(1, "permission");
      found = await check();
      assert.equal(found.ok, true);
      assert.match(found.detail, /was not checked: STRIPE_API_KEY may not read webhook endpoints \(Stripe answered 403\)/);
      stripeApi.failNext(1, "permission");
      const unchecked = await doctor();
      assert.match(unchecked.stdout, /warn {2}stripe_webhook: whether Stripe sends the shop's events was not checked/);
      assert.doesNotMatch(unchecked.stdout, /FAIL {2}stripe_webhook/);

      // A key made before the Worker read events back: the webhook is
      // found, but what it misses would stay missed. A warning.
      stripeApi.failNext(1, "none");
      stripeApi.failNext(1, "permission");
      found = await check();
      assert.equal(found.ok, true);
      assert.match(found.detail, /^Stripe sends the shop's events to .*; STRIPE_API_KEY may not read events \(Stripe answered 403\), so an event whose delivery fails is not read back from Stripe's list: give the restricted key "Events: Read" too$/);
      assert.equal(stripeApi.requests.at(-1).path, "/v1/events?limit=1");
      stripeApi.failNext(1, "none");
      stripeApi.failNext(1, "permission");
      const blind = await doctor();
      assert.match(blind.stdout, /warn {2}stripe_webhook: Stripe sends the shop's events to .*may not read events/);
      assert.doesNotMatch(blind.stdout, /FAIL {2}stripe_webhook/);
    } finally {
      Object.assign(endpoint, webhookEndpoint(stack.base), { id: endpoint.id });
    }
    assert.equal((await check()).ok, true);
  });
});

describe("Stripe's event not arriving (a rotated secret, a wrong address)", () => {
  // A network of its own: the page's look-ups count against the checkout limit.
  const IP = "192.0.2.37";
  const ip = ["-H", `cf-connecting-ip: ${IP}`];
  const sql = (command) => d1Sql(command);
  /** The customer came back `secs` seconds ago, without an order since. */
  const cameBack = (session, secs) => sql(`UPDATE thanks_waiting SET first_seen = first_seen - ${secs} WHERE session_id = '${session}'`);
  const thanks = (session, args = []) => curl(`${stack.base}/thanks?session_id=${session}`, { args: [...ip, ...args] });
  const asked = (since) => stripeApi.requests.slice(since).map((r) => `${r.method} ${r.path} ${r.status}`);
  const cron = () => cronRun();

  it("after ten seconds the success page asks Stripe and makes the order, its link and its one mail; the late event is a duplicate", async () => {
    const bought = present.at(-3);
    const { session, paymentIntent } = await paidCheckoutFrom(IP, bought, "late-event@example.com");
    assert.equal((await postCheckout(form([["clip", cart[0].slug]]), undefined, IP)).status, 303);
    const unpaid = stripeApi.requests.at(-1).response;

    const before = stripeApi.requests.length;
    const first = await thanks(session.id);
    assert.equal(first.status, 200);
    assert.match(first.body.toString(), /being confirmed/);
    assert.equal((await thanks(unpaid.id)).status, 200);
    assert.deepEqual(asked(before), [], "Stripe is not asked before its event had time to come");
    await cameBack(session.id, 11);
    await cameBack(unpaid.id, 11);
    assert.equal((await thanks(session.id, ["-I"])).status, 200);
    assert.deepEqual(asked(before), [], "a HEAD never asks");

    // Nobody paid this one (the stand-in's session is still open): it waits on.
    const notPaid = await thanks(unpaid.id);
    assert.equal(notPaid.status, 200);
    assert.match(notPaid.body.toString(), /being confirmed/);
    assert.deepEqual(linksIn(notPaid.body.toString()), []);

    const page = await thanks(session.id);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.body.toString(), /being confirmed/);
    const [link] = linksIn(page.body.toString());
    assert.ok(link?.startsWith(`${stack.base}/download/`), page.body.toString().slice(0, 800));
    assert.deepEqual(asked(before), [`GET /v1/checkout/sessions/${unpaid.id} 200`, `GET /v1/checkout/sessions/${session.id} 200`]);
    // The order mail, with the link the page shows.
    const [mail] = await mailTo((m) => m.to.includes("late-event@example.com"));
    assert.deepEqual(linksIn(mail.email.text), [link]);
    // A reload shows the order from the ledger: the same link, Stripe not asked.
    assert.deepEqual([...new Set(linksIn((await thanks(session.id)).body.toString()))], [link]);
    assert.equal(stripeApi.requests.length, before + 2);
    // The whole clip, byte for byte, on a one-download link.
    const got = await curl(`${link}/${bought.slug}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(fs.readFileSync(bought.file)));

    // The owner hears of it: the customer has a link, but the shop hears
    // from Stripe only by reading back what the webhook missed (refunds
    // too), which this key may. Only the one made-up wait counts.
    await sql(`DELETE FROM thanks_waiting WHERE session_id != '${session.id}'`);
    await cron();
    await cameBack(session.id, 900);
    await cron();
    const told = await logMatching(stack, /1 customer came back from paying \(the oldest 15 minutes ago\) and Stripe's event never arrived: the shop asked Stripe and made the order/);
    assert.match(told, /so refunds, disputes and the orders of customers who never come back from Stripe's page take effect only when the self-test reads them back from Stripe, minutes late\. .*the shop reads back what the webhook missed for up to 30 days/);
    const payments = (await admin(stack, "GET", "/admin/payments?limit=50")).body.payments;
    const row = payments.find((p) => p.session_id === session.id);
    assert.equal(row?.outcome, "from_success_page", JSON.stringify(payments.slice(0, 3)));
    assert.equal(row.customer_email, "late-event@example.com");

    // Stripe's retry arrives once the secret is put right: the same order,
    // no second mail, and the refund it carries ends the link.
    const late = await deliver(completed(session, { email: "late-event@example.com", paymentIntent }));
    assert.equal(late.status, 200);
    assert.equal(late.body.duplicate, true, JSON.stringify(late.body));
    assert.equal(late.body.order_id, row.order_id);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("late-event@example.com")).length, 1, "one mail");
    const refund = await deliver(chargeEvent("charge.refunded", { id: unique("ch"), object: "charge", payment_intent: paymentIntent,
      amount: session.amount_total, amount_refunded: session.amount_total, refunded: true }));
    assert.equal(refund.status, 200, JSON.stringify(refund.body));
    assert.equal((await curl(`${link}/${bought.slug}`, { args: ["-I"] })).status, 403);
  });

  it("a customer who left the page at once: the next cron run asks Stripe and mails the order", async () => {
    const bought = present.at(-6);
    // Checkouts of its own network: this describe's others use up its limit (10 a minute).
    const OWN_IP = "192.0.2.38";
    const { session, paymentIntent } = await paidCheckoutFrom(OWN_IP, bought, "left-early@example.com");
    // And a session nobody paid (its page asked for by hand).
    assert.equal((await postCheckout(form([["clip", bought.slug]]), undefined, OWN_IP)).status, 303);
    const unpaid = stripeApi.requests.at(-1).response;
    // And a session Stripe never made (a made-up address).
    const madeUp = { id: unique("cs") };
    // One look at "being confirmed", then the tab is closed.
    for (const s of [unpaid, madeUp, session]) {
      assert.match((await thanks(s.id)).body.toString(), /being confirmed/);
      await cameBack(s.id, 61);
    }
    const before = stripeApi.requests.length;
    await cron();
    assert.deepEqual(asked(before).filter((r) => r.startsWith("GET /v1/checkout/sessions/")).sort(),
      [`GET /v1/checkout/sessions/${session.id} 200`, `GET /v1/checkout/sessions/${unpaid.id} 200`,
        `GET /v1/checkout/sessions/${madeUp.id} 404`].sort());
    const [mail] = await mailTo((m) => m.to.includes("left-early@example.com"));
    // Under the catalog's address; this Worker answers it at its own.
    const [link] = linksIn(mail.email.text);
    assert.ok(link?.startsWith(`${manifest.shop.base_url.replace(/\/$/, "")}/download/`), link);
    const local = `${stack.base}${new URL(link).pathname}`;
    const got = await curl(`${local}/${bought.slug}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(fs.readFileSync(bought.file)));
    const payments = (await admin(stack, "GET", "/admin/payments?limit=50")).body.payments.filter((p) => p.session_id === session.id);
    assert.deepEqual(payments.map((p) => `${p.event_type} ${p.outcome}`), ["self_test from_self_test"]);
    // The page, opened again, shows the order; the next run asks nothing more about it.
    assert.deepEqual([...new Set(linksIn((await thanks(session.id)).body.toString()).map((l) => new URL(l).pathname))], [new URL(link).pathname]);
    const again = stripeApi.requests.length;
    await cron();
    assert.ok(!asked(again).some((r) => [session, unpaid, madeUp].some((s) => r.includes(s.id))), "each asked once");
    const recorded = (await admin(stack, "GET", "/admin/payments?limit=50")).body.payments;
    for (const s of [unpaid, madeUp]) {
      const rows = recorded.filter((p) => p.session_id === s.id);
      assert.deepEqual(rows.map((p) => `${p.event_type} ${p.outcome}`), ["self_test self_test_unpaid"], s.id);
    }
    // Stripe's event, late: a duplicate, no second mail.
    const late = await deliver(completed(session, { email: "left-early@example.com", paymentIntent }));
    assert.equal(late.body.duplicate, true, JSON.stringify(late.body));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("left-early@example.com")).length, 1);
  });

  it("a checkout the webhook would refuse is recorded once and held; a session over a day old is left to the webhook", async () => {
    const bought = present.at(-5);
    assert.equal((await postCheckout(form([["clip", bought.slug]]), undefined, IP)).status, 303);
    const gone = stripeApi.requests.at(-1).response;
    stripeApi.pay(gone.id, { email: "gone-clip@example.com", paymentIntent: unique("pi") });
    // The clip left the catalog while the customer paid.
    stripeApi.sessions.get(gone.id).metadata = { clips: "no-such-clip" };
    assert.equal((await postCheckout(form([["clip", bought.slug]]), undefined, IP)).status, 303);
    const old = stripeApi.requests.at(-1).response;
    stripeApi.pay(old.id, { email: "old-session@example.com", paymentIntent: unique("pi") });
    stripeApi.sessions.get(old.id).created -= 2 * 86_400;
    for (const s of [gone, old]) {
      assert.match((await thanks(s.id)).body.toString(), /being confirmed/);
      await cameBack(s.id, 11);
    }
    const before = stripeApi.requests.length;
    for (let i = 0; i < 3; i++) {
      const held = await thanks(gone.id);
      assert.equal(held.status, 200);
      assert.match(held.body.toString(), /your payment has arrived/);
      assert.doesNotMatch(held.body.toString(), /data-await-order|\/download\//);
    }
    const waits = await thanks(old.id);
    assert.match(waits.body.toString(), /being confirmed/);
    assert.deepEqual(waits.body.toString().match(/\/download\//), null);
    assert.deepEqual(asked(before), [`GET /v1/checkout/sessions/${gone.id} 200`, `GET /v1/checkout/sessions/${old.id} 200`],
      "the refused one is asked about once");
    const payments = (await admin(stack, "GET", "/admin/payments?limit=50")).body.payments.filter((p) => p.session_id === gone.id);
    assert.deepEqual(payments.map((p) => `${p.event_type} ${p.outcome}`), ["success_page unknown_clip"]);
    assert.equal(resend.sent.filter((m) => /gone-clip|old-session/.test(m.email.to)).length, 0, "no order, no mail");
  });

  it("made-up checkouts from one network do not keep a customer's page elsewhere from asking Stripe", async () => {
    // Found by a security review: 30 made-up session ids a minute, from
    // anywhere, filled the shop's share of remembered pages, and a paying
    // customer's page then waited for the webhook for good.
    const bought = present.at(-7);
    const CUSTOMER = "192.0.2.61";
    const { session } = await paidCheckoutFrom(CUSTOMER, bought, "after-a-flood@example.com");
    for (let i = 0; i < 30; i++) {
      const junk = await curl(`${stack.base}/thanks?session_id=${unique("cs")}`, { args: ["-H", "cf-connecting-ip: 203.0.113.9"] });
      assert.equal(junk.status, 200);
    }
    const own = () => curl(`${stack.base}/thanks?session_id=${session.id}`, { args: ["-H", `cf-connecting-ip: ${CUSTOMER}`] });
    assert.match((await own()).body.toString(), /being confirmed/);
    await cameBack(session.id, 11);
    const page = (await own()).body.toString();
    assert.doesNotMatch(page, /being confirmed/);
    assert.ok(linksIn(page).some((l) => l.startsWith(`${stack.base}/download/`)), page.slice(0, 600));
    // Hashed as the Worker keeps a network (runtime/recovery.rs `hash`).
    const flood = crypto.createHash("sha256").update("client:203.0.113.9").digest("hex");
    const { stdout } = await stack.wrangler(["d1", "execute", "DB", "--json", "--command",
      `SELECT COUNT(*) AS n FROM thanks_waiting WHERE client_hash = '${flood}'`]);
    assert.equal(JSON.parse(stdout)[0].results[0].n, 10, "of the made-up ones, ten remembered");
  });

  it("the page and the event at the same moment: one order, one link, one mail", async () => {
    const bought = present.at(-4);
    const { session, paymentIntent } = await paidCheckoutFrom(IP, bought, "both-at-once@example.com");
    assert.match((await thanks(session.id)).body.toString(), /being confirmed/);
    await cameBack(session.id, 11);
    const [page, event] = await Promise.all([
      thanks(session.id),
      deliver(completed(session, { email: "both-at-once@example.com", paymentIntent })),
    ]);
    assert.equal(page.status, 200);
    assert.equal(event.status, 200, JSON.stringify(event.body));
    const [link] = linksIn(page.body.toString());
    assert.ok(link, page.body.toString().slice(0, 800));
    const [mail] = await mailTo((m) => m.to.includes("both-at-once@example.com"));
    assert.deepEqual(linksIn(mail.email.text), [link], "the page shows the link the checkout keeps");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("both-at-once@example.com")).length, 1, "one mail");
    const shown = (await admin(stack, "GET", `/admin/orders/${event.body.order_id}`)).body;
    assert.equal(shown.order.source, "stripe");
    assert.equal((await curl(`${link}/${bought.slug}`, { args: ["-H", "Range: bytes=0-99"] })).status, 206);
  });
});

describe("Stripe's events the webhook never got, read back by the cron", () => {
  const IP = "192.0.2.39";
  const sql = (command) => d1Sql(command);
  const cron = () => cronRun();
  const now = () => Math.floor(Date.now() / 1000);
  /** The monitor's state: where its reading of Stripe's list stands. */
  const reading = async () => {
    const out = await stack.wrangler(["d1", "execute", "DB", "--json", "--command", "SELECT state FROM monitor_state WHERE id = 1"]);
    const state = JSON.parse(JSON.parse(out.stdout)[0].results[0].state);
    return { after: state.events_after, until: state.events_until, cursor: state.events_cursor };
  };
  /** Stripe could not deliver `event` (made `ago` seconds ago) to the webhook. */
  const undelivered = (event, ago) => {
    event.created = now() - ago;
    stripeApi.events.push({ event, delivered: false });
    return event;
  };
  const eventsAsked = (since) => stripeApi.requests.slice(since).filter((r) => r.path.startsWith("/v1/events"));

  it("an order, then its refund, whose deliveries failed for longer than Stripe retries: made, mailed, downloaded, then ended, each once", async () => {
    const bought = present.at(-7);
    const { session, paymentIntent } = await paidCheckoutFrom(IP, bought, "never-delivered@example.com");
    // The webhook failed (D1 down, a rolled secret) and Stripe gave up:
    // the customer left Stripe's page at once, so nothing else knows.
    const paid = undelivered(completed(session, { email: "never-delivered@example.com", paymentIntent }), 4 * 86_400);
    // What the webhook did get is not listed: an event of the same time delivered.
    const other = await postCheckout(form([["clip", cart[0].slug]]), undefined, IP);
    assert.equal(other.status, 303);
    const otherSession = stripeApi.requests.at(-1).response;
    stripeApi.pay(otherSession.id, { email: "delivered@example.com", paymentIntent: unique("pi") });
    const delivered = completed(otherSession, { email: "delivered@example.com" });
    delivered.created = paid.created;
    stripeApi.events.push({ event: delivered, delivered: true });
    // The reading stood five days back (the outage began then).
    await cron();
    const start = now() - 5 * 86_400;
    await sql(`UPDATE monitor_state SET state = json_set(state, '$.events_after', ${start}, '$.events_cursor', NULL) WHERE id = 1`);

    const before = stripeApi.requests.length;
    await cron();
    const [asked] = eventsAsked(before);
    assert.ok(asked, "the cron read Stripe's list");
    assert.equal(asked.status, 200);
    const q = new URLSearchParams(asked.path.split("?")[1]);
    assert.equal(q.get("created[gt]"), String(start));
    const until = Number(q.get("created[lte]"));
    assert.ok(until <= now() - 120 && until > now() - 180, `until ${until}`);
    // The request Stripe's own library makes for the same list.
    const lib = new Stripe(API_KEY, { host: "127.0.0.1", port: stripeApi.port, protocol: "http", apiVersion: API_VERSION });
    const types = q.getAll("types[0]").concat([...Array(7).keys()].map((i) => q.get(`types[${i + 1}]`)));
    const listed = await lib.events.list({ created: { gt: start, lte: until }, delivery_success: false, limit: 10, types });
    assert.deepEqual(listed.data.map((e) => e.id), [paid.id], "only the undelivered event");
    const libRequest = stripeApi.requests.at(-1);
    assert.equal(`${asked.method} ${asked.path}`, `${libRequest.method} ${libRequest.path}`);
    for (const h of ["authorization", "stripe-version"]) assert.equal(asked.headers[h], libRequest.headers[h], h);
    assert.equal(asked.raw, "", "no body");

    // The order and its mail, as the webhook would have made them.
    const [mail] = await mailTo((m) => m.to.includes("never-delivered@example.com"));
    const [link] = linksIn(mail.email.text);
    assert.ok(link, mail.email.text);
    const local = `${stack.base}${new URL(link).pathname}`;
    const got = await curl(`${local}/${bought.slug}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(fs.readFileSync(bought.file)));
    let payments = (await admin(stack, "GET", "/admin/payments?limit=100")).body.payments;
    const made = payments.filter((p) => p.event_id === paid.id);
    assert.deepEqual(made.map((p) => `${p.event_type} ${p.outcome}`), ["checkout.session.completed processed"]);
    assert.equal(payments.filter((p) => p.session_id === otherSession.id).length, 0, "the delivered one is the webhook's");
    // The owner hears that the webhook is failing.
    await logMatching(stack, /"event":"monitor_notice".*Stripe could not deliver 1 event \(paid checkouts, refunds or disputes\) to the shop's webhook/);
    assert.deepEqual(await reading(), { after: until, until: 0, cursor: null });

    // The refund, undelivered too. Younger than two minutes, it is left
    // to the webhook's first delivery; older, a run ends the order.
    const refund = undelivered(chargeEvent("charge.refunded", { id: unique("ch"), object: "charge", payment_intent: paymentIntent,
      amount: session.amount_total, amount_refunded: session.amount_total, refunded: true }), 10);
    const order = made[0].order_id;
    const revokedAt = async () => (await admin(stack, "GET", `/admin/orders/${order}`)).body.order.revoked_at;
    await cron();
    assert.equal(await revokedAt(), null);
    refund.created = now() - 200;
    await sql(`UPDATE monitor_state SET state = json_set(state, '$.events_after', ${refund.created - 1}) WHERE id = 1`);
    await cron();
    assert.ok(await revokedAt(), "the refund ended the order");
    assert.equal((await curl(`${local}/${bought.slug}`, { args: ["-I"] })).status, 403);
    payments = (await admin(stack, "GET", "/admin/payments?limit=100")).body.payments;
    assert.deepEqual(payments.filter((p) => p.event_id === refund.id).map((p) => p.outcome), ["processed"]);

    // Stripe's retry arrives once the webhook works: a duplicate, no second mail.
    const late = await deliver(completed(session, { email: "never-delivered@example.com", paymentIntent }));
    assert.equal(late.status, 200);
    assert.equal(late.body.duplicate, true, JSON.stringify(late.body));
    // Read again (a window that overlaps), nothing is done twice.
    await sql(`UPDATE monitor_state SET state = json_set(state, '$.events_after', ${start}) WHERE id = 1`);
    await cron();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(resend.sent.filter((m) => m.email.to.includes("never-delivered@example.com")).length, 1, "one mail");
    payments = (await admin(stack, "GET", "/admin/payments?limit=100")).body.payments;
    assert.equal(payments.filter((p) => p.event_id === paid.id && p.outcome === "processed").length, 1);
    assert.equal(payments.filter((p) => p.event_id === refund.id).length, 1);
    // The webhook works again: Stripe's retries of both succeed.
    for (const e of stripeApi.events) if ([paid.id, refund.id].includes(e.event.id)) e.delivered = true;
  });

  it("more events than a page: the walk goes on at the next run, and a cursor Stripe refuses restarts it", async () => {
    await cron();
    const start = now() - 3_600;
    await sql(`UPDATE monitor_state SET state = json_set(state, '$.events_after', ${start}, '$.events_cursor', NULL) WHERE id = 1`);
    // 25 delayed payments that failed in the end: recorded, no order (no
    // customer address: no mail either; with no clips they would be
    // another integration's, ignored).
    const failed = [...Array(25).keys()].map((i) =>
      undelivered(chargeEvent("checkout.session.async_payment_failed", { id: unique("cs"), object: "checkout.session",
        payment_status: "unpaid", status: "complete", metadata: { clips: present[0].slug } }), 600 + i));
    // And a paid checkout the webhook refused on purpose (its clip left
    // the catalog: 422, so that Stripe retries), listed as undelivered too.
    const refusedClip = completed({ id: unique("cs"), object: "checkout.session", amount_total: 100, currency: "eur",
      metadata: { clips: "no-such-clip" } });
    const refusal = await deliver(refusedClip);
    assert.equal(refusal.status, 422, JSON.stringify(refusal.body));
    undelivered(refusedClip, 590);
    const ids = new Set([...failed, refusedClip].map((e) => e.id));
    const recorded = async () => (await admin(stack, "GET", "/admin/payments?limit=300")).body.payments.filter((p) => ids.has(p.event_id));
    const before = stripeApi.requests.length;
    await cron();
    assert.equal((await recorded()).length, 1 + 9, "one page a run: the refused checkout skipped, nine acted on");
    const midway = await reading();
    assert.deepEqual([midway.after, midway.cursor], [start, failed[8].id], "the window kept, past the oldest of the page");
    await cron();
    assert.equal((await recorded()).length, 1 + 19);
    assert.equal((await reading()).cursor, failed[18].id);
    await cron();
    const rows = await recorded();
    assert.equal(rows.length, 1 + 25);
    assert.deepEqual(rows.filter((p) => p.event_id === refusedClip.id).map((p) => p.outcome), ["unknown_clip"], "refused once, by the webhook");
    assert.deepEqual([...new Set(rows.filter((p) => p.event_id !== refusedClip.id).map((p) => p.outcome))], ["payment_failed"]);
    const cursors = eventsAsked(before).map((r) => r.path.match(/starting_after=([^&]+)/)?.[1]);
    assert.deepEqual(cursors, [undefined, failed[8].id, failed[18].id]);
    assert.equal((await reading()).cursor, null, "the window is closed");

    // A cursor Stripe does not page from: the window is read again from its newest event.
    await sql(`UPDATE monitor_state SET state = json_set(state, '$.events_after', ${start}, '$.events_until', ${now() - 120}, '$.events_cursor', 'evt_gone') WHERE id = 1`);
    const since = stripeApi.requests.length;
    await cron();
    assert.deepEqual(eventsAsked(since).map((r) => r.status), [400]);
    assert.equal((await reading()).cursor, null);
    await cron();
    assert.equal(eventsAsked(since)[1]?.status, 200);
    assert.equal((await recorded()).length, 1 + 25, "nothing recorded twice");
  });
});

describe("an event the webhook missed while D1 was down, read back by a fresh Worker once D1 is back", () => {
  // A stack of its own: it is restarted (a fresh isolate, as a cron run on
  // Cloudflare often is, remembering nothing) in the middle of the outage.
  const options = {
    seed: present.slice(-1),
    devArgs: ["--test-scheduled"],
    editConfig: (toml) => toml.replace(/^run_worker_first = \[/m, 'run_worker_first = ["/__scheduled", '),
    vars: { STRIPE_API_KEY: API_KEY, STRIPE_API_BASE: stripeApi?.url, RESEND_API_KEY: "re_e2e_0123456789abcdef",
      MAIL_FROM: "Saltglass Footage <shop@mail.saltglass.example>", MAIL_API_BASE: resend?.url, CHECKOUT_DOWNLOADS: "1" },
  };
  let own;
  after(async () => {
    await own?.stop();
  });
  const TABLES = ["monitor_state", "payment_events", "checkouts", "orders"];
  const d1 = (to) => d1Sql(TABLES.map((t) => (to === "down" ? `ALTER TABLE ${t} RENAME TO ${t}_offline;` : `ALTER TABLE ${t}_offline RENAME TO ${t};`)).join(" "), own);
  const cron = () => cronRun(own);

  it("the reading goes on from where D1 has it: the outage's paid checkout becomes its order and mail", async () => {
    options.vars.STRIPE_API_BASE = stripeApi.url;
    options.vars.MAIL_API_BASE = resend.url;
    own = await startStack(options);
    await cron();
    const start = Math.floor(Date.now() / 1000) - 3_600;
    await d1Sql(`UPDATE monitor_state SET state = json_set(state, '$.events_after', ${start}, '$.events_cursor', NULL) WHERE id = 1`, own);
    const bought = present.at(-1);
    const res = await fetch(`${own.base}/checkout`, { method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.40" }, body: form([["clip", bought.slug]]) });
    assert.equal(res.status, 303, await res.text());
    const session = stripeApi.requests.at(-1).response;
    const paymentIntent = unique("pi");
    stripeApi.pay(session.id, { email: "outage-read-back@example.com", paymentIntent });
    const paid = completed(session, { email: "outage-read-back@example.com", paymentIntent });
    paid.created = Math.floor(Date.now() / 1000) - 600;

    await d1("down");
    try {
      const body = JSON.stringify(paid);
      const header = offline.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_WEBHOOK_SECRET });
      const delivery = await fetch(`${own.base}/payments/stripe/webhook`, {
        method: "POST", headers: { "content-type": "application/json", "stripe-signature": header }, body });
      assert.equal(delivery.status, 503, "Stripe is told to retry");
      // Stripe's retries fail for days, then stop: the event stays undelivered.
      stripeApi.events.push({ event: paid, delivered: false });
      // A fresh Worker's runs during the outage: no state to read, kept in R2.
      await own.stop({ keep: true });
      own = await startStack({ ...options, reuse: own.dir });
      await cron();
      await logMatching(own, /"event":"monitor_notice".*"ledger"/);
      await cron();
    } finally {
      await d1("up");
    }
    await cron();
    const [mail] = await mailTo((m) => m.to.includes("outage-read-back@example.com"));
    const [link] = linksIn(mail.email.text);
    const got = await curl(`${own.base}${new URL(link).pathname}/${bought.slug}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(fs.readFileSync(bought.file)));
    const payments = (await admin(own, "GET", "/admin/payments?limit=50")).body.payments.filter((p) => p.event_id === paid.id);
    assert.deepEqual(payments.map((p) => `${p.status} ${p.outcome}`), ["200 processed"]);
    stripeApi.events.find((e) => e.event.id === paid.id).delivered = true;
  });
});

describe("a live shop", () => {
  let live;
  before(async () => {
    live = await startStack({ vars: { STRIPE_TEST_MODE: "false", STRIPE_API_KEY: API_KEY, STRIPE_API_BASE: stripeApi.url } });
  });
  after(async () => {
    await live?.stop();
  });

  it("refuses test-mode events and test-mode keys", async () => {
    const session = { id: unique("cs"), object: "checkout.session", metadata: { clips: cart[0].slug },
      amount_total: cart[0].price, currency: "eur" };
    const body = JSON.stringify(completed(session));
    const header = offline.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_WEBHOOK_SECRET });
    const res = await fetch(`${live.base}/payments/stripe/webhook`, {
      method: "POST", headers: { "content-type": "application/json", "stripe-signature": header }, body,
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, "test_mode_event");
    const n = stripeApi.requests.length;
    const checkout = await fetch(`${live.base}/checkout`, { method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" }, body: form([["clip", cart[0].slug]]) });
    assert.equal(checkout.status, 502);
    assert.equal(stripeApi.requests.length, n, "a test key never leaves a live shop");
    await logMatching(live, /STRIPE_API_KEY is a test-mode key/);
  });
});

describe("a webhook secret that cannot be used", () => {
  let shop;
  before(async () => {
    // The endpoint's id pasted for its signing secret: every payment's
    // event would be refused, so no payment page is opened.
    shop = await startStack({ vars: { STRIPE_WEBHOOK_SECRET: "we_1QabcdefghijklmnopqrstU", STRIPE_API_KEY: API_KEY,
      STRIPE_API_BASE: stripeApi.url } });
  });
  after(async () => {
    await shop?.stop();
  });

  it("the cart charges nothing, and the health check and doctor fail naming the secret", async () => {
    const n = stripeApi.requests.length;
    const res = await fetch(`${shop.base}/checkout`, { method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" }, body: form([["clip", cart[0].slug]]) });
    assert.equal(res.status, 502);
    assert.match(await res.text(), /Nothing was charged/);
    assert.equal(stripeApi.requests.length, n, "no payment page was opened");
    const health = await admin(shop, "GET", "/admin/health");
    assert.equal(health.status, 503);
    const check = health.body.checks.find((c) => c.name === "checkout");
    assert.equal(check.ok, false);
    assert.match(check.detail, /STRIPE_WEBHOOK_SECRET is missing or is not the whsec_… signing secret/);
    const bin = process.env.SITE_GEN_BIN;
    const [cmd, pre] = bin ? [bin, []] : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const doctor = await run(cmd, [...pre, "doctor", "--root", REPO, "--worker-url", shop.base], {
      cwd: REPO, env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: "e2e-admin-token-0123456789" } }).catch((e) => e);
    assert.equal(doctor.code, 1, doctor.stdout);
    assert.match(doctor.stdout, /FAIL  checkout: the cart's checkout cannot start: STRIPE_WEBHOOK_SECRET/);
  });
});

describe("a misconfigured shop tells its owner", () => {
  let bad;
  before(async () => {
    bad = await startStack({
      devArgs: ["--test-scheduled"],
      editConfig: (toml) => toml.replace(/^run_worker_first = \[/m, 'run_worker_first = ["/__scheduled", '),
      vars: {
        STRIPE_WEBHOOK_SECRET: "whsec_short",
        STRIPE_API_KEY: "sk_live_51FullSecretKey0123456789",
        STRIPE_API_BASE: stripeApi.url,
        ALERT_EMAIL: "owner@example.com",
      },
    });
  });
  after(async () => {
    await bad?.stop();
  });

  it("a customer back from paying with no order (the webhook is not arriving): the owner is told within minutes", async () => {
    const session = unique("cs");
    const page = await curl(`${bad.base}/thanks?session_id=${session}`);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /being confirmed/);
    // Ten minutes pass without the order.
    await bad.wrangler(["d1", "execute", "DB", "--command",
      `UPDATE thanks_waiting SET first_seen = first_seen - 900 WHERE session_id = '${session}'`]);
    const cron = await fetch(`${bad.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(cron.status, 200);
    await logMatching(bad, /1 customer came back from paying \(the oldest 15 minutes ago\) but no order exists/);
  });

  it("a malformed webhook secret: 503, so Stripe retries once it is fixed", async () => {
    const body = JSON.stringify(completed({ id: unique("cs"), metadata: { clips: cart[0].slug } }));
    const header = offline.webhooks.generateTestHeaderString({ payload: body, secret: "whsec_short" });
    const res = await fetch(`${bad.base}/payments/stripe/webhook`, {
      method: "POST", headers: { "content-type": "application/json", "stripe-signature": header }, body,
    });
    assert.equal(res.status, 503);
    await logMatching(bad, /"event":"payment_webhook_unconfigured"/);
  });

  it("a full secret key is never used, and the self-test alerts about it and about mail stuck without a provider", async () => {
    const n = stripeApi.requests.length;
    const res = await fetch(`${bad.base}/checkout`, { method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" }, body: form([["clip", cart[0].slug]]) });
    assert.equal(res.status, 502);
    assert.match(await res.text(), /Nothing was charged/);
    assert.equal(stripeApi.requests.length, n, "the key never left the Worker");

    // A ledger record the merge set aside (written by hand here).
    const junk = path.join(bad.dir, "junk.json");
    fs.writeFileSync(junk, "not json");
    await bad.wrangler(["r2", "object", "put", `${bad.bucket}/ledger-quarantine/0001-junk.json`, "--file", junk]);
    // An order mail queued an hour ago, and no mail provider configured.
    await bad.wrangler(["d1", "execute", "DB", "--command",
      "INSERT INTO outbox (kind, order_id, to_addr, subject, text_body, html_body, created_at, status, attempts, next_attempt_at) " +
      "VALUES ('order', 'PAY-stuck', 'c@example.com', 'Your clips', 'http://x/download/t', '<p>x</p>', unixepoch() - 3600, 'queued', 0, 0)"]);
    const cron = await fetch(`${bad.base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(cron.status, 200);
    // The earlier test's cron run wrote a notice too: wait for this run's.
    const log = await logMatching(bad, /"event":"monitor_notice".*a customer's checkout could not start/);
    assert.match(log, /the cart's checkout cannot start: STRIPE_API_KEY is a full secret key/);
    assert.match(log, /a customer's checkout could not start \(STRIPE_API_KEY is a full secret key/);
    assert.match(log, /1 e-mail waiting in the outbox for more than 30 minutes.*no mail provider is configured/);
    assert.match(log, /1 ledger record written while D1 was failing could not be read and was set aside under ledger-quarantine\/ \(e\.g\. ledger-quarantine\/0001-junk\.json\)/);
    const outbox = (await admin(bad, "GET", "/admin/outbox?limit=10")).body.outbox;
    const alert = outbox.find((m) => m.kind === "alert");
    assert.ok(alert, JSON.stringify(outbox));
    assert.equal(alert.to, "owner@example.com");
    assert.equal(alert.status, "queued", "kept for when a provider is configured");
  });
});
