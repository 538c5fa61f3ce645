// A throwaway local stack for one test file: workerd (via `wrangler dev`) on
// a free loopback port, with its own persistence directory holding a local R2
// bucket seeded with sample clips and a migrated local D1 database.
//
// Inputs (all built by scripts/test-worker.sh):
//   edge-worker/build/            the Worker (worker-build output)
//   catalog-manifest.json         the manifest embedded in that Worker ($CLIPSTORE_MANIFEST)
//   public/                       the static site ($CLIPSTORE_PUBLIC)
//   sample-media/<object key>     the clip files ($CLIPSTORE_MEDIA)
//   testdata/token-vectors.json   keys for TOKEN_KEYS and tokens that must fail
//   site-gen                      mints links ($SITE_GEN_BIN, else `cargo run -p site-gen`)
//                                 for the shop in the repo ($CLIPSTORE_SHOP_ROOT)

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, "../../..");
const WORKER_DIR = path.join(REPO, "edge-worker");
const WRANGLER = path.join(WORKER_DIR, "node_modules", ".bin", "wrangler");

export const paths = {
  /** The shop (content/) that `site-gen token mint` signs links for. */
  shopRoot: process.env.CLIPSTORE_SHOP_ROOT ?? REPO,
  manifest: process.env.CLIPSTORE_MANIFEST ?? path.join(REPO, "catalog-manifest.json"),
  public: process.env.CLIPSTORE_PUBLIC ?? path.join(REPO, "public"),
  media: process.env.CLIPSTORE_MEDIA ?? path.join(REPO, "sample-media"),
  build: path.join(WORKER_DIR, "build"),
};

export const vectors = JSON.parse(
  fs.readFileSync(path.join(REPO, "testdata", "token-vectors.json"), "utf8"),
);
/** The test key that signs fresh links; TOKEN_KEYS is the vectors' keyring. */
export const SIGNING_KEY = vectors.keys.find((k) => k.in_keyring).env;

/**
 * The Worker's seal of the price its checkout asked (metadata `priced`,
 * edge-worker/src/payments/priced.rs), made here with Node's own HMAC:
 * `AMOUNT:CURRENCY:AT:KEY_ID:hex(HMAC-SHA256(secret, domain || amount \n currency \n at \n items))`.
 */
export function priceSeal(amount, currency, items, { at = Math.floor(Date.now() / 1000), key = SIGNING_KEY } = {}) {
  const [keyId, secret] = key.split(":");
  const tag = crypto.createHmac("sha256", Buffer.from(secret, "base64url"))
    .update(`clipstore-checkout-price-v1\0${amount}\n${currency}\n${at}\n${items.join(",")}`).digest("hex");
  return `${amount}:${currency}:${at}:${keyId}:${tag}`;
}
/** The admin API's bearer token in every test stack. */
export const ADMIN_TOKEN = "e2e-admin-token-0123456789";
/** The Stripe webhook endpoint's signing secret in every test stack. */
export const STRIPE_WEBHOOK_SECRET = "whsec_e2e_test_secret_0123456789abcdef";

export const toolEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  NO_UPDATE_NOTIFIER: "1",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  FORCE_COLOR: "0",
};

/**
 * The process groups this test file started (each `run()` command while it
 * runs, each `wrangler dev`): killed when the file's process ends, however
 * it ends, so that neither an interrupted run (Ctrl-C) nor a failed test
 * leaves a server, a compiler or a client running.
 */
const live = new Set();
function killLive() {
  for (const pid of live) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
}
process.on("exit", killLive);
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
  process.on(signal, () => {
    killLive();
    process.exit(code);
  });
}

/** How long a command the tests run may take before it is stopped (ms). */
export const RUN_TIMEOUT_MS = 300_000;

/**
 * Runs a command to its end and resolves to { stdout, stderr } (strings);
 * rejects, as `execFile` does, with an Error carrying `code` (the exit
 * status, or null), `signal`, `killed`, `stdout` and `stderr`. One that
 * outlives `options.timeout` (default RUN_TIMEOUT_MS: a client retrying a
 * stalled download for ever, a wrangler command waiting on its proxy) is
 * stopped with its whole process group (SIGTERM, then SIGKILL 5 s later:
 * a killed bash or cargo must not leave its compiler holding the target
 * folder's lock), and the test fails saying which command it was, instead
 * of the whole run hanging until CI gives up; `timeout: 0` sets no limit.
 * stdin is /dev/null.
 */
export function run(cmd, args, options = {}) {
  const { timeout = RUN_TIMEOUT_MS, env = toolEnv, cwd } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid !== undefined) live.add(child.pid);
    const out = [];
    const err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    let killed = false;
    const signalGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    let hard;
    // 0, as for execFile: no limit.
    const timer = timeout > 0 && setTimeout(() => {
      killed = true;
      signalGroup("SIGTERM");
      hard = setTimeout(() => {
        signalGroup("SIGKILL");
        // A process that left the group (its own session) may still hold
        // the pipes: stop waiting for them.
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, 1_000).unref();
      }, 5_000);
    }, timeout);
    child.on("error", (e) => {
      live.delete(child.pid);
      clearTimeout(timer);
      reject(Object.assign(e, { stdout: "", stderr: "" }));
    });
    child.on("close", (code, signal) => {
      live.delete(child.pid);
      clearTimeout(timer);
      clearTimeout(hard);
      if (killed) signalGroup("SIGKILL");
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0 && !killed) return resolve({ stdout, stderr });
      const line = `${cmd} ${args.join(" ")}`;
      const e = new Error(killed
        ? `${line}: stopped after ${timeout / 1000} s without finishing\nstderr: ${stderr.slice(-2000)}`
        : `Command failed: ${line}\n${stderr}`);
      reject(Object.assign(e, { code, signal, killed, cmd: line, stdout, stderr }));
    });
  });
}

export function sha256File(file) {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * The catalog as the Worker sees it, and the clips the tests use:
 * `main` (largest clip with a media file), `other` (another clip with a
 * media file, preferably with a non-ASCII file name; not in the tokens the
 * tests mint unless a test says so) and `withheld` (in the
 * manifest but never uploaded: R2 reports it missing).
 */
export function catalog() {
  const manifest = JSON.parse(fs.readFileSync(paths.manifest, "utf8"));
  const clips = Object.entries(manifest.clips).map(([slug, c]) => ({
    slug,
    ...c,
    file: path.join(paths.media, c.object_key),
  }));
  const present = clips.filter((c) => fs.existsSync(c.file)).sort((a, b) => b.size - a.size);
  if (present.length < 2 || clips.length < 3) {
    throw new Error(
      `the e2e tests need >= 3 clips in ${paths.manifest} and >= 2 media files under ${paths.media}`,
    );
  }
  const main = present[0];
  // Prefer a clip whose file name needs `filename*` (non-ASCII), to check it.
  const other = present.find((c) => c !== main && /[^\x20-\x7e]/.test(c.file_name)) ?? present[1];
  const withheld = clips.find((c) => c !== main && c !== other);
  return { manifest, main, other, withheld };
}

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

/**
 * wrangler.toml with paths made absolute, so the config can live in a temp dir;
 * `worker` ({ build, public }) runs another build of the Worker and its site.
 */
function testConfig(dir, worker = {}) {
  const toml = fs.readFileSync(path.join(WORKER_DIR, "wrangler.toml"), "utf8");
  const abs = (p) => JSON.stringify(p);
  return toml
    .replace(/^main = .*$/m, `main = ${abs(path.join(worker.build ?? paths.build, "index.js"))}`)
    .replace(/^directory = .*$/m, `directory = ${abs(worker.public ?? paths.public)}`)
    .replace(/^migrations_dir = .*$/m, `migrations_dir = ${abs(path.join(WORKER_DIR, "migrations"))}`);
}

/**
 * Starts the stack. `seed` lists the clips to upload to the local bucket;
 * `migrate: false` leaves the D1 database without its schema (D1 failing);
 * `reuse` (a stopped stack's `dir`, stopped with `keep`) restarts on its state;
 * `vars` adds lines to .dev.vars; `editConfig(toml)` changes wrangler.toml
 * (e.g. drops a binding); `devArgs` go to `wrangler dev` (`--test-scheduled`);
 * `worker` ({ build, public }) runs a Worker built from another manifest.
 * A start that finds its port taken (by another process between
 * `freePort()` and wrangler's listen: a CI run flaked so) starts again on
 * other ports, up to three times.
 * Returns { base, port, dir, bucket, logFile, log(), stop({ keep, kill }), wrangler(args) }.
 */
export async function startStack({ seed = [], migrate = true, reuse, vars = {}, editConfig = (t) => t, devArgs = [], worker = {} } = {}) {
  const dir = reuse ?? fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-e2e-"));
  const config = path.join(dir, "wrangler.toml");
  const state = path.join(dir, "state");
  fs.writeFileSync(config, editConfig(testConfig(dir, worker)));
  // Every test stack takes Stripe's test-mode events unless a test says
  // otherwise; a variable given as `undefined` is left out.
  const allVars = { TOKEN_KEYS: vectors.keyring, ADMIN_TOKEN, STRIPE_WEBHOOK_SECRET, STRIPE_TEST_MODE: "true", ...vars };
  const lines = Object.entries(allVars).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}\n`).join("");
  fs.writeFileSync(path.join(dir, ".dev.vars"), lines);
  const bucket = /^bucket_name = "(.*)"$/m.exec(testConfig(dir))[1];
  const common = ["--local", "--persist-to", state, "--config", config];
  // Wrangler's local commands talk to a local proxy it starts itself; on a
  // loaded machine that first request sometimes fails ("fetch failed") before
  // anything was written: such a run is tried once more. The local D1 is a
  // SQLite file that the running Worker writes too (a download's progress
  // reports): a command that meets one of its writes is refused with
  // SQLITE_BUSY, having changed nothing, and is tried up to five times more,
  // after a pause. Any other failure is the test's.
  const wrangler = async (args) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(WRANGLER, [...args, ...common], { cwd: dir });
      } catch (e) {
        const stderr = String(e.stderr);
        const again = /fetch failed/.test(stderr) ? attempt < 2 : /SQLITE_BUSY/.test(stderr) && attempt < 6;
        if (!again) throw e;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  };

  for (const clip of seed) {
    await wrangler(["r2", "object", "put", `${bucket}/${clip.object_key}`, "--file", clip.file, "--content-type", clip.content_type]);
  }
  if (migrate) await wrangler(["d1", "migrations", "apply", "DB"]);

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const inspectorPort = await freePort();
    const logFile = path.join(dir, "wrangler-dev.log");
    const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const out = fs.openSync(logFile, "a");
    const child = spawn(
      WRANGLER,
      ["dev", "--config", config, "--ip", "127.0.0.1", "--port", String(port),
        "--inspector-port", String(inspectorPort), "--persist-to", state,
        "--show-interactive-dev-session=false", "--log-level", "log", ...devArgs],
      { cwd: dir, env: toolEnv, detached: true, stdio: ["ignore", out, out] },
    );
    fs.closeSync(out);
    live.add(child.pid);
    // Never let a leaked server keep this test file's process alive: if a test
    // fails before it stops its stack, node still exits and the exit handler
    // above kills the server's whole process group.
    child.unref();
    let exited = false;
    const exitedP = new Promise((resolve) => child.on("exit", () => { exited = true; resolve(); }));

    const base = `http://127.0.0.1:${port}`;
    const stack = {
      base,
      port,
      dir,
      bucket,
      logFile,
      log: () => fs.readFileSync(logFile, "utf8"),
      /** Runs a wrangler command (`d1 execute`, ...) against this stack's local state. */
      wrangler,
      /**
       * Stops wrangler and workerd (the whole process group) by process id;
       * `kill`: at once, as a machine or runtime that dies mid-request does.
       */
      async stop({ keep = false, kill = false } = {}) {
        if (!exited) {
          try {
            process.kill(-child.pid, kill ? "SIGKILL" : "SIGTERM");
          } catch {}
          const timer = setTimeout(() => {
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch {}
          }, 5000);
          await exitedP;
          clearTimeout(timer);
        }
        // workerd may outlive wrangler briefly: kill the rest of the group and
        // wait until none of it is left.
        const gone = Date.now() + 5000;
        for (;;) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            break; // ESRCH: no process left in the group
          }
          if (Date.now() > gone) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        live.delete(child.pid);
        if (!keep && !process.env.CLIPSTORE_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
      },
    };

    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exited) {
        const log = stack.log();
        // Another process took a port between freePort() and wrangler's
        // listen (many stacks start at once): start again on other ports,
        // keeping the seeded state.
        const thisTry = fs.readFileSync(logFile).subarray(logStart).toString();
        if (attempt < 3 && /Address already in use/.test(thisTry)) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {}
          live.delete(child.pid);
          break;
        }
        await stack.stop();
        throw new Error(`wrangler dev exited before it was ready:\n${log}`);
      }
      try {
        const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status < 500) return stack;
      } catch {}
      if (Date.now() > deadline) {
        const log = stack.log();
        await stack.stop();
        throw new Error(`wrangler dev was not ready within 90 s:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Mints a download link with the site-gen CLI, signed with the test key.
 * `now` (unix seconds) mints as if at that time, for expired links.
 */
export async function mint(stack, { order, clips, expires = "1d", now, downloads }) {
  const args = ["token", "mint", "--root", paths.shopRoot, "--order", order,
    ...clips.flatMap((c) => ["--clip", c]), "--expires", expires,
    "--base-url", `${stack.base}/download`];
  if (now !== undefined) args.push("--now", String(now));
  if (downloads !== undefined) args.push("--downloads", String(downloads));
  const [cmd, pre] = process.env.SITE_GEN_BIN
    ? [process.env.SITE_GEN_BIN, []]
    : ["cargo", ["run", "-q", "-p", "site-gen", "--"]];
  const { stdout } = await run(cmd, [...pre, ...args], {
    cwd: REPO,
    env: { ...toolEnv, CLIPSTORE_SIGNING_KEY: SIGNING_KEY },
  });
  const url = stdout.trim();
  if (!url.startsWith(`${stack.base}/download/`)) throw new Error(`unexpected mint output: ${stdout}`);
  return { url, token: url.slice(`${stack.base}/download/`.length) };
}

/**
 * Runs curl and returns { status, headers (lower-case names; arrays for
 * repeated names), body (Buffer, unless `output` names a file), downloaded
 * (body bytes received; with -I the "body" file holds the headers) }.
 */
export async function curl(url, { args = [], output } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-curl-"));
  const headerFile = path.join(dir, "headers");
  const bodyFile = output ?? path.join(dir, "body");
  try {
    const { stdout } = await run("curl", ["-sS", "--max-time", "120", "-D", headerFile, "-o", bodyFile,
      "-w", "%{size_download}", ...args, url]);
    // With -L there is one header block per hop: keep the last.
    const blocks = fs.readFileSync(headerFile, "latin1").split("\r\n\r\n").filter((b) => b.startsWith("HTTP/"));
    const lines = blocks[blocks.length - 1].split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const headers = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      const name = line.slice(0, i).toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = name in headers ? [].concat(headers[name], value) : value;
    }
    const body = output ? undefined : fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0);
    return { status, headers, body, downloaded: Number(stdout) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends one raw HTTP/1.1 request and returns everything the server wrote. */
export function rawRequest(base, method, target, headers = {}) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error("raw request timed out")));
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n${extra}\r\n`);
  });
}

/**
 * Calls the admin API. Returns { status, body (parsed JSON or text) }.
 * `token: null` sends no Authorization header.
 */
export async function admin(stack, method, p, { token = ADMIN_TOKEN, body } = {}) {
  const headers = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${stack.base}${p}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}
