// The search page of the built sample shop in a real browser (headless
// Chromium, the Debian package, driven by playwright-core): typing a query,
// picking a filter, filters alone, the address that keeps a search, the
// live region, and the page without JavaScript.
//
// The site is built with site-gen and served by a tiny static server on
// 127.0.0.1 that sends the shop's own Content-Security-Policy (read from the
// built public/_headers), so Pagefind's WebAssembly must work under it and
// an inline script would fail. Any console error fails the test.
//
// Run by scripts/test-browser.sh, which builds site-gen and sets SITE_GEN.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const siteGen = process.env.SITE_GEN ?? join(repo, "target/debug/site-gen");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TYPES = {
  ".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".json": "application/json",
  ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".mp4": "video/mp4",
};

let work, site, server, base, browser, csp;

// Serves `site` like the Worker serves public/ (/x/ is /x/index.html), with the shop's CSP.
function serve(root) {
  return new Promise((resolveStart) => {
    const srv = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      let file = normalize(join(root, path));
      try {
        if (!file.startsWith(root) || req.method !== "GET") throw new Error("no");
        if (statSync(file).isDirectory()) file = join(file, "index.html");
        const body = readFileSync(file);
        res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-security-policy": csp });
        res.end(body);
      } catch {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not found");
      }
    });
    srv.listen(0, "127.0.0.1", () => resolveStart(srv));
  });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "clipstore-search-"));
  site = join(work, "public");
  execFileSync(siteGen, ["build", "--root", repo, "--out", site, "--manifest", join(work, "manifest.json")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  csp = readFileSync(join(site, "_headers"), "utf8").match(/Content-Security-Policy: (.*)/)[1];
  server = await serve(site);
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// A fresh browser profile whose page reports every console error and
// failed page script (a CSP violation shows up as one).
async function open(options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  return { context, page, errors };
}


// The titles of the results once the live region says `said`, sorted.
async function results(page, said) {
  await page.locator("[data-search-status]").filter({ hasText: said }).waitFor({ timeout: 10000 });
  return (await page.locator("[data-search-results] .clip-card-title a").allInnerTexts()).sort();
}

test("type a query, then pick a filter: the matching clips, a live count, and an address that keeps the search", async () => {
  const { context, page, errors } = await open();
  await page.goto(`${base}/`);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Search" }).click();
  await page.waitForURL(`${base}/search/`);
  assert.equal(await page.locator("[data-search-no-script]").isVisible(), false);

  await page.getByLabel("Search for").fill("harbour");
  assert.deepEqual(await results(page, "3 clips found."), ["Harbour at Dawn", "Night Ferry Departure", "Storm Surf at the Breakwater"]);

  await page.getByLabel("Duration").selectOption("Under 10 s");
  assert.deepEqual(await results(page, "1 clip found."), ["Storm Surf at the Breakwater"]);
  const card = page.locator("[data-search-results] .clip-card");
  assert.equal(await card.locator(".clip-card-title a").getAttribute("href"), "/clips/storm-surf-at-the-breakwater/");
  assert.equal(await card.locator("img").getAttribute("src"), "/posters/storm-surf-at-the-breakwater.jpg");
  assert.match(await card.locator(".price").innerText(), /^€24\.00$/);
  assert.equal(await page.locator("[data-search-status]").getAttribute("aria-live"), "polite");

  // The address keeps the search: a reload shows the same.
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("q"), "harbour");
  assert.equal(url.searchParams.get("duration"), "Under 10 s");
  await page.reload();
  assert.equal(await page.getByLabel("Search for").inputValue(), "harbour");
  assert.deepEqual(await results(page, "1 clip found."), ["Storm Surf at the Breakwater"]);

  // A query nothing matches.
  await page.getByLabel("Duration").selectOption("");
  await page.getByLabel("Search for").fill("volcano");
  assert.deepEqual(await results(page, "No clips found."), []);
  assert.deepEqual(errors, [], "no console errors (CSP violations show up as these)");
  await context.close();
});

test("filters alone, without words: price, tag and resolution", async () => {
  const { context, page, errors } = await open();
  await page.goto(`${base}/search/`);
  await page.getByLabel("Price").selectOption("Under €20");
  assert.deepEqual(await results(page, "3 clips found."), ["Dune Grass in the Wind", "Harbour at Dawn", "North Sea Swell"]);
  await page.getByLabel("Tag").selectOption("dusk");
  assert.deepEqual(await results(page, "1 clip found."), ["Dune Grass in the Wind"]);
  // A clip is found by each of its files' prices: Harbour at Dawn's main
  // file is €24 (its others €18 and €12), so it is between €20 and €25 too
  // (opened with that filter in the address: no other state on the way).
  const middle = await context.newPage();
  await middle.goto(`${base}/search/?${new URLSearchParams({ price: "€20–€25" })}`);
  assert.ok((await results(middle, /clips? found\./)).includes("Harbour at Dawn"));
  await middle.close();
  await page.getByLabel("Price").selectOption("");
  await page.getByLabel("Resolution").selectOption("720p");
  assert.deepEqual(await results(page, "3 clips found."), ["Dune Grass in the Wind", "Low Tide Estuary Timelapse", "Starlings over the Marsh"]);
  // A resolution only another file of a clip has finds that clip, whose
  // card names every resolution it is sold in.
  await page.getByLabel("Tag").selectOption("");
  await page.getByLabel("Resolution").selectOption("640×360");
  assert.deepEqual(await results(page, "1 clip found."), ["Harbour at Dawn"]);
  assert.match(await page.locator("[data-search-results] .clip-card-meta").innerText(), /^720p, 854×480, 640×360 · /);
  // Nothing chosen, nothing typed: no results and nothing said.
  await page.getByLabel("Tag").selectOption("");
  await page.getByLabel("Resolution").selectOption("");
  await page.locator("[data-search-status]").filter({ hasText: /^$/ }).waitFor();
  assert.equal(await page.locator("[data-search-results] .clip-card").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("without JavaScript the page says search needs it and links the clips", async () => {
  const { context, page } = await open({ javaScriptEnabled: false });
  await page.goto(`${base}/search/`);
  assert.match(await page.locator("main").innerText(), /Search needs JavaScript/);
  assert.equal(await page.getByRole("searchbox").isVisible(), false);
  await page.getByRole("link", { name: "Browse all clips" }).click();
  await page.waitForURL(`${base}/clips/`);
  await context.close();
});
