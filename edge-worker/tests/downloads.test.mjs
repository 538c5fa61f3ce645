// Clip downloads through the Worker in workerd, checked with real clients:
// curl (full, every range form, 416, HEAD, conditional requests), an
// interrupted download resumed with `wget -c`, and aria2c (which insists on
// Content-Range in every 206).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { catalog, curl, mint, rawRequest, run, sha256File, startStack } from "./support/stack.mjs";

const { main, other } = catalog();
let stack;
let clipUrl;
let work;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-dl-"));
  stack = await startStack({ seed: [main, other] });
  // A generous allowance: this file checks HTTP behaviour, not counting
  // (ledger.test.mjs does), and downloads the clip many times over.
  const { url } = await mint(stack, { order: "E2E-DL-1", clips: [main.slug], downloads: 1000 });
  clipUrl = `${url}/${main.slug}`;
});

after(async () => {
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const sourceSha = () => sha256File(main.file);

function assertDownloadHeaders(headers) {
  assert.equal(headers["content-type"], main.content_type);
  assert.match(headers["content-disposition"], /^attachment; filename="/);
  if (/[^\x20-\x7e]|["%]/.test(main.file_name)) {
    assert.ok(headers["content-disposition"].includes("filename*=UTF-8''"));
  }
  assert.equal(headers["accept-ranges"], "bytes");
  assert.match(headers.etag, /^"[^"]+"$/);
  assert.ok(!Number.isNaN(Date.parse(headers["last-modified"])), headers["last-modified"]);
  assert.equal(headers["cache-control"], "private, no-store");
  assert.equal(headers["transfer-encoding"], undefined, "streamed with Content-Length, not chunked");
}

describe("full download", () => {
  it("curl gets 200 with every header and the exact bytes", async () => {
    const out = path.join(work, "full.bin");
    const res = await curl(clipUrl, { output: out });
    assert.equal(res.status, 200);
    assertDownloadHeaders(res.headers);
    assert.equal(res.headers["content-length"], String(main.size));
    assert.equal(res.headers["content-range"], undefined);
    assert.equal(sha256File(out), sourceSha());
    if (main.sha256) assert.equal(sha256File(out), main.sha256);
  });

  it("curl -J saves under the customer file name", async () => {
    const dir = fs.mkdtempSync(path.join(work, "named-"));
    await run("curl", ["-sS", "-O", "-J", clipUrl], { cwd: dir });
    const files = fs.readdirSync(dir);
    assert.equal(files.length, 1);
    assert.equal(sha256File(path.join(dir, files[0])), sourceSha());
  });

  it("HEAD answers the GET headers with no body", async () => {
    const res = await curl(clipUrl, { args: ["-I"] });
    assert.equal(res.status, 200);
    assertDownloadHeaders(res.headers);
    assert.equal(res.headers["content-length"], String(main.size));
    assert.equal(res.downloaded, 0);
    // On the wire: the header block and nothing after it.
    const raw = await rawRequest(stack.base, "HEAD", new URL(clipUrl).pathname);
    const text = raw.toString("latin1");
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, new RegExp(`\r\ncontent-length: ${main.size}\r\n`, "i"));
    assert.ok(text.endsWith("\r\n\r\n"), "no body after the headers");
  });
});

describe("customer file names", () => {
  it("Content-Disposition carries the exact name in filename* and an ASCII fallback", async () => {
    const { url } = await mint(stack, { order: "E2E-DL-NAME", clips: [other.slug] });
    const res = await curl(`${url}/${other.slug}`, { args: ["-I"] });
    assert.equal(res.status, 200);
    const cd = res.headers["content-disposition"];
    const fallback = /filename="([^"]*)"/.exec(cd)[1];
    assert.match(fallback, /^[\x20-\x7e]+$/, "plain filename is printable ASCII");
    const star = /filename\*=UTF-8''([^;\s]+)/.exec(cd);
    if (/[^\x20-\x7e]|["%]/.test(other.file_name)) {
      assert.ok(star, `filename* expected in ${cd}`);
      assert.equal(decodeURIComponent(star[1]), other.file_name);
    } else {
      assert.equal(fallback, other.file_name);
    }
  });
});

describe("byte ranges", () => {
  const slice = (start, end) => fs.readFileSync(main.file).subarray(start, end + 1);
  const size = main.size;

  for (const [name, header, start, end] of [
    ["a-b", "bytes=100-1123", 100, 1123],
    ["a-", `bytes=${size - 5000}-`, size - 5000, size - 1],
    ["-n", "bytes=-777", size - 777, size - 1],
    ["b past the end", `bytes=10-${size + 1000}`, 10, size - 1],
  ]) {
    it(`${name} -> 206 with Content-Range and exactly those bytes`, async () => {
      const res = await curl(clipUrl, { args: ["-H", `Range: ${header}`] });
      assert.equal(res.status, 206);
      assertDownloadHeaders(res.headers);
      assert.equal(res.headers["content-range"], `bytes ${start}-${end}/${size}`);
      assert.equal(res.headers["content-length"], String(end - start + 1));
      assert.ok(res.body.equals(slice(start, end)));
    });
  }

  it("a range starting at the end -> 416 with bytes */size", async () => {
    const res = await curl(clipUrl, { args: ["-H", `Range: bytes=${size}-`] });
    assert.equal(res.status, 416);
    assert.equal(res.headers["content-range"], `bytes */${size}`);
  });

  it("multiple ranges -> the whole clip with 200 (documented)", async () => {
    const res = await curl(clipUrl, { args: ["-H", "Range: bytes=0-9,20-29"] });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-length"], String(size));
    assert.equal(res.body.length, size);
  });

  // A GET (a HEAD ignores Range whatever it says): the whole clip.
  it("an invalid Range header is ignored -> 200 with the whole clip", async () => {
    for (const range of ["bytes=50-10", "bytes=abc", "items=0-10"]) {
      const res = await curl(clipUrl, { args: ["-H", `Range: ${range}`] });
      assert.equal(res.status, 200, range);
      assert.equal(res.headers["content-range"], undefined, range);
      assert.equal(res.body.length, size, range);
    }
  });
});

describe("conditional requests", () => {
  let etag;
  let lastModified;
  before(async () => {
    const res = await curl(clipUrl, { args: ["-I"] });
    etag = res.headers.etag;
    lastModified = res.headers["last-modified"];
  });

  it("If-None-Match with the ETag -> 304 without body", async () => {
    const res = await curl(clipUrl, { args: ["-H", `If-None-Match: ${etag}`] });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers["cache-control"], "private, no-store");
    assert.equal(res.body.length, 0);
  });

  it("If-None-Match with another tag -> 200", async () => {
    const res = await curl(clipUrl, { args: ["-I", "-H", 'If-None-Match: "something-else"'] });
    assert.equal(res.status, 200);
  });

  it("If-Modified-Since Last-Modified -> 304", async () => {
    const res = await curl(clipUrl, { args: ["-H", `If-Modified-Since: ${lastModified}`] });
    assert.equal(res.status, 304);
  });

  it("If-Range with the current ETag honours the range", async () => {
    const res = await curl(clipUrl, { args: ["-H", "Range: bytes=0-99", "-H", `If-Range: ${etag}`] });
    assert.equal(res.status, 206);
    assert.equal(res.body.length, 100);
  });

  it("If-Range with a stale ETag sends the whole clip", async () => {
    const res = await curl(clipUrl, { args: ["-H", "Range: bytes=0-99", "-H", 'If-Range: "stale"'] });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, main.size);
  });

  it("If-Match with another tag -> 412", async () => {
    const res = await curl(clipUrl, { args: ["-H", 'If-Match: "stale"'] });
    assert.equal(res.status, 412);
  });
});

describe("resumed downloads", () => {
  it("an interrupted curl download resumed with wget -c is byte-identical", async () => {
    const out = path.join(work, "resumed.bin");
    // Start a slow download and kill it (by pid) part-way.
    const slow = spawn("curl", ["-sS", "--limit-rate", "64K", "-o", out, clipUrl], { stdio: "ignore" });
    const done = new Promise((resolve) => slow.on("exit", resolve));
    await new Promise((r) => setTimeout(r, 1500));
    slow.kill("SIGKILL");
    await done;
    let have = fs.existsSync(out) ? fs.statSync(out).size : 0;
    if (have === 0 || have >= main.size) {
      // Too fast or too small to interrupt: keep the first half instead.
      fs.copyFileSync(main.file, out);
      fs.truncateSync(out, Math.floor(main.size / 2));
      have = fs.statSync(out).size;
    }
    assert.ok(have > 0 && have < main.size, `partial file has ${have} bytes`);
    const { stderr } = await run("wget", ["-c", "-S", "-O", out, clipUrl]);
    assert.match(stderr, /206 Partial Content/);
    assert.match(stderr, new RegExp(`Content-Range: bytes ${have}-${main.size - 1}/${main.size}`, "i"));
    assert.equal(fs.statSync(out).size, main.size);
    assert.equal(sha256File(out), sourceSha());
  });

  it("aria2c resumes a partial file (needs Content-Range on the 206)", async () => {
    const dir = fs.mkdtempSync(path.join(work, "aria-"));
    const out = path.join(dir, "clip.bin");
    fs.copyFileSync(main.file, out);
    fs.truncateSync(out, Math.floor(main.size / 3));
    await run("aria2c", ["-c", "--allow-piece-length-change=true", "--auto-file-renaming=false",
      "--console-log-level=warn", "--summary-interval=0", "-d", dir, "-o", "clip.bin", clipUrl]);
    assert.equal(sha256File(out), sourceSha());
  });

  it("aria2c with several connections (parallel ranges) is byte-identical", async () => {
    const dir = fs.mkdtempSync(path.join(work, "aria-split-"));
    await run("aria2c", ["-x4", "-s4", "-k1M", "--console-log-level=warn", "--summary-interval=0",
      "-d", dir, "-o", "clip.bin", clipUrl]);
    assert.equal(sha256File(path.join(dir, "clip.bin")), sourceSha());
  });
});
