import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isInstalled, parseNpmSpecifier, rewriteSpecifiers } from "../src/runtime/_specifiers.ts";
import { ROOT, tempDir } from "./_helpers.ts";

const SOURCE = [
  'import { Hono } from "npm:hono@4";',
  "import type { Env } from 'npm:hono@4/types';",
  'export * from "npm:zod";',
  'import "npm:side-effect";',
  'const lazy = await import( "npm:lazy@1" );',
  'const old = require("npm:old");',
  'import { x } from "./x.ts";',
  'const text = "npm:not-an-import";',
  'const chars = Array.from("npm:x");',
].join("\n");

Deno.test("rewriteSpecifiers() replaces only import specifiers, and no line moves", () => {
  const out = rewriteSpecifiers(SOURCE, (s) => s.startsWith("npm:") ? `<${s}>` : undefined);
  assert.deepEqual(out.split("\n"), [
    'import { Hono } from "<npm:hono@4>";',
    'import type { Env } from "<npm:hono@4/types>";',
    'export * from "<npm:zod>";',
    'import "<npm:side-effect>";',
    'const lazy = await import( "<npm:lazy@1>" );',
    'const old = require("<npm:old>");',
    'import { x } from "./x.ts";',
    'const text = "npm:not-an-import";',
    'const chars = Array.from("npm:x");',
  ]);
  assert.equal(rewriteSpecifiers(SOURCE, () => undefined), SOURCE);
});

Deno.test("parseNpmSpecifier() splits scope, name, version and subpath", () => {
  assert.deepEqual(parseNpmSpecifier("npm:hono"), { name: "hono", version: "", subpath: "" });
  assert.deepEqual(parseNpmSpecifier("npm:hono@4/jsx/dom"), {
    name: "hono",
    version: "4",
    subpath: "/jsx/dom",
  });
  assert.deepEqual(parseNpmSpecifier("npm:@logtape/logtape@^2.4"), {
    name: "@logtape/logtape",
    version: "^2.4",
    subpath: "",
  });
  assert.deepEqual(parseNpmSpecifier("npm:/@scope/pkg/sub"), {
    name: "@scope/pkg",
    version: "",
    subpath: "/sub",
  });
  assert.equal(parseNpmSpecifier("jsr:@std/assert"), undefined);
  assert.equal(parseNpmSpecifier("hono"), undefined);
});

Deno.test("isInstalled() looks for node_modules/NAME in the folder and those above it", () => {
  assert.ok(isInstalled("hono", join(ROOT, "tests", "fixtures")));
  // A scoped package (bun-types brings @types/node; logtape is gone since issue 15).
  assert.ok(isInstalled("@types/node", ROOT));
  const dir = tempDir();
  try {
    assert.ok(!isInstalled("hono", dir.path));
    mkdirSync(join(dir.path, "node_modules", "hono"), { recursive: true });
    assert.ok(!isInstalled("hono", join(dir.path)), "a folder without package.json");
    writeFileSync(join(dir.path, "node_modules", "hono", "package.json"), "{}");
    mkdirSync(join(dir.path, "app"));
    assert.ok(isInstalled("hono", join(dir.path, "app")));
  } finally {
    dir.remove();
  }
});
