// Gives the Worker's wasm imports short names, in the module and in the JS
// glue that provides them, after wasm-opt (scripts/build-worker.sh).
//
// wasm-bindgen names each import after its Rust binding and a 16-digit hash
// (`__wbg_keys_105f5c0857898f84`): 168 names, 5.5 KB of the module, the
// hashes close to incompressible. Only the module's import section and the
// glue's import object (`"./index_bg.js": {…}`) ever name them, so both are
// renamed alike here (`a`, `b`, …, `aa`, …): 2–3 KB gzip less of the
// module (docs/benchmarks.md, "Worker size", stop 36).
//
// Usage: node scripts/short-import-names.mjs MODULE.wasm GLUE.js
// Fails, changing nothing, if the glue does not name every import exactly
// once as a key and nowhere else (a wasm-bindgen or worker-build whose glue
// looks otherwise), or if the module holds an encoding this script does not
// read (reference types of the GC proposal, custom page sizes).

import fs from "node:fs";

const GLUE_MODULE = "./index_bg.js";

/** Reads an unsigned LEB128 at `at`: [value, next offset]. */
function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length || shift > 35) throw new Error("a number runs past the end of the module, or is too long");
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

/** Writes `value` as unsigned LEB128. */
function uleb(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

/** `a`…`z`, `A`…`Z`, then `aa`, `ab`, …: the `index`th short name. */
function shortName(index) {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let name = "";
  for (let k = index; ; k = Math.floor(k / letters.length) - 1) {
    name = letters[k % letters.length] + name;
    if (k < letters.length) return name;
  }
}

/** Where an import's description (after its kind byte) at `at` ends. */
function descriptionEnd(bytes, kind, at) {
  const limits = (p) => {
    const flags = bytes[p];
    // 0x01: a maximum; 0x02: shared; 0x04: 64-bit. 0x08 (a custom page size) is not read here.
    if (flags === undefined || flags > 0x07) throw new Error(`limits flags ${flags} are not known to this script`);
    let [, next] = leb(bytes, p + 1);
    if (flags & 1) [, next] = leb(bytes, next);
    return next;
  };
  // One-byte value and reference types (MVP, SIMD, reference types); the
  // GC proposal's `0x63`/`0x64` heap types are longer.
  const oneByteType = (p) => {
    if (![0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f].includes(bytes[p])) {
      throw new Error(`type 0x${(bytes[p] ?? 0).toString(16)} is not known to this script`);
    }
    return p + 1;
  };
  switch (kind) {
    case 0: return leb(bytes, at)[1]; // function: type index
    case 1: return limits(oneByteType(at)); // table: reference type, limits
    case 2: return limits(at); // memory: limits
    case 3: return oneByteType(at) + 1; // global: value type, mutability
    case 4: return leb(bytes, at + 1)[1]; // tag: attribute, type index
    default: throw new Error(`import kind ${kind} is not known to this script`);
  }
}

/** The module with its glue imports renamed, and the renaming. */
function renameImports(wasm) {
  if (wasm.subarray(0, 8).compare(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])) !== 0) {
    throw new Error("not a WebAssembly 1.0 module");
  }
  const parts = [wasm.subarray(0, 8)];
  const renamed = new Map();
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, start] = leb(wasm, at + 1);
    const end = start + size;
    if (id !== 2) {
      parts.push(wasm.subarray(at, end));
      at = end;
      continue;
    }
    let [count, p] = leb(wasm, start);
    const section = [uleb(count)];
    for (let i = 0; i < count; i++) {
      let length;
      [length, p] = leb(wasm, p);
      const module = wasm.subarray(p, p + length);
      p += length;
      [length, p] = leb(wasm, p);
      const name = wasm.subarray(p, p + length).toString("utf8");
      p += length;
      const kind = wasm[p];
      const descEnd = descriptionEnd(wasm, kind, p + 1);
      let newName = name;
      if (module.toString("utf8") === GLUE_MODULE) {
        newName = shortName(renamed.size);
        if (renamed.has(name)) throw new Error(`the import ${name} appears twice`);
        renamed.set(name, newName);
      }
      const encoded = Buffer.from(newName, "utf8");
      section.push(uleb(module.length), module, uleb(encoded.length), encoded, wasm.subarray(p, descEnd));
      p = descEnd;
    }
    if (p !== end) throw new Error("the import section did not end where its size said");
    const body = Buffer.concat(section);
    parts.push(Buffer.from([2]), uleb(body.length), body);
    at = end;
  }
  return { wasm: Buffer.concat(parts), renamed };
}

/** The glue with each renamed import's key renamed; each must be a key exactly once. */
function renameKeys(glue, renamed) {
  const seen = new Map();
  const out = glue.replace(/(?<=[{,]\s*)([A-Za-z_$][\w$]*)(?=\s*:)/g, (key) => {
    const to = renamed.get(key);
    if (to === undefined) return key;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    return to;
  });
  // Once as a key, and nowhere else (a quoted key, a use elsewhere: a glue
  // this script does not know).
  const wrong = [...renamed.keys()].filter((name) => seen.get(name) !== 1 || out.includes(name));
  if (wrong.length > 0) {
    throw new Error(`the glue does not name these imports exactly once as a key: ${wrong.slice(0, 5).join(", ")}`);
  }
  return out;
}

const [wasmPath, gluePath] = process.argv.slice(2);
if (!wasmPath || !gluePath) {
  console.error("usage: node scripts/short-import-names.mjs MODULE.wasm GLUE.js");
  process.exit(2);
}
try {
  const { wasm, renamed } = renameImports(fs.readFileSync(wasmPath));
  const glue = renameKeys(fs.readFileSync(gluePath, "utf8"), renamed);
  fs.writeFileSync(`${wasmPath}.short`, wasm);
  fs.writeFileSync(`${gluePath}.short`, glue);
  fs.renameSync(`${wasmPath}.short`, wasmPath);
  fs.renameSync(`${gluePath}.short`, gluePath);
  console.log(`short-import-names: ${renamed.size} imports renamed in ${wasmPath} and ${gluePath}`);
} catch (e) {
  console.error(`short-import-names: ${e.message}; nothing was changed`);
  process.exit(1);
}
