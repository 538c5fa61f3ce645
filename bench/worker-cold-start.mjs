// What the Worker's module size costs a user, two builds side by side in the
// same run (results: docs/benchmarks.md, "Worker size"):
//   1. compiling the wasm module in V8 (Node's, the engine workerd embeds):
//      `new WebAssembly.Module` (what an isolate does before its first
//      request), median of --runs, the two builds alternating;
//   2. instantiating it (imports stubbed: nothing runs), median likewise;
//   3. a cold start in workerd: `wrangler dev` started afresh on the build,
//      the time until its first `GET /health` answers, and that first
//      answer's latency next to the second's; --cold rounds, alternating.
//
// Usage: node bench/worker-cold-start.mjs BUILD_DIR_A BUILD_DIR_B [--runs 30] [--cold 5]
// V8 compiles wasm functions lazily, on first call, by default; to time the
// whole module's compilation run node with `--no-wasm-lazy-compilation`
// (Liftoff, the baseline tier) and add `--no-liftoff` for the optimizing tier.
// The gzip column is Node's zlib at level 9 (a few KB off GNU gzip -9).
// Each BUILD_DIR is a worker-build output (index.js, index_bg.wasm); run
// from the repository (it uses edge-worker/node_modules/.bin/wrangler and
// public/ for the assets). Loopback only.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import zlib from "node:zlib";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return Number(value);
};
const runs = opt("--runs", 30);
const coldRounds = opt("--cold", 5);
if (args.length !== 2) {
  console.error("usage: node bench/worker-cold-start.mjs BUILD_DIR_A BUILD_DIR_B [--runs N] [--cold N]");
  process.exit(2);
}
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const wrangler = path.join(repo, "edge-worker", "node_modules", ".bin", "wrangler");
const builds = args.map((dir) => {
  const abs = path.resolve(dir);
  const wasm = fs.readdirSync(abs).find((f) => f.endsWith(".wasm"));
  if (!wasm || !fs.existsSync(path.join(abs, "index.js"))) throw new Error(`${abs}: no index.js and .wasm`);
  const bytes = fs.readFileSync(path.join(abs, wasm));
  return { dir: abs, bytes, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;

function stubImports(module) {
  const imports = {};
  for (const { module: m, name, kind } of WebAssembly.Module.imports(module)) {
    imports[m] ??= {};
    if (kind === "function") imports[m][name] = () => { throw new Error(`stub ${m}.${name} called`); };
    else if (kind === "table") imports[m][name] = new WebAssembly.Table({ initial: 0, element: "anyfunc" });
    else if (kind === "memory") imports[m][name] = new WebAssembly.Memory({ initial: 1 });
    else if (kind === "global") imports[m][name] = new WebAssembly.Global({ value: "i32", mutable: true }, 0);
    else if (kind === "tag") imports[m][name] = new WebAssembly.Tag({ parameters: ["externref"] });
  }
  return imports;
}

// V8 keeps compiled modules by their bytes: each run compiles a copy made
// unique by a custom section at the end (ignored by the engine otherwise).
function unique(bytes, i) {
  const name = Buffer.from(`clipstore-bench-${i}`);
  const body = Buffer.concat([Buffer.from([name.length]), name]);
  return Buffer.concat([bytes, Buffer.from([0, body.length]), body]);
}

// 1 and 2: compile and instantiate, alternating.
for (const b of builds) {
  b.compile = [];
  b.instantiate = [];
  new WebAssembly.Module(unique(b.bytes, -1)); // warm-up
}
for (let i = 0; i < runs; i++) {
  for (const b of i % 2 ? [...builds].reverse() : builds) {
    const copy = unique(b.bytes, i);
    let t = performance.now();
    const module = new WebAssembly.Module(copy);
    b.compile.push(performance.now() - t);
    const imports = stubImports(module);
    t = performance.now();
    try {
      new WebAssembly.Instance(module, imports);
      b.instantiate.push(performance.now() - t);
    } catch (e) {
      b.instantiateError = e.message;
    }
  }
}

// 3: cold starts in workerd.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function coldStart(build) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-cold-"));
  const toml = fs.readFileSync(path.join(repo, "edge-worker", "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(build.dir, "index.js"))}`)
    .replace(/^directory = .*$/m, `directory = ${JSON.stringify(path.join(repo, "public"))}`)
    .replace(/^migrations_dir = .*$/m, `migrations_dir = ${JSON.stringify(path.join(repo, "edge-worker", "migrations"))}`);
  fs.writeFileSync(path.join(dir, "wrangler.toml"), toml);
  const port = await freePort();
  const inspector = await freePort();
  const started = performance.now();
  const child = spawn(wrangler, ["dev", "--config", path.join(dir, "wrangler.toml"), "--ip", "127.0.0.1",
    "--port", String(port), "--inspector-port", String(inspector), "--persist-to", path.join(dir, "state"),
    "--show-interactive-dev-session=false", "--log-level", "warn"],
  { cwd: dir, detached: true, stdio: "ignore", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  try {
    let first;
    for (;;) {
      if (performance.now() - started > 90_000) throw new Error("wrangler dev not ready in 90 s");
      const t = performance.now();
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status < 500 || res.status === 503) {
          first = { ready: performance.now() - started, latency: performance.now() - t };
          break;
        }
      } catch {}
      await new Promise((r) => setTimeout(r, 20));
    }
    const t = performance.now();
    await (await fetch(`http://127.0.0.1:${port}/health`)).arrayBuffer();
    return { ...first, second: performance.now() - t };
  } finally {
    try { process.kill(-child.pid, "SIGKILL"); } catch {}
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

for (const b of builds) b.cold = [];
for (let i = 0; i < coldRounds; i++) {
  for (const b of i % 2 ? [...builds].reverse() : builds) b.cold.push(await coldStart(b));
}

console.log(`Worker cold start, ${new Date().toISOString()}, Node ${process.version} (V8 ${process.versions.v8}), ` +
  `${runs} compile runs and ${coldRounds} cold starts per build, alternating\n`);
console.log("| build | wasm raw | gzip (zlib 9) | compile (median) | instantiate (median) | wrangler dev start to first /health | first /health | second /health |");
console.log("|---|---|---|---|---|---|---|---|");
for (const b of builds) {
  const inst = b.instantiate.length ? ms(median(b.instantiate)) : `n/a (${b.instantiateError})`;
  console.log(`| ${path.relative(process.cwd(), b.dir) || "."} | ${b.bytes.length} | ${b.gzip} | ${ms(median(b.compile))} | ${inst} | ` +
    (b.cold.length
      ? `${ms(median(b.cold.map((c) => c.ready)))} | ${ms(median(b.cold.map((c) => c.latency)))} | ${ms(median(b.cold.map((c) => c.second)))} |`
      : "not run | | |"));
}
const [a, b] = builds;
console.log(`\nratio B / A: compile ${(median(b.compile) / median(a.compile)).toFixed(2)}` + (coldRounds
  ? `, first /health after a cold start ${(median(b.cold.map((c) => c.latency)) / median(a.cold.map((c) => c.latency))).toFixed(2)}`
  : ""));
