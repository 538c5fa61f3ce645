// A stand-in for Resend's send API (https://resend.com/docs/api-reference/emails/send-email)
// for the end-to-end tests: a node `http` server on 127.0.0.1 and a free port.
// Point the Worker at it with `MAIL_API_BASE=<url>` and any `RESEND_API_KEY=re_…`
// of the right shape in .dev.vars.
//
// It checks each request as Resend documents it and answers like Resend:
//   POST /emails                      anything else: 404 / 405
//   Authorization: Bearer re_…        missing: 401 missing_api_key; malformed: 403 invalid_api_key
//   Content-Type: application/json    else 400 validation_error
//   Idempotency-Key: 1-256 chars      required here (clipstore always sends one); else 400 invalid_idempotency_key
//   JSON {from, to, subject, html|text}
//                                     missing or malformed: 422 missing_required_field / validation_error
//   success: 200 {"id": "<uuid>"}; a repeated Idempotency-Key with the same body
//   answers the first id (and records nothing new in `sent`), with another body
//   409 invalid_idempotent_request.
// Errors have Resend's shape {statusCode, name, message}.
//
//   const resend = await startResendStandin();
//   resend.url            "http://127.0.0.1:<port>"
//   resend.requests       every request: {method, path, headers, body (parsed or raw), status, response}
//   resend.sent           the e-mails accepted (first time per idempotency key): {id, key, email}
//   resend.failNext(n)    the next n requests answer 500 application_error (after recording them)
//   resend.revokeKey(key) requests with that API key answer 403 invalid_api_key, as Resend answers a
//                         deleted key (null: none revoked)
//   await resend.close()

import crypto from "node:crypto";
import http from "node:http";

const ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

/** `addr` or `Name <addr>`. */
function validMailbox(value) {
  if (typeof value !== "string") return false;
  const m = value.trim().match(/^(?:[^<>]*<([^<>]+)>|([^<>]+))$/);
  return Boolean(m) && ADDRESS.test((m[1] ?? m[2]).trim());
}

function error(statusCode, name, message) {
  return { status: statusCode, json: { statusCode, name, message } };
}

/** Checks a request as Resend would; `{status, json}` to answer. */
function check(req, raw, seenKeys, revoked) {
  if (req.url.split("?")[0] !== "/emails") return error(404, "not_found", "The requested endpoint does not exist.");
  if (req.method !== "POST") return error(405, "method_not_allowed", "Method is not allowed for the requested path.");
  const auth = req.headers.authorization;
  if (!auth) return error(401, "missing_api_key", "Missing API key in the authorization header.");
  if (!/^Bearer re_[A-Za-z0-9_-]{8,}$/.test(auth) || auth === `Bearer ${revoked}`) {
    return error(403, "invalid_api_key", "API key is invalid.");
  }
  if (!(req.headers["content-type"] ?? "").toLowerCase().startsWith("application/json")) {
    return error(400, "validation_error", "Content-Type must be application/json.");
  }
  const key = req.headers["idempotency-key"];
  if (!key || key.length > 256) {
    return error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.");
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return error(400, "validation_error", "The request body is not valid JSON.");
  }
  for (const field of ["from", "to", "subject"]) {
    if (body[field] === undefined || body[field] === "") {
      return error(422, "missing_required_field", `The \`${field}\` field is missing.`);
    }
  }
  if (!body.html && !body.text) return error(422, "missing_required_field", "Either `html` or `text` must be provided.");
  if (!validMailbox(body.from)) {
    return error(422, "validation_error", "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.");
  }
  const to = Array.isArray(body.to) ? body.to : [body.to];
  if (to.length === 0 || to.length > 50 || !to.every((a) => typeof a === "string" && ADDRESS.test(a))) {
    return error(422, "validation_error", "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.");
  }
  if (body.reply_to !== undefined) {
    const replyTo = Array.isArray(body.reply_to) ? body.reply_to : [body.reply_to];
    if (!replyTo.every((a) => typeof a === "string" && ADDRESS.test(a))) {
      return error(422, "validation_error", "Invalid `reply_to` field.");
    }
  }
  const seen = seenKeys.get(key);
  if (seen) {
    if (seen.raw !== raw) {
      return error(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload.");
    }
    return { status: 200, json: { id: seen.id }, replay: true };
  }
  return { status: 200, json: { id: crypto.randomUUID() }, key, email: body };
}

export async function startResendStandin() {
  const requests = [];
  const sent = [];
  const seenKeys = new Map();
  let failures = 0;
  let revoked = null;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let answer;
      if (failures > 0) {
        failures -= 1;
        answer = error(500, "application_error", "An unexpected error occurred (stand-in told to fail).");
      } else {
        answer = check(req, raw, seenKeys, revoked);
        if (answer.status === 200 && !answer.replay) {
          seenKeys.set(answer.key, { id: answer.json.id, raw });
          sent.push({ id: answer.json.id, key: answer.key, email: answer.email });
        }
      }
      let body = raw;
      try {
        body = JSON.parse(raw);
      } catch {}
      requests.push({
        method: req.method,
        path: req.url,
        headers: { ...req.headers },
        body,
        status: answer.status,
        response: answer.json,
      });
      const json = JSON.stringify(answer.json);
      res.writeHead(answer.status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
      res.end(json);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sent,
    failNext(n) {
      failures = n;
    },
    revokeKey(key) {
      revoked = key;
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
