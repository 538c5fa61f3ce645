// `site-gen serve` in a real browser (headless Chromium, the Debian package,
// driven by playwright-core): a page opened from the server shows an edit to
// the Markdown without a manual reload, shows a broken edit's errors as an
// overlay over the last good build, and drops the overlay once fixed.
//
// Run by scripts/test-browser.sh, which builds site-gen and sets SITE_GEN.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const siteGen = process.env.SITE_GEN ?? join(repo, "target/debug/site-gen");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT = 20_000;

let work, shop, server, browser, base;
let serverStderr = () => "";

function startServer() {
  const child = spawn(siteGen, ["serve", "--port", "0", "--root", shop, "--out", join(work, "site")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  serverStderr = () => stderr;
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), WAIT);
    child.on("exit", (code) => reject(new Error(`serve exited (${code}):\n${stderr}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = line.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolveStart({ child, url: `http://127.0.0.1:${m[1]}` });
      }
    });
  });
}

// Saves the way most editors do: a new file renamed over the old one, so the
// server never sees a half-written file.
function edit(rel, from, to) {
  const path = join(shop, rel);
  const text = readFileSync(path, "utf8");
  assert.ok(text.includes(from), `${rel} contains ${from}`);
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  writeFileSync(tmp, text.replace(from, to));
  renameSync(tmp, path);
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "site-gen-browser-"));
  shop = join(work, "shop");
  cpSync(join(repo, "site-gen/tests/fixtures/small-shop"), shop, { recursive: true });
  const started = await startServer();
  server = started.child;
  base = started.url;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("an edit shows up without a manual reload; errors show as an overlay", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/news/first/`);
  assert.match(await page.innerText("main"), /Hello from the first post\./);
  // The page has opened its event stream once the script ran.
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((r) => r.name.includes("/__site-gen/")));

  await page.evaluate(() => (window.oldDocument = true));
  edit("content/news/first.md", "Hello from the **first** post.", "Hello from the **browser** test.");
  await page.waitForFunction(() => document.body.innerText.includes("Hello from the browser test."), null, {
    timeout: WAIT,
  });
  assert.equal(await page.evaluate(() => window.oldDocument), undefined, "the page reloaded itself");

  // A broken edit: the overlay names file, line and problem; the last good page stays underneath.
  edit("content/news/first.md", "date = 2026-01-05", 'date = 2026-01-05\ntitel = "typo"');
  await page.waitForFunction(() => document.getElementById("site-gen-errors")?.innerText.includes("titel"), null, {
    timeout: WAIT,
  });
  const text = await page.innerText("#site-gen-errors");
  assert.match(text, /content\/news\/first\.md:4:1/);
  assert.match(text, /titel/);
  assert.match(await page.innerText("main"), /Hello from the browser test\./);

  // Fixed: the overlay goes and the page is current.
  edit("content/news/first.md", '\ntitel = "typo"', "");
  await page.waitForSelector("#site-gen-errors", { state: "detached", timeout: WAIT });
  assert.match(await page.innerText("main"), /Hello from the browser test\./);
  await page.close();
});

// A warning (the build goes on) is said where the owner looks while
// editing: the terminal and a folded panel in the page, which goes once
// fixed. A photo's name with a space left the image as text, unsaid.
test("an edit that causes a warning shows it in the terminal and in a folded panel, gone once fixed", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/news/first/`);
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((r) => r.name.includes("/__site-gen/")));
  // The fixture's one warning to start with: a test-mode Payment Link.
  await page.waitForSelector("#site-gen-warnings");
  assert.match(await page.locator("#site-gen-warnings summary").innerText(), /1 warning\b/);
  const before = serverStderr().length;
  edit("content/news/first.md", "Hello from the", "![boat](/images/Boat Photo.jpg)\n\nHello from the");
  await page.waitForFunction(() => document.getElementById("site-gen-warnings")?.textContent.includes("has a space"), null, {
    timeout: WAIT,
  });
  const panel = page.locator("#site-gen-warnings");
  assert.equal(await panel.evaluate((d) => d.open), false, "folded: it does not cover the page");
  assert.match(await panel.locator("summary").innerText(), /2 warnings/);
  await panel.locator("summary").click();
  assert.match(await panel.innerText(), /content\/news\/first\.md:\d+:\d+/);
  assert.match(await panel.innerText(), /Boat%20Photo\.jpg/, "the help's fix");
  assert.equal(await page.locator("#site-gen-errors").count(), 0, "not an error overlay");
  const printed = serverStderr().slice(before);
  assert.match(printed, /warning: this image did not become one, the page shows its text/);

  edit("content/news/first.md", "![boat](/images/Boat Photo.jpg)\n\n", "");
  await page.waitForFunction(() => !document.body.innerText.includes("Boat Photo"), null, { timeout: WAIT });
  await page.waitForFunction(() => /1 warning\b/.test(document.querySelector("#site-gen-warnings summary")?.textContent),
    null, { timeout: WAIT });
  await page.close();
});

// A browser keeps about six connections to one host for all its tabs: tabs
// in the background close their event streams, so the seventh page opened
// still loads, and a tab shown again catches up on the rebuilds it missed.
test("tabs in the background hold no connection, and catch up when shown", async () => {
  const visibility = (state) => {
    Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  };
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 6; i++) {
    const tab = await context.newPage();
    await tab.goto(`${base}/news/first/`);
    await tab.waitForFunction(() => performance.getEntriesByType("resource").some((r) => r.name.includes("/__site-gen/")));
    await tab.evaluate(visibility, "hidden");
    tabs.push(tab);
  }
  const seventh = await context.newPage();
  await seventh.goto(`${base}/news/second/`, { timeout: 5_000 });
  assert.match(await seventh.innerText("main"), /final/i);

  await tabs[0].evaluate(() => (window.oldDocument = true));
  edit("content/news/first.md", "Hello from the **browser** test.", "Hello from the **background** test.");
  // Shown again: the server's first message names a newer build, so it reloads.
  await tabs[0].evaluate(visibility, "visible");
  await tabs[0].waitForFunction(() => document.body.innerText.includes("Hello from the background test."), null, {
    timeout: WAIT,
  });
  await context.close();
});
