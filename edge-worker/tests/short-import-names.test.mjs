// scripts/short-import-names.mjs on a module made here: the renamed module
// still instantiates with the renamed glue and answers as before, and a glue
// that does not name an import as a key is refused with nothing changed.
// (The Worker's own build goes through it in every other e2e test.)

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";

import { REPO } from "./support/stack.mjs";

const SCRIPT = path.join(REPO, "scripts", "short-import-names.mjs");
const NAMES = ["__wbg_forty_0123456789abcdef", "__wbg_two_fedcba9876543210"];

const bytes = (s) => [...Buffer.from(s, "utf8")];
const vec = (items) => [items.length, ...items.flat()];
const section = (id, body) => [id, body.length, ...body];
const name = (s) => [s.length, ...bytes(s)];

/** A module importing two functions from `./index_bg.js`, exporting `run` = their sum. */
function module() {
  const type = section(1, vec([[0x60, 0x00, 0x01, 0x7f]]));
  const imports = section(2, vec(NAMES.map((n) => [...name("./index_bg.js"), ...name(n), 0x00, 0x00])));
  const functions = section(3, vec([[0x00]]));
  const exports = section(7, vec([[...name("run"), 0x00, 0x02]]));
  const body = [0x00, 0x10, 0x00, 0x10, 0x01, 0x6a, 0x0b];
  const code = section(10, vec([[body.length, ...body]]));
  return Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...functions, ...exports, ...code]);
}

const glue = (keys) => `export function te(){return{__proto__:null,"./index_bg.js":{__proto__:null,${keys}}}}\n`;

function runScript(wasm, js) {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, wasm, js], (error, stdout, stderr) => resolve({ code: error?.code ?? 0, stdout, stderr }));
  });
}

describe("short import names", () => {
  it("renames the imports in the module and the glue alike: it still instantiates and answers", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-short-names-"));
    try {
      const wasm = path.join(dir, "index_bg.wasm");
      const js = path.join(dir, "index.js");
      fs.writeFileSync(wasm, module());
      fs.writeFileSync(js, glue(`${NAMES[0]}:function(){return 40},${NAMES[1]}:function(){return 2}`));
      const before = fs.statSync(wasm).size;
      const r = await runScript(wasm, js);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /2 imports renamed/);
      const renamed = fs.readFileSync(wasm);
      assert.equal(before - renamed.length, NAMES.join("").length - 2, "each name is one letter now");
      const imports = WebAssembly.Module.imports(new WebAssembly.Module(renamed));
      assert.deepEqual(imports.map((i) => `${i.module} ${i.name}`), ["./index_bg.js a", "./index_bg.js b"]);
      const { te } = await import(pathToFileURL(js).href);
      const { instance } = await WebAssembly.instantiate(renamed, te());
      assert.equal(instance.exports.run(), 42);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a truncated module, and one holding a type it does not read, at once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-short-names-"));
    try {
      const wasm = path.join(dir, "index_bg.wasm");
      const js = path.join(dir, "index.js");
      fs.writeFileSync(js, glue(`${NAMES[0]}:function(){return 40}`));
      // The import section's size says more than there is.
      fs.writeFileSync(wasm, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x80]));
      const cut = await runScript(wasm, js);
      assert.equal(cut.code, 1);
      assert.match(cut.stderr, /runs past the end of the module.*nothing was changed/);
      // A global import of a GC-proposal reference type (0x63 0x70: a nullable funcref written long).
      const gc = section(2, vec([[...name("./index_bg.js"), ...name(NAMES[0]), 0x03, 0x63, 0x70, 0x00]]));
      fs.writeFileSync(wasm, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...gc]));
      const typed = await runScript(wasm, js);
      assert.equal(typed.code, 1);
      assert.match(typed.stderr, /type 0x63 is not known to this script; nothing was changed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a glue that does not name an import as a key, and changes nothing", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clipstore-short-names-"));
    try {
      const wasm = path.join(dir, "index_bg.wasm");
      const js = path.join(dir, "index.js");
      fs.writeFileSync(wasm, module());
      // The second import provided under a computed key the script cannot see.
      const text = glue(`${NAMES[0]}:function(){return 40},["${NAMES[1]}"]:function(){return 2}`);
      fs.writeFileSync(js, text);
      const r = await runScript(wasm, js);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`exactly once as a key: ${NAMES[1]}; nothing was changed`));
      assert.deepEqual(fs.readFileSync(wasm), module());
      assert.equal(fs.readFileSync(js, "utf8"), text);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
