import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  findDenoConfig,
  type ImportMap,
  mapSpecifier,
  readImportMap,
} from "../src/runtime/_import_map.ts";
import { FIXTURES, tempDir } from "./_helpers.ts";

const PROJECT = join(FIXTURES, "bun_workers", "import_map");

Deno.test("findDenoConfig() finds the nearest deno.json or deno.jsonc above a folder", () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir.path, "a", "b"), { recursive: true });
    writeFileSync(join(dir.path, "deno.jsonc"), "{}");
    assert.equal(findDenoConfig(join(dir.path, "a", "b")), join(dir.path, "deno.jsonc"));
    writeFileSync(join(dir.path, "a", "deno.json"), "{}");
    assert.equal(findDenoConfig(join(dir.path, "a", "b")), join(dir.path, "a", "deno.json"));
  } finally {
    dir.remove();
  }
  assert.equal(findDenoConfig(join(PROJECT, "lib", "scoped")), join(PROJECT, "deno.json"));
});

Deno.test("readImportMap() makes relative targets and scopes absolute, longest scope first", () => {
  const map = readImportMap(join(PROJECT, "deno.json"))!;
  assert.equal(map.file, join(PROJECT, "deno.json"));
  assert.equal(map.imports["hono"], "npm:hono@4");
  assert.equal(map.imports["@/"], join(PROJECT, "lib") + "/");
  assert.deepEqual(map.scopes.map(([prefix]) => prefix), [join(PROJECT, "lib", "scoped") + "/"]);
});

Deno.test("readImportMap() follows importMap, and is undefined without a map", () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "deno.jsonc"), '{ "importMap": "./maps/map.json", }');
    mkdirSync(join(dir.path, "maps"));
    writeFileSync(join(dir.path, "maps", "map.json"), '{ "imports": { "x": "../x.ts" } }');
    const map = readImportMap(join(dir.path, "deno.jsonc"))!;
    assert.equal(map.file, join(dir.path, "maps", "map.json"));
    assert.equal(map.imports.x, join(dir.path, "x.ts"));
    writeFileSync(join(dir.path, "deno.json"), '{ "tasks": {} }');
    assert.equal(readImportMap(join(dir.path, "deno.json")), undefined);
  } finally {
    dir.remove();
  }
});

Deno.test("readImportMap() names the file of a broken config", () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, "deno.json");
    writeFileSync(file, '{ "imports": { "x": ');
    assert.throws(() => readImportMap(file), new RegExp(`^Error: ${file}:1:21: Cannot parse: .+`));
    writeFileSync(file, '{ "imports": { "x": 1 } }');
    assert.throws(
      () => readImportMap(file),
      new RegExp(`Cannot read ${file}: "imports" entry "x" must be a string$`),
    );
    writeFileSync(file, "[]");
    assert.throws(() => readImportMap(file), /: expected an object$/);
  } finally {
    dir.remove();
  }
});

const MAP: ImportMap = {
  file: "/p/deno.json",
  imports: {
    hono: "npm:hono@4",
    "hono/jsx": "npm:hono@4/jsx/dom",
    "@/": "/p/src/",
    "@/deep/": "/p/deep/",
    "@std/assert": "jsr:@std/assert@1",
    plain: "/p/plain.ts",
  },
  scopes: [["/p/vendor/", { "@/": "/p/vendor/src/" }]],
};

Deno.test("mapSpecifier() applies exact keys, the longest prefix, then Deno's package subpaths", () => {
  const at = "/p/mod.ts";
  assert.equal(mapSpecifier(MAP, "hono", at), "npm:hono@4");
  assert.equal(mapSpecifier(MAP, "hono/html", at), "npm:hono@4/html");
  assert.equal(mapSpecifier(MAP, "hono/jsx", at), "npm:hono@4/jsx/dom");
  assert.equal(mapSpecifier(MAP, "@std/assert/equals", at), "jsr:@std/assert@1/equals");
  assert.equal(mapSpecifier(MAP, "@/a.ts", at), "/p/src/a.ts");
  assert.equal(mapSpecifier(MAP, "@/deep/b.ts", at), "/p/deep/b.ts");
  assert.equal(mapSpecifier(MAP, "plain", at), "/p/plain.ts");
  // A key that maps to a file serves no subpaths, and other names are left alone.
  assert.equal(mapSpecifier(MAP, "plain/x", at), undefined);
  assert.equal(mapSpecifier(MAP, "honox", at), undefined);
  assert.equal(mapSpecifier(MAP, "zod", at), undefined);
});

Deno.test("mapSpecifier() prefers the importer's scope, then falls back to the imports", () => {
  assert.equal(mapSpecifier(MAP, "@/a.ts", "/p/vendor/lib/x.ts"), "/p/vendor/src/a.ts");
  assert.equal(mapSpecifier(MAP, "hono", "/p/vendor/lib/x.ts"), "npm:hono@4");
  assert.equal(mapSpecifier(MAP, "@/a.ts", "/p/vendorx.ts"), "/p/src/a.ts");
});
