// A local S3-compatible store for the secondary-origin tests: s3s-fs
// (installed by scripts/setup-tools.sh), a real S3 protocol server that
// checks SigV4 signatures, on a free loopback port, with an access key pair
// made at start (never committed). It refuses unsigned requests and wrong
// keys (SignatureDoesNotMatch).
//
// s3s-fs keeps each object as a file under <root>/<bucket>/<key>, so the
// tests seed, damage and delete objects by writing those files.

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { run } from "./stack.mjs";

export const S3S_FS = process.env.S3S_FS_BIN ?? "s3s-fs";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A fresh access key pair, shaped like AWS's (20 upper-case, 40 base64). */
export function newKeyPair() {
  const accessKeyId = "AKIA" + crypto.randomBytes(10).toString("hex").toUpperCase().slice(0, 16);
  const secretAccessKey = crypto.randomBytes(30).toString("base64");
  return { accessKeyId, secretAccessKey };
}

/**
 * Starts s3s-fs with a bucket. Returns { endpoint, bucket, region, accessKeyId,
 * secretAccessKey, root, vars(overrides) (the Worker's SECONDARY_* settings),
 * put(key, file) (async, a signed PUT), putBytes(key, buffer) (written into
 * its folder), remove(key), has(key), stop() }.
 */
export async function startS3({ bucket = "clipstore-secondary", region = "us-east-1" } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-s3-"));
  fs.mkdirSync(path.join(root, bucket));
  const { accessKeyId, secretAccessKey } = newKeyPair();
  const port = await freePort();
  const logFile = path.join(root, "..", `${path.basename(root)}.log`);
  const out = fs.openSync(logFile, "a");
  const child = spawn(S3S_FS, ["--host", "127.0.0.1", "--port", String(port),
    "--access-key", accessKeyId, "--secret-key", secretAccessKey, root],
  { stdio: ["ignore", out, out], detached: true });
  fs.closeSync(out);
  child.unref();
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${endpoint}/${bucket}/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      break; // any answer (403: unsigned) means it is up
    } catch {}
    if (i > 200) throw new Error(`s3s-fs did not start on ${endpoint}:\n${fs.readFileSync(logFile, "utf8")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const file = (key) => path.join(root, bucket, ...key.split("/"));
  return {
    endpoint,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    root,
    logFile,
    /** The Worker's settings for this store; `overrides` replace any of them. */
    vars(overrides = {}) {
      return {
        SECONDARY_ENDPOINT: endpoint,
        SECONDARY_REGION: region,
        SECONDARY_BUCKET: bucket,
        SECONDARY_ACCESS_KEY_ID: accessKeyId,
        SECONDARY_SECRET_ACCESS_KEY: secretAccessKey,
        ...overrides,
      };
    },
    /**
     * Uploads `from` as `key` with a SigV4-signed PUT (curl --aws-sigv4):
     * s3s-fs then keeps the object's ETag, where for a file written into its
     * folder it would hash the whole file on every request.
     */
    async put(key, from) {
      await run("curl", ["-fsS", "-o", "/dev/null", "-X", "PUT", "--aws-sigv4", `aws:amz:${region}:s3`,
        "--user", `${accessKeyId}:${secretAccessKey}`, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        "-T", from, `${endpoint}/${bucket}/${key}`]);
    },
    putBytes(key, bytes) {
      fs.mkdirSync(path.dirname(file(key)), { recursive: true });
      fs.writeFileSync(file(key), bytes);
    },
    remove(key) {
      fs.rmSync(file(key), { force: true });
    },
    has(key) {
      return fs.existsSync(file(key));
    },
    async stop() {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      await exited;
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(logFile, { force: true });
    },
  };
}

/**
 * A pass-through in front of `endpoint` (the store above) that can fail the
 * next GETs while HEADs still pass: the secondary found, the download granted,
 * and then its body refused, as a store failing between two requests does.
 * The Host header is passed on as the client sent it, so SigV4 signatures
 * made for this address still verify. Returns { endpoint, failGets (set it),
 * stop() }.
 */
export async function startFaultyFront(target) {
  const http = await import("node:http");
  const to = new URL(target);
  const front = { endpoint: "", failGets: false };
  const server = http.createServer((req, res) => {
    if (front.failGets && req.method === "GET") {
      res.writeHead(500, { "content-type": "application/xml" });
      res.end("<Error><Code>InternalError</Code><Message>test: the store fails</Message></Error>");
      return;
    }
    // A connection of its own per request: a kept-alive one the store has
    // closed would fail the request for no reason of the Worker's.
    const upstream = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url,
      headers: req.headers, agent: false }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", (e) => {
      console.log(`# faulty front: ${req.method} ${req.url}: ${e.message}`);
      res.destroy();
    });
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  front.endpoint = `http://127.0.0.1:${server.address().port}`;
  front.stop = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return front;
}
