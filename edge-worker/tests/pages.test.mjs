// The order page, the error pages and the static shop, through the Worker in
// workerd: expired, tampered, wrong-clip and unknown-clip links, a clip whose
// object is missing from R2, and the test vectors' tokens.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { catalog, curl, mint, paths, startStack, vectors } from "./support/stack.mjs";

const { manifest, main, other, withheld } = catalog();
const shop = manifest.shop;
let stack;
let order; // a link covering `main` and `withheld`

before(async () => {
  stack = await startStack({ seed: [main, other] });
  order = await mint(stack, { order: "E2E-ORDER-7", clips: [main.slug, withheld.slug], downloads: 3 });
});

after(async () => {
  await stack?.stop();
});

const get = (p, args = []) => curl(`${stack.base}${p}`, { args });
const html = (res) => res.body.toString("utf8");
const escapeHtml = (s) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function assertShopPage(res) {
  assert.match(res.headers["content-type"], /^text\/html/);
  assert.equal(res.headers["cache-control"], "private, no-store");
  const page = html(res);
  assert.ok(page.includes(`href="${shop.stylesheet}"`), "links the shop stylesheet");
  assert.ok(page.includes(escapeHtml(shop.title)), "shows the shop title");
  return page;
}

describe("order page", () => {
  it("lists every clip of the token with title, size, downloads left, expiry and a link", async () => {
    const res = await get(`/download/${order.token}`);
    assert.equal(res.status, 200);
    const page = assertShopPage(res);
    assert.ok(page.includes("E2E-ORDER-7"));
    for (const clip of [main, withheld]) {
      assert.ok(page.includes(escapeHtml(clip.title)), `title of ${clip.slug}`);
      assert.ok(page.includes(`href="/download/${order.token}/${clip.slug}"`), `link to ${clip.slug}`);
    }
    assert.ok(!page.includes(escapeHtml(other.title)), "clips outside the order are not listed");
    assert.match(page, /3 of 3 downloads left/);
    assert.match(page, /valid until <time>\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC<\/time>/, "as the mail writes dates");
    assert.match(page, /\d+(\.\d)? (KB|MB|GB)/);
    // Each file's SHA-256, where the catalog knows it, to check what arrived.
    for (const clip of [main, withheld].filter((c) => c.sha256)) {
      assert.ok(page.includes(`<code class="sha256">${clip.sha256}</code>`), `sha256 of ${clip.slug}`);
    }
    assert.ok([main, withheld].some((c) => c.sha256), "the sample catalog has hashes");
  });

  it("the links on it download the clip", async () => {
    const page = html(await get(`/download/${order.token}`));
    const href = new RegExp(`href="(/download/[^"]+/${main.slug})"`).exec(page)[1];
    const res = await get(href, ["-I"]);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-length"], String(main.size));
  });

  it("answers HEAD with the same status and no body", async () => {
    const res = await get(`/download/${order.token}`, ["-I"]);
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^text\/html/);
    assert.equal(res.downloaded, 0);
  });

  it("works with a trailing slash", async () => {
    assert.equal((await get(`/download/${order.token}/`)).status, 200);
  });
});

describe("refused links", () => {
  it("an expired link -> 410 with a page that says how to get a new one", async () => {
    const monthAgo = Math.floor(Date.now() / 1000) - 40 * 86400;
    const expired = await mint(stack, { order: "E2E-OLD", clips: [main.slug], now: monthAgo, expires: "30d" });
    for (const p of [`/download/${expired.token}`, `/download/${expired.token}/${main.slug}`]) {
      const res = await get(p);
      assert.equal(res.status, 410, p);
      const page = assertShopPage(res);
      assert.match(page, /expired/i);
      assert.match(page, /new (one|link)/i);
      assert.ok(page.includes(shop.contact_email));
    }
    // The licence outlives the link: its certificate is still there, from
    // the expired link's page, and only with the link's own signature.
    const page = html(await get(`/download/${expired.token}`));
    const href = `/download/${expired.token}/${main.slug}/licence`;
    assert.ok(page.includes(`<a href="${href}">Licence certificate: ${escapeHtml(main.title)}</a>`), page);
    assert.ok(page.includes("<strong>E2E-OLD</strong>"), "the order number to write with");
    assert.ok(!page.includes(`href="/download/${expired.token}/${main.slug}"`), "no download link");
    const certificate = await get(href);
    assert.equal(certificate.status, 200);
    const shown = assertShopPage(certificate);
    assert.ok(shown.includes("<h1>Licence certificate</h1>") && shown.includes("E2E-OLD"), shown);
    const sig = expired.token.length - 3;
    const forged = expired.token.slice(0, sig) + (expired.token[sig] === "A" ? "B" : "A") + expired.token.slice(sig + 1);
    assert.equal((await get(`/download/${forged}/${main.slug}/licence`)).status, 403, "a forged expired link");
    assert.equal((await get(`/download/${forged}`)).status, 403);
  });

  it("a link with what a message ran into its end (`.` `,` `)` `>`) -> redirected to the link; one cut short points to recovery", async () => {
    for (const [tail, page] of [[")", ""], [".", ""], [",", ""], ["%3E", ""], ["%22).", ""], [").", `/${main.slug}/licence`]]) {
      const untidy = `/download/${order.token}${page}${tail}`;
      const res = await get(untidy);
      assert.equal(res.status, 302, untidy);
      assert.equal(res.headers.location, `/download/${order.token}${page}`, untidy);
      assert.equal((await get(untidy, ["-L"])).status, 200, `${untidy} followed`);
    }
    // A clip's or a certificate's address with a `/` at its end: the same
    // address (it said "no such clip"). The clip's is not followed here: it
    // would cost a download.
    for (const page of [`/${main.slug}`, `/${main.slug}/licence`]) {
      const res = await get(`/download/${order.token}${page}/`);
      assert.equal(res.status, 302, page);
      assert.equal(res.headers.location, `/download/${order.token}${page}`, page);
    }
    assert.equal((await get(`/download/${order.token}/${main.slug}/licence/`, ["-L"])).status, 200);
    const cut = await get(`/download/${order.token.slice(0, -1)}`);
    assert.equal(cut.status, 403);
    assert.ok(assertShopPage(cut).includes(`<a href="/orders/recover">have your download links e-mailed to you again</a>`));
  });

  it("a tampered link -> 403 with a generic page", async () => {
    const sig = order.token.length - 3;
    const flipped = order.token.slice(0, sig) + (order.token[sig] === "A" ? "B" : "A") + order.token.slice(sig + 1);
    for (const token of [flipped, `${order.token}x`, order.token.replace(/^./, "Z"), "not-a-token"]) {
      const res = await get(`/download/${token}/${main.slug}`);
      assert.equal(res.status, 403, token);
      const page = assertShopPage(res);
      assert.match(page, /not valid/i);
      assert.doesNotMatch(page, /signature|malformed|key/i);
    }
  });

  it("every must-fail test vector is refused with 403", async () => {
    const clockFree = new Set(["malformed", "unsupported_version", "unsupported_claim", "unknown_key", "bad_signature"]);
    let checked = 0;
    for (const v of vectors.must_fail) {
      if (!clockFree.has(v.expected_error_code) || v.token === "" || !/^[A-Za-z0-9._~-]+$/.test(v.token)) continue;
      const res = await get(`/download/${v.token}`);
      assert.equal(res.status, 403, `${v.name} (${v.expected_error_code})`);
      checked++;
    }
    assert.ok(checked >= 3, `checked ${checked} vectors`);
  });

  it("the valid test vectors, long expired, -> 410", async () => {
    const now = Date.now() / 1000;
    const expired = vectors.valid.filter((v) => v.claims.expires_at + vectors.clock_skew_secs < now);
    assert.ok(expired.length > 0);
    for (const v of expired) {
      const res = await get(`/download/${v.token}`);
      assert.equal(res.status, 410, v.name);
    }
  });

  it("a clip the token does not cover -> 403", async () => {
    const res = await get(`/download/${order.token}/${other.slug}`);
    assert.equal(res.status, 403);
    assertShopPage(res);
  });

  it("an unknown clip -> 404", async () => {
    for (const slug of ["no-such-clip", "..%2Fcatalog-manifest.json", main.object_key.replace(/\//g, "%2F")]) {
      const res = await get(`/download/${order.token}/${slug}`);
      assert.equal(res.status, 404, slug);
    }
  });

  it("object keys cannot be named in a URL", async () => {
    const res = await get(`/download/${order.token}/${main.object_key}`);
    assert.equal(res.status, 404);
  });

  it("a clip missing from R2 -> 503 apology, logged for the owner", async () => {
    const res = await get(`/download/${order.token}/${withheld.slug}`);
    assert.equal(res.status, 503);
    const page = assertShopPage(res);
    assert.match(page, /sorry/i);
    assert.ok(!page.includes(withheld.object_key), "no storage details for customers");
    // wrangler writes the Worker's console output to its log.
    const deadline = Date.now() + 5000;
    while (!stack.log().includes(`R2 object ${withheld.object_key} is missing`) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(stack.log(), /"code":"storage_unavailable"/);
    assert.ok(stack.log().includes(`R2 object ${withheld.object_key} is missing`));
  });

  it("POST -> 405 with Allow", async () => {
    const res = await get(`/download/${order.token}`, ["-X", "POST"]);
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, "GET, HEAD");
  });

  it("/download paths of the wrong shape -> 404", async () => {
    for (const p of ["/download/", `/download/${order.token}/${main.slug}/extra`]) {
      assert.equal((await get(p)).status, 404, p);
    }
  });
});

describe("static shop", () => {
  it("serves the home page and the stylesheet from public/", async () => {
    const home = await get("/");
    assert.equal(home.status, 200);
    assert.ok(home.body.equals(fs.readFileSync(path.join(paths.public, "index.html"))));
    const css = await get(shop.stylesheet);
    assert.equal(css.status, 200);
    assert.match(css.headers["content-type"], /^text\/css/);
  });

  it("serves every top-level page of public/", async () => {
    for (const entry of fs.readdirSync(paths.public, { withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".html") || entry.name === "404.html") continue;
      const res = await get(`/${entry.name}`, ["-L"]);
      assert.equal(res.status, 200, entry.name);
    }
  });

  it("unknown paths get the site's 404 page", async () => {
    const res = await get("/no-such-page/");
    assert.equal(res.status, 404);
    if (fs.existsSync(path.join(paths.public, "404.html"))) {
      assert.ok(res.body.equals(fs.readFileSync(path.join(paths.public, "404.html"))));
    }
  });

  it("never serves the catalog manifest", async () => {
    for (const p of ["/catalog-manifest.json", "/../catalog-manifest.json"]) {
      assert.equal((await get(p)).status, 404, p);
    }
  });
});
