import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import {
  denoImportMap,
  findDenoProject,
  projectRoot,
  readDenoConfig,
} from "../src/master/deno_project.ts";

const SHIM = "file:///cache/appserve_shim.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "appserve-project-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const url = (path: string) => pathToFileURL(path).href;

Deno.test("readDenoConfig(): a syntax error is one ConfigError line with file, line and column", () => {
  const root = tree({ "deno.json": '{\n  "imports": {\n    "hono" "npm:hono@4"\n  }\n}\n' });
  try {
    assert.throws(() => readDenoConfig(join(root, "deno.json")), (error: Error) => {
      assert.equal(error.name, "ConfigError");
      assert.match(error.message, new RegExp(`^${root}/deno\\.json:3:12: Cannot parse: `));
      assert.equal(error.message.split("\n").length, 1);
      return true;
    });
  } finally {
    rmSync(root, { recursive: true });
  }
});

Deno.test("findDenoProject() finds the nearest deno.json, and stops at a package.json", () => {
  const root = tree({
    "deno.jsonc": "{}",
    "src/app/mod.ts": "",
    "node/package.json": "{}",
    "node/lib/app.ts": "",
  });
  try {
    assert.deepEqual(findDenoProject(join(root, "src/app/mod.ts")), {
      config: join(root, "deno.jsonc"),
    });
    assert.deepEqual(findDenoProject(join(root, "node/lib/app.ts")), {
      packageJson: join(root, "node/package.json"),
    });
  } finally {
    rmSync(root, { recursive: true });
  }
});

Deno.test("denoImportMap() makes deno.json imports absolute and adds appserve", () => {
  const root = tree({
    "deno.json": JSON.stringify({
      imports: { "hono": "npm:hono@4", "@/": "./lib/", "std/": "jsr:@std/path@1/" },
      scopes: { "./vendor/": { "hono": "npm:hono@3" } },
    }),
  });
  try {
    const map = denoImportMap({ config: join(root, "deno.json") }, SHIM);
    assert.deepEqual(map.imports, {
      "hono": "npm:hono@4",
      "hono/": "npm:/hono@4/",
      "@/": url(join(root, "lib")) + "/",
      "std/": "jsr:@std/path@1/",
      "appserve": SHIM,
    });
    assert.deepEqual(map.scopes, {
      [url(join(root, "vendor")) + "/"]: { "hono": "npm:hono@3", "hono/": "npm:/hono@3/" },
    });
  } finally {
    rmSync(root, { recursive: true });
  }
});

Deno.test("denoImportMap() keeps the project's own appserve and reads an importMap file", () => {
  const root = tree({
    "deno.json": JSON.stringify({ importMap: "./maps/import_map.json" }),
    "maps/import_map.json": JSON.stringify({ imports: { appserve: "../vendor/appserve/mod.ts" } }),
  });
  try {
    const map = denoImportMap({ config: join(root, "deno.json") }, SHIM);
    assert.deepEqual(map.imports, { appserve: url(join(root, "vendor/appserve/mod.ts")) });
  } finally {
    rmSync(root, { recursive: true });
  }
});

Deno.test("denoImportMap() gives workspace members their imports as scopes", () => {
  const root = tree({
    "deno.json": JSON.stringify({ workspace: ["./api"], imports: { hono: "npm:hono@4" } }),
    "api/deno.json": JSON.stringify({ name: "@ws/api", imports: { "#/": "./lib/" } }),
  });
  try {
    const map = denoImportMap({ config: join(root, "api/deno.json") }, SHIM);
    assert.deepEqual(map.imports, { hono: "npm:hono@4", "hono/": "npm:/hono@4/", appserve: SHIM });
    assert.deepEqual(map.scopes, {
      [url(join(root, "api")) + "/"]: { "#/": url(join(root, "api/lib")) + "/" },
    });
  } finally {
    rmSync(root, { recursive: true });
  }
});

Deno.test("denoImportMap() without a deno.json maps only appserve", () => {
  assert.deepEqual(denoImportMap({}, SHIM), { imports: { appserve: SHIM }, scopes: {} });
});

Deno.test("projectRoot(): the workspace root, the project's root, or the module's folder", () => {
  const root = tree({
    "deno/deno.json": '{ "workspace": ["./api"] }',
    "deno/api/deno.json": "{}",
    "deno/api/src/main.ts": "",
    "alone/deno.jsonc": "{ // a comment\n}",
    "alone/src/main.ts": "",
    "broken/deno.json": "{",
    "broken/main.ts": "",
    "npm/package.json": '{ "workspaces": ["packages/*"] }',
    "npm/packages/web/package.json": "{}",
    "npm/packages/web/src/main.ts": "",
    "node/package.json": "{}",
    "node/src/main.ts": "",
    "bare/main.ts": "",
  });
  try {
    const at = (path: string) => projectRoot(join(root, path));
    assert.equal(at("deno/api/src/main.ts"), join(root, "deno"));
    assert.equal(at("alone/src/main.ts"), join(root, "alone"));
    assert.equal(at("broken/main.ts"), join(root, "broken"));
    assert.equal(at("npm/packages/web/src/main.ts"), join(root, "npm"));
    assert.equal(at("node/src/main.ts"), join(root, "node"));
    // No project file up to / (tmpdir has none above it here): the module's folder.
    assert.equal(at("bare/main.ts"), join(root, "bare"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("projectRoot(): a package.json in the home folder is no project: the module's folder", () => {
  const home = tree({ "package.json": "{}", "apps/site/main.ts": "" });
  const saved = process.env.HOME;
  process.env.HOME = home;
  try {
    assert.equal(projectRoot(join(home, "apps", "site", "main.ts")), join(home, "apps", "site"));
  } finally {
    if (saved === undefined) delete process.env.HOME;
    else process.env.HOME = saved;
    rmSync(home, { recursive: true, force: true });
  }
});
