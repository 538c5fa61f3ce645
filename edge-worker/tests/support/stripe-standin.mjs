// A stand-in for Stripe's API (`POST /v1/checkout/sessions`) for the
// end-to-end tests: a node `http` server on 127.0.0.1 and a free port. Point
// the Worker at it with `STRIPE_API_BASE=<url>`; point Stripe's own Node
// library at it with `{ host: "127.0.0.1", port, protocol: "http" }` to see
// what the library sends for the same parameters.
//
// It checks each request as Stripe's API reference documents it and answers
// like Stripe (https://docs.stripe.com/api/checkout/sessions/create):
//   Authorization: Bearer sk_…|rk_…   else 401 {"error": {"type": "invalid_request_error", …}}
//   Content-Type: application/x-www-form-urlencoded
//   Idempotency-Key: ≤ 255 characters; the same key with the same body answers
//     the first session again; with another body 400 idempotency_error
//   mode, success_url and line_items[i][price_data][currency|unit_amount|
//     product_data][name] + quantity required; ≤ 100 line items; metadata ≤ 50
//     keys of ≤ 40 characters, values ≤ 500 characters
//   success: 200, a Checkout Session object (id cs_test_…, url on this server).
// and `GET /v1/checkout/sessions/:id` (https://docs.stripe.com/api/checkout/sessions/retrieve):
//   the same Authorization; no body; 200 the session as it is now, 404
//   resource_missing for an id it never made.
// and `GET /v1/webhook_endpoints?limit=N` (https://docs.stripe.com/api/webhook_endpoints/list):
//   the same Authorization; no body; 200 a list object of the first N (1–100,
//   default 10) of `stripeApi.webhookEndpoints` (objects the test puts there).
//
// and `GET /v1/events` (https://docs.stripe.com/api/events/list): the same
//   Authorization; no body; created[gt|gte|lt|lte] integers, delivery_success,
//   types[i] (≤ 20), limit (1–100, default 10), starting_after (an event id of
//   the list, else 400 resource_missing: Stripe does not document its answer to
//   a cursor it cannot page from, and the Worker takes a 400 and a 404 alike);
//   200 a list object of
//   `stripeApi.events` that match, newest first, and `has_more`.
//
//   stripeApi.pay(id, {email, paymentIntent, paymentStatus})   the session completes as paying does
//   stripeApi.events          the account's events, each {event, delivered}: `delivered` false for one
//                             Stripe could not deliver to the webhook (still retrying, or given up)
//   stripeApi.sessions        every session made, by id
//   stripeApi.webhookEndpoints the account's webhook endpoints (empty until a test adds some)
//   const stripeApi = await startStripeStandin();
//   stripeApi.url / .port
//   stripeApi.requests        every request: {method, path, headers, raw, params, status, response}
//   stripeApi.failNext(n, how) the next n requests answer 500 (how = "500"), 403 ("permission"), 401 ("key": a rolled key)
//                              or drop the connection ("drop"); "none" lets them through (to fail a later one)
//   await stripeApi.close()

import crypto from "node:crypto";
import http from "node:http";

/** `a[b][0][c]=x` form pairs into nested objects and arrays, as Stripe reads them. */
export function parseForm(raw) {
  const root = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const parts = key.replace(/\]/g, "").split("[");
    let node = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1]);
      if (last) node[part] = value;
      else node = node[part] ??= nextIsIndex ? [] : {};
    });
  }
  return root;
}

function stripeError(status, type, message, extra = {}) {
  return { status, json: { error: { type, message, ...extra } } };
}

function check(req, raw) {
  if (req.method === "GET" && /^\/v1\/checkout\/sessions\/[^/?]+$/.test(req.url)) {
    if (!/^Bearer (sk|rk)_(test|live)_[A-Za-z0-9]{16,}$/.test(req.headers.authorization ?? "")) {
      return stripeError(401, "invalid_request_error", "Invalid API Key provided.");
    }
    if (raw.length > 0) return stripeError(400, "invalid_request_error", "A GET request has no body.");
    return { status: 200, retrieve: decodeURIComponent(req.url.split("/").pop()) };
  }
  if (req.method === "GET" && req.url.split("?")[0] === "/v1/webhook_endpoints") {
    if (!/^Bearer (sk|rk)_(test|live)_[A-Za-z0-9]{16,}$/.test(req.headers.authorization ?? "")) {
      return stripeError(401, "invalid_request_error", "Invalid API Key provided.");
    }
    if (raw.length > 0) return stripeError(400, "invalid_request_error", "A GET request has no body.");
    const limit = Number(new URLSearchParams(req.url.split("?")[1] ?? "").get("limit") ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return stripeError(400, "invalid_request_error", "Invalid integer: limit.", { param: "limit" });
    }
    return { status: 200, list: limit };
  }
  if (req.method === "GET" && req.url.split("?")[0] === "/v1/events") {
    if (!/^Bearer (sk|rk)_(test|live)_[A-Za-z0-9]{16,}$/.test(req.headers.authorization ?? "")) {
      return stripeError(401, "invalid_request_error", "Invalid API Key provided.");
    }
    if (raw.length > 0) return stripeError(400, "invalid_request_error", "A GET request has no body.");
    const q = parseForm(req.url.split("?")[1] ?? "");
    const limit = Number(q.limit ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return stripeError(400, "invalid_request_error", "Invalid integer: limit.", { param: "limit" });
    }
    for (const [op, value] of Object.entries(q.created ?? {})) {
      if (!["gt", "gte", "lt", "lte"].includes(op) || !/^\d+$/.test(value)) {
        return stripeError(400, "invalid_request_error", `Invalid created[${op}].`, { param: "created" });
      }
    }
    if (q.types !== undefined && (!Array.isArray(q.types) || q.types.length > 20 || q.type !== undefined)) {
      return stripeError(400, "invalid_request_error", "Invalid array: types.", { param: "types" });
    }
    if (q.delivery_success !== undefined && !["true", "false"].includes(q.delivery_success)) {
      return stripeError(400, "invalid_request_error", "Invalid boolean: delivery_success.", { param: "delivery_success" });
    }
    return { status: 200, events: { ...q, limit } };
  }
  if (req.method !== "POST" || req.url.split("?")[0] !== "/v1/checkout/sessions") {
    return stripeError(404, "invalid_request_error", `Unrecognized request URL (${req.method}: ${req.url}).`);
  }
  const auth = req.headers.authorization ?? "";
  if (!/^Bearer (sk|rk)_(test|live)_[A-Za-z0-9]{16,}$/.test(auth)) {
    return stripeError(401, "invalid_request_error", "Invalid API Key provided.");
  }
  if (!(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
    return stripeError(400, "invalid_request_error", "Invalid request: unsupported Content-Type.");
  }
  const p = parseForm(raw);
  if (p.mode !== "payment") return stripeError(400, "invalid_request_error", "Missing required param: mode.", { param: "mode" });
  if (!p.success_url) return stripeError(400, "invalid_request_error", "Missing required param: success_url.", { param: "success_url" });
  const lines = p.line_items ?? [];
  if (lines.length === 0 || lines.length > 100) {
    return stripeError(400, "invalid_request_error", "line_items must have between 1 and 100 items.", { param: "line_items" });
  }
  for (const [i, line] of lines.entries()) {
    const d = line.price_data ?? {};
    if (!/^[a-z]{3}$/.test(d.currency ?? "") || !/^\d+$/.test(d.unit_amount ?? "") || !d.product_data?.name || line.quantity !== "1") {
      return stripeError(400, "invalid_request_error", `Invalid line_items[${i}].`, { param: `line_items[${i}]` });
    }
  }
  const metadata = p.metadata ?? {};
  const keys = Object.keys(metadata);
  if (keys.length > 50 || keys.some((k) => k.length > 40) || Object.values(metadata).some((v) => v.length > 500)) {
    return stripeError(400, "invalid_request_error", "Invalid metadata.", { param: "metadata" });
  }
  return { status: 200, params: p };
}

export async function startStripeStandin() {
  const requests = [];
  const byKey = new Map();
  const sessions = new Map();
  const webhookEndpoints = [];
  const events = [];
  let failures = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const record = { method: req.method, path: req.url, headers: req.headers, raw, params: undefined };
      requests.push(record);
      const fail = failures.shift();
      if (fail === "drop") {
        record.status = "dropped";
        req.socket.destroy();
        return;
      }
      let answer;
      if (fail === "key") {
        answer = stripeError(401, "invalid_request_error", "Invalid API Key provided: rk_test_***");
      } else if (fail === "permission") {
        answer = stripeError(403, "invalid_request_error",
          "The provided key 'rk_test_***' does not have the required permissions for this endpoint.");
      } else if (fail === "500") {
        answer = stripeError(500, "api_error", "Something went wrong on Stripe's end.");
      } else {
        answer = check(req, raw);
      }
      if (answer.status === 200 && answer.events !== undefined) {
        const q = answer.events;
        const c = q.created ?? {};
        const matching = events
          .map((e, i) => ({ ...e, i }))
          .filter(({ event: e, delivered }) =>
            (c.gt === undefined || e.created > Number(c.gt)) && (c.gte === undefined || e.created >= Number(c.gte))
            && (c.lt === undefined || e.created < Number(c.lt)) && (c.lte === undefined || e.created <= Number(c.lte))
            && (q.types === undefined || q.types.includes(e.type))
            && (q.delivery_success === undefined || String(delivered) === q.delivery_success))
          .sort((a, b) => b.event.created - a.event.created || b.i - a.i)
          .map(({ event }) => event);
        let from = 0;
        if (q.starting_after !== undefined) {
          from = matching.findIndex((e) => e.id === q.starting_after) + 1;
          if (from === 0) {
            answer = stripeError(400, "invalid_request_error", `No such event: '${q.starting_after}'`,
              { code: "resource_missing", param: "starting_after" });
          }
        }
        if (answer.status === 200) {
          answer = { status: 200, json: { object: "list", data: matching.slice(from, from + q.limit),
            has_more: matching.length > from + q.limit, url: "/v1/events" } };
        }
      } else if (answer.status === 200 && answer.list !== undefined) {
        answer = { status: 200, json: { object: "list", data: webhookEndpoints.slice(0, answer.list),
          has_more: webhookEndpoints.length > answer.list, url: "/v1/webhook_endpoints" } };
      } else if (answer.status === 200 && answer.retrieve !== undefined) {
        const session = sessions.get(answer.retrieve);
        answer = session
          ? { status: 200, json: session }
          : stripeError(404, "invalid_request_error", `No such checkout.session: '${answer.retrieve}'`,
            { code: "resource_missing", param: "id" });
      } else if (answer.status === 200) {
        record.params = answer.params;
        const key = req.headers["idempotency-key"];
        const earlier = key && byKey.get(key);
        if (earlier && earlier.raw !== raw) {
          answer = stripeError(400, "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were first used with.");
        } else if (earlier) {
          answer = { status: 200, json: earlier.session };
        } else {
          const id = `cs_test_${crypto.randomBytes(24).toString("base64url").replace(/[-_]/g, "a")}`;
          const p = answer.params;
          const amount = p.line_items.reduce((sum, l) => sum + Number(l.price_data.unit_amount), 0);
          const session = {
            id, object: "checkout.session", created: Math.floor(Date.now() / 1000), mode: "payment", status: "open",
            payment_status: "unpaid",
            amount_subtotal: amount, amount_total: amount, currency: p.line_items[0].price_data.currency,
            metadata: p.metadata ?? {}, success_url: p.success_url, cancel_url: p.cancel_url ?? null,
            livemode: false, url: `http://127.0.0.1:${server.address().port}/c/pay/${id}`,
          };
          if (key) byKey.set(key, { raw, session });
          sessions.set(id, session);
          answer = { status: 200, json: session };
        }
      }
      record.status = answer.status;
      record.response = answer.json;
      const body = JSON.stringify(answer.json);
      res.writeHead(answer.status, { "content-type": "application/json", "request-id": `req_${crypto.randomUUID()}` });
      res.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    sessions,
    webhookEndpoints,
    events,
    /** The session completes, as it does when the customer pays on Stripe's page. */
    pay(id, { email = "buyer@example.com", paymentIntent, paymentStatus = "paid" } = {}) {
      const session = sessions.get(id);
      Object.assign(session, { status: "complete", payment_status: paymentStatus, payment_intent: paymentIntent ?? null,
        customer_details: { email } });
      return session;
    },
    failNext(n, how = "500") {
      failures = failures.concat(Array(n).fill(how));
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
