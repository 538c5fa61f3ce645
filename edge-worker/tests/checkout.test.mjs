// Checkout through Stripe: webhook deliveries shaped like Stripe's real
// `checkout.session.completed` events, signed with Stripe's own Node library
// (`stripe.webhooks.generateTestHeaderString`), so the Worker's signature
// check is tested against a real peer. Nothing here talks to Stripe.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import Stripe from "stripe";

import {
  ADMIN_TOKEN, admin, catalog, curl, priceSeal, REPO, run, startStack, STRIPE_WEBHOOK_SECRET, toolEnv, vectors,
} from "./support/stack.mjs";

const { main, other } = catalog();
const stripe = new Stripe("sk_test_not_used_offline");
let stack;

before(async () => {
  stack = await startStack({ seed: [main, other] });
});

after(async () => {
  await stack?.stop();
});

const WEBHOOK = "/payments/stripe/webhook";
let counter = 0;
const unique = (prefix) => `${prefix}_test_${Date.now().toString(36)}${(counter++).toString(36)}E2e`;

/** What the catalog charges for comma-separated `clips` (what Stripe's session then totals). */
const priceOf = (clips) => (clips ?? "").split(",").map((s) => s.trim()).filter(Boolean)
  .reduce((sum, slug) => sum + (catalog().manifest.clips[slug]?.price ?? 0), 0);

/** A `checkout.session.completed` event as Stripe sends it (trimmed to the usual fields). */
function sessionEvent({ sessionId = unique("cs"), eventId = unique("evt"), clips, paymentStatus = "paid",
  type = "checkout.session.completed" } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    id: eventId,
    object: "event",
    api_version: "2025-09-30.clover",
    created: now,
    data: {
      object: {
        id: sessionId,
        object: "checkout.session",
        amount_subtotal: priceOf(clips),
        amount_total: priceOf(clips),
        client_reference_id: null,
        created: now - 60,
        currency: "eur",
        customer_details: { email: "buyer@example.com", name: "A Buyer" },
        livemode: false,
        metadata: clips === undefined ? {} : { clips },
        mode: "payment",
        payment_intent: unique("pi"),
        payment_link: "plink_test_e2e",
        payment_status: paymentStatus,
        status: "complete",
        success_url: `${stack.base}/thanks?session_id={CHECKOUT_SESSION_ID}`,
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

/** Posts `payload` (object or raw string) signed by Stripe's library, unless `signature` is given. */
async function deliver(payload, { secret = STRIPE_WEBHOOK_SECRET, timestamp, signature } = {}) {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload, null, 2);
  const header = signature === undefined
    ? stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp })
    : signature;
  const headers = { "content-type": "application/json; charset=utf-8", "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)" };
  if (header !== null) headers["stripe-signature"] = header;
  const res = await fetch(`${stack.base}${WEBHOOK}`, { method: "POST", headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let json = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, body: json };
}

const thanks = (sessionId) => curl(`${stack.base}/thanks?session_id=${encodeURIComponent(sessionId)}`);
const html = (res) => res.body.toString("utf8");

/** A paid checkout the shop refused: its page says the order needs the shop, and does not check again. */
const HELD = /your payment has arrived/;

/** No order behind the session: its success page shows no link, and says `shows`. */
async function assertNothingWritten(event, shows = /being confirmed/) {
  const page = await thanks(event.data.object.id);
  assert.equal(page.status, 200);
  assert.match(html(page), shows, "no order behind the session");
  assert.doesNotMatch(html(page), /\/download\//);
}

describe("paid checkout", () => {
  it("success page before the webhook: says the payment is being confirmed and checks again without reloading itself", async () => {
    const res = await thanks(unique("cs"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.refresh, undefined);
    assert.equal(res.headers["cache-control"], "private, no-store");
    assert.doesNotMatch(html(res), /http-equiv="refresh"/);
    assert.match(html(res), /data-await-order="3"/);
    assert.match(html(res), /<script src="\/js\/cart.js" defer><\/script>/);
    assert.match(html(res), /being confirmed/);
    // Stripe sends the customer here only once the checkout is complete:
    // the cart it names is emptied (of what went to the checkout) here too.
    const named = await curl(`${stack.base}/thanks?session_id=${unique("cs")}&cart=AbCdEfGhIjKlMnOpQrStUv`);
    assert.match(html(named), /<body data-cart-clear="AbCdEfGhIjKlMnOpQrStUv">/);
  });

  it("accepted: the order is created and the success page shows working download links", async () => {
    const event = sessionEvent({ clips: main.slug });
    const res = await deliver(event);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body.order_id, /^PAY-[0-9a-f]{20}$/);

    const page = await thanks(event.data.object.id);
    assert.equal(page.status, 200);
    const text = html(page);
    assert.match(text, /Thank you for your order/);
    assert.ok(text.includes(res.body.order_id));
    const link = new RegExp(`href="(/download/[^"/]+/${main.slug})"`).exec(text);
    assert.ok(link, "a download link for the clip");
    assert.match(text, /5 of 5 downloads left/);
    const clip = await curl(`${stack.base}${link[1]}`, { args: ["-I"] });
    assert.equal(clip.status, 200);
    assert.equal(clip.headers["content-length"], String(main.size));

    const order = await admin(stack, "GET", `/admin/orders/${res.body.order_id}`);
    assert.equal(order.status, 200);
    assert.equal(order.body.order.source, "stripe");
    assert.deepEqual(JSON.parse(order.body.order.clips), [main.slug]);
    assert.equal(order.body.links.length, 1);
    assert.ok(order.body.events.some((e) => e.kind === "create" && e.detail.includes(event.data.object.id)));
  });

  it("tax Stripe adds on top of the catalog's prices is no price mismatch; a 100 % discount is one", async () => {
    const price = priceOf(main.slug);
    const taxed = sessionEvent({ clips: main.slug });
    Object.assign(taxed.data.object, { amount_total: price + Math.round(price * 0.21),
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: Math.round(price * 0.21) } });
    const discounted = sessionEvent({ clips: main.slug });
    Object.assign(discounted.data.object, { amount_total: 0,
      total_details: { amount_discount: price, amount_shipping: 0, amount_tax: 0 } });
    for (const event of [taxed, discounted]) assert.equal((await deliver(event)).status, 200);
    const payments = (await admin(stack, "GET", "/admin/payments?limit=1000")).body.payments;
    const mismatched = payments.filter((p) => p.outcome === "amount_mismatch").map((p) => p.session_id);
    assert.ok(!mismatched.includes(taxed.data.object.id), "tax is not the shop's price");
    assert.ok(mismatched.includes(discounted.data.object.id), "the owner hears of a 100 % discount");
  });

  it("a checkout made through the API (someone with the shop's Stripe key) for less than the catalog: 200, no order, the owner is told to roll the key", async () => {
    const price = priceOf(main.slug);
    const cheap = sessionEvent({ clips: main.slug });
    Object.assign(cheap.data.object, { payment_link: null, amount_subtotal: 1, amount_total: 1 });
    const res = await deliver(cheap);
    assert.equal(res.status, 200, "no retry would change it");
    assert.equal(res.body.error, "underpaid");
    await assertNothingWritten(cheap, HELD);
    const row = (await admin(stack, "GET", "/admin/payments?limit=1000")).body.payments
      .find((p) => p.session_id === cheap.data.object.id);
    assert.equal(row.outcome, "underpaid");
    assert.match(row.detail, new RegExp(`paid €0\\.01 where the catalog prices the clips at €${(price / 100).toFixed(2)}`));
    // A `mode=setup` session, which Stripe completes with no amount and no
    // currency at all: no order either.
    const setup = sessionEvent({ clips: main.slug, paymentStatus: "no_payment_required" });
    Object.assign(setup.data.object, { mode: "setup", payment_link: null, amount_subtotal: null, amount_total: null,
      currency: null, payment_intent: null });
    const refusedSetup = await deliver(setup);
    assert.equal(refusedSetup.body.error, "underpaid", JSON.stringify(refusedSetup.body));
    await assertNothingWritten(setup, HELD);
    // The same at the catalog's price (the cart's own checkout) is an order.
    const full = sessionEvent({ clips: main.slug });
    full.data.object.payment_link = null;
    const ok = await deliver(full);
    assert.equal(ok.status, 200);
    assert.ok(ok.body.order_id, JSON.stringify(ok.body));
  });

  it("prices raised while a customer pays: the Worker's own checkout is held to the price it asked, a forged seal is not", async () => {
    // The catalog's price now; the customer was sent to pay 500 less, before
    // the owner raised it (the seal is what the Worker put in the session).
    const price = priceOf(main.slug);
    const before = price - 500;
    const session = (priced, amount = before) => {
      const event = sessionEvent({ clips: main.slug });
      Object.assign(event.data.object, { payment_link: null, amount_subtotal: amount, amount_total: amount });
      if (priced !== undefined) event.data.object.metadata.priced = priced;
      return event;
    };
    const honoured = session(priceSeal(before, "eur", [main.slug]));
    const res = await deliver(honoured);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.order_id, JSON.stringify(res.body));
    const payments = () => admin(stack, "GET", "/admin/payments?limit=1000").then((r) => r.body.payments);
    const rows = (event) => payments().then((all) => all.filter((p) => p.session_id === event.data.object.id));
    // (The tests' buyer bought this clip before: the owner is told it was
    // paid twice, as a customer's second payment page would be.)
    assert.deepEqual((await rows(honoured)).map((p) => p.outcome).filter((o) => o !== "paid_twice"), ["processed"],
      "no mismatch to tell the owner");

    // What a leaked Stripe key cannot do: change the sealed amount, seal with
    // a key of its own (here a real key id outside the Worker's keyring), or
    // reuse a seal for other clips or another currency.
    // A seal copied from an old session (a leaked key can read them) into a
    // new one: its time is not the new session's.
    const stranger = vectors.keys.find((k) => !k.in_keyring).env;
    const dayAgo = Math.floor(Date.now() / 1000) - 86_400;
    const forged = [
      session(priceSeal(before, "eur", [main.slug]).replace(`${before}:`, "1:"), 1),
      session(priceSeal(1, "eur", [main.slug], { key: stranger }), 1),
      session(priceSeal(1, "eur", [other.slug]), 1),
      session(priceSeal(1, "usd", [main.slug]), 1),
      session(priceSeal(1, "eur", [main.slug], { at: dayAgo }), 1),
      session(priceSeal(before, "eur", [main.slug]), before - 1),
    ];
    for (const event of forged) {
      const refused = await deliver(event);
      assert.equal(refused.body.error, "underpaid", `${event.data.object.metadata.priced}: ${JSON.stringify(refused.body)}`);
      await assertNothingWritten(event, HELD);
    }
    const eur = (cents) => `€${(cents / 100).toFixed(2)}`;
    assert.match((await rows(forged[5]))[0].detail, new RegExp(`paid ${eur(before - 1)} where the shop's checkout asked ${eur(before)}`));
  });

  it("replayed or retried: answered 200 once more, nothing created twice", async () => {
    const event = sessionEvent({ clips: main.slug });
    const first = await deliver(event);
    assert.equal(first.status, 200);
    const page1 = html(await thanks(event.data.object.id));
    for (let i = 0; i < 2; i++) {
      const again = await deliver(event); // a retry: same event, freshly signed
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.equal(again.body.order_id, first.body.order_id);
    }
    // Another event id for the same checkout (e.g. async_payment_succeeded) is a duplicate too.
    const later = await deliver({ ...event, id: unique("evt"), type: "checkout.session.async_payment_succeeded" });
    assert.equal(later.body.duplicate, true);
    const order = await admin(stack, "GET", `/admin/orders/${first.body.order_id}`);
    assert.equal(order.body.links.length, 1, "one link only");
    assert.equal(order.body.events.filter((e) => e.kind === "create").length, 1);
    assert.equal(html(await thanks(event.data.object.id)), page1, "the same link is shown");
  });

  it("the same event delivered several times at once: one order; the rest 200 duplicate or 503 (retry)", async () => {
    const event = sessionEvent({ clips: main.slug });
    const answers = await Promise.all(Array.from({ length: 6 }, () => deliver(event)));
    for (const a of answers) assert.ok([200, 503].includes(a.status), JSON.stringify(a));
    const created = answers.filter((a) => a.status === 200 && !a.body.duplicate);
    assert.equal(created.length, 1, JSON.stringify(answers));
    // Stripe retries what got a 503: now it is a duplicate.
    for (const a of answers.filter((x) => x.status === 503)) {
      const retry = await deliver(event);
      assert.equal(retry.status, 200);
      assert.equal(retry.body.duplicate, true);
    }
    const order = await admin(stack, "GET", `/admin/orders/${created[0].body.order_id}`);
    assert.equal(order.body.links.length, 1);
    assert.equal(order.body.events.filter((e) => e.kind === "create").length, 1);
  });

  it("multi-clip order: one order, one link, every clip on the success page", async () => {
    const event = sessionEvent({ clips: `${other.slug}, ${main.slug}` });
    const res = await deliver(event);
    assert.equal(res.status, 200);
    const text = html(await thanks(event.data.object.id));
    for (const clip of [main, other]) {
      assert.match(text, new RegExp(`href="/download/[^"/]+/${clip.slug}"`), clip.slug);
    }
    const order = await admin(stack, "GET", `/admin/orders/${res.body.order_id}`);
    assert.deepEqual(JSON.parse(order.body.order.clips), [main.slug, other.slug].sort());
  });

  it("unpaid (delayed payment method): 200, no order yet, the success page says it is on its way; the later success event creates it", async () => {
    const event = sessionEvent({ clips: main.slug, paymentStatus: "unpaid" });
    const res = await deliver(event);
    assert.equal(res.status, 200);
    assert.equal(res.body.awaiting_payment, true);
    const none = await admin(stack, "GET", `/admin/payments?limit=1000`);
    assert.ok(!none.body.payments.some((p) => p.session_id === event.data.object.id && p.outcome === "processed"),
      "no order behind the session");
    // Back from paying by bank debit, the customer is told the link comes by
    // e-mail in a few days, not asked to wait here; the cart is emptied.
    const waiting = html(await curl(`${stack.base}/thanks?session_id=${event.data.object.id}&cart=AbCdEfGhIjKlMnOpQrStUv`));
    assert.match(waiting, /your payment is on its way/);
    assert.match(waiting, /<body data-cart-clear="AbCdEfGhIjKlMnOpQrStUv">/);
    assert.doesNotMatch(waiting, /data-await-order/);
    const paid = sessionEvent({ sessionId: event.data.object.id, clips: main.slug,
      type: "checkout.session.async_payment_succeeded" });
    assert.equal((await deliver(paid)).status, 200);
    assert.match(html(await thanks(event.data.object.id)), /Thank you for your order/);
  });

  it("a delayed payment that fails days later: the success page no longer promises a link, and says to buy again", async () => {
    const event = sessionEvent({ clips: main.slug, paymentStatus: "unpaid" });
    assert.equal((await deliver(event)).status, 200);
    assert.match(html(await thanks(event.data.object.id)), /your payment is on its way/);
    const failed = sessionEvent({ sessionId: event.data.object.id, clips: main.slug,
      type: "checkout.session.async_payment_failed", paymentStatus: "unpaid" });
    assert.equal((await deliver(failed)).status, 200);
    const page = await thanks(event.data.object.id);
    assert.equal(page.status, 200);
    assert.match(html(page), /Your payment did not go through/);
    assert.match(html(page), /no download link will come/);
    assert.doesNotMatch(html(page), /we e-mail you your download link|data-await-order/);
  });
});

describe("refused deliveries: 4xx, nothing written, visible to the owner", () => {
  it("bad signature (wrong secret, or body changed after signing) -> 400", async () => {
    const event = sessionEvent({ clips: main.slug });
    const wrong = await deliver(event, { secret: "whsec_someone_else" });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, "bad_signature");
    const body = JSON.stringify(event);
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_WEBHOOK_SECRET });
    const tampered = await deliver(body.replace(main.slug, other.slug), { signature: header });
    assert.equal(tampered.status, 400);
    assert.equal(tampered.body.error, "bad_signature");
    await assertNothingWritten(event);
  });

  it("missing or malformed Stripe-Signature -> 400", async () => {
    const event = sessionEvent({ clips: main.slug });
    assert.equal((await deliver(event, { signature: null })).body.error, "missing_signature");
    assert.equal((await deliver(event, { signature: "sha256=abc" })).body.error, "malformed_signature");
    await assertNothingWritten(event);
  });

  it("stale timestamp (a captured delivery replayed 10 minutes later) -> 400", async () => {
    const event = sessionEvent({ clips: main.slug });
    const res = await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, "stale_timestamp");
    await assertNothingWritten(event);
  });

  it("an event type the shop does not act on -> 200 and recorded (Stripe would disable an endpoint that keeps failing); malformed JSON -> 400", async () => {
    const event = sessionEvent({ clips: main.slug, type: "customer.created" });
    const res = await deliver(event);
    assert.equal(res.status, 200);
    assert.equal(res.body.ignored, true);
    await assertNothingWritten(event);
    const failed = sessionEvent({ clips: main.slug, type: "checkout.session.async_payment_failed", paymentStatus: "unpaid" });
    const answer = await deliver(failed);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.payment_failed, true);
    assert.match(html(await thanks(failed.data.object.id)), /did not go through/, "no order, and the page says so");
    const junk = await deliver('{"id": "evt_x", "type": ');
    assert.equal(junk.status, 400);
    assert.equal(junk.body.error, "malformed_event");
  });

  it("unknown clip -> 422 (Stripe retries: a clip put back makes the order) and no order; no clips at all -> 200, no order, recorded", async () => {
    const event = sessionEvent({ clips: `${main.slug},no-such-clip` });
    const res = await deliver(event);
    assert.equal(res.status, 422);
    assert.equal(res.body.error, "unknown_clip");
    await assertNothingWritten(event, HELD);
    const none = sessionEvent({});
    const answer = await deliver(none);
    assert.equal(answer.status, 200, "no retry could change it");
    assert.equal(answer.body.error, "no_clips");
    await assertNothingWritten(none, HELD);
    // A sale of another integration on the same Stripe account (no clips,
    // no Payment Link): recorded as not the shop's, and never alerted.
    const foreign = sessionEvent({});
    foreign.data.object.payment_link = null;
    const notOurs = await deliver(foreign);
    assert.equal(notOurs.status, 200);
    assert.equal(notOurs.body.error, "not_the_shops");
    await assertNothingWritten(foreign);
    const waiting = sessionEvent({ paymentStatus: "unpaid" });
    waiting.data.object.payment_link = null;
    assert.equal((await deliver(waiting)).body.ignored, true, "its bank debit is not waited for");
  });

  it("wrong method on the webhook -> 405; /thanks without a session id -> 400", async () => {
    const get = await curl(`${stack.base}${WEBHOOK}`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, "POST");
    assert.equal((await curl(`${stack.base}/thanks`)).status, 400);
    assert.equal((await curl(`${stack.base}/thanks?session_id=${encodeURIComponent("x' OR 1=1")}`)).status, 400);
    // Not a Checkout Session id: no checkout Stripe sent here, never
    // recorded as a customer waiting (the attack review: the owner was
    // told paid orders were not arriving, and nothing cleared it).
    assert.equal((await curl(`${stack.base}/thanks?session_id=not_a_session`)).status, 400);
  });

  it("every delivery is in the ledger (admin API, site-gen orders payments) and in the log", async () => {
    const res = await admin(stack, "GET", "/admin/payments?limit=1000");
    assert.equal(res.status, 200);
    const seen = {};
    for (const p of res.body.payments) seen[p.outcome] = p.status;
    assert.deepEqual(seen, {
      awaiting_payment: 200, bad_signature: 400, duplicate: 200, malformed_event: 400, malformed_signature: 400,
      amount_mismatch: 200, ignored: 200, missing_signature: 400, no_clips: 200, not_the_shops: 200, paid_twice: 200, payment_failed: 200, processed: 200,
      stale_timestamp: 400,
      underpaid: 200, unknown_clip: 422,
    });
    const paid = res.body.payments.find((p) => p.outcome === "processed");
    assert.equal(paid.customer_email, "buyer@example.com");
    assert.equal(paid.amount_total, main.price, "what the catalog charges");
    assert.match(paid.order_id, /^PAY-/);
    const unknown = res.body.payments.find((p) => p.outcome === "unknown_clip");
    assert.match(unknown.detail, /no-such-clip/);
    assert.match(unknown.session_id, /^cs_test_/);

    const [cmd, pre] = process.env.SITE_GEN_BIN
      ? [process.env.SITE_GEN_BIN, []]
      : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
    const { stdout } = await run(cmd, [...pre, "orders", "--worker-url", stack.base, "payments"], {
      cwd: REPO,
      env: { ...toolEnv, CLIPSTORE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    assert.match(stdout, /^TIME\s+STATUS\s+OUTCOME/);
    assert.match(stdout, /422 unknown_clip/);
    assert.match(stdout, /200 processed\s+PAY-/);

    // Refusals are warnings (errors when a signed, paid checkout was refused).
    const log = stack.log();
    assert.match(log, /"code":"bad_signature".*"event":"payment_webhook_refused"/);
    assert.match(log, /ERROR.*"code":"unknown_clip".*"session_id":"cs_test_/);
  });
});
