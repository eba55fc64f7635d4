import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { nearest } from "../src/nearest.ts";
import { findDenoConfig } from "../src/runtime/_import_map.ts";
import { isInstalled } from "../src/runtime/_specifiers.ts";
import { explainMissingPackage } from "../src/runtime/_bun_missing_package.ts";
import { tsconfigJsxPragma } from "../src/runtime/_jsx_source.ts";
import { tempDir } from "./_helpers.ts";

/** Every folder from `dir` up to the root, nearest first. */
function upwards(dir: string): string[] {
  const folders = [dir];
  while (dirname(folders.at(-1)!) !== folders.at(-1)) folders.push(dirname(folders.at(-1)!));
  return folders;
}

Deno.test("nearest() asks each folder from the start up to the root, and stops at the first answer", () => {
  const dir = tempDir();
  try {
    const deep = join(dir.path, "a", "b");
    mkdirSync(deep, { recursive: true });
    const asked: string[] = [];
    assert.equal(nearest(deep, (at) => void asked.push(at)), undefined);
    assert.deepEqual(asked, upwards(deep), "the root is asked too");
    asked.length = 0;
    const found = nearest(deep, (at) => {
      asked.push(at);
      return at === dir.path ? "here" : undefined;
    });
    assert.equal(found, "here");
    assert.deepEqual(asked, [deep, join(dir.path, "a"), dir.path], "nothing above the answer");
    // A folder given relative to the working directory (or with `..`) is walked as its absolute path.
    asked.length = 0;
    nearest(relative(process.cwd(), join(deep, "..", "b")), (at) => void asked.push(at));
    assert.deepEqual(asked, upwards(deep));
  } finally {
    dir.remove();
  }
});

Deno.test("findDenoConfig(): deno.json before deno.jsonc in a folder, a folder of that name skipped, node_modules no boundary", () => {
  const dir = tempDir();
  try {
    const inside = join(dir.path, "node_modules", "pkg", "deno.json");
    mkdirSync(inside, { recursive: true });
    writeFileSync(join(dir.path, "deno.jsonc"), "{}");
    assert.equal(findDenoConfig(dirname(inside)), join(dir.path, "deno.jsonc"));
    writeFileSync(join(dir.path, "deno.json"), "{}");
    assert.equal(findDenoConfig(dirname(inside)), join(dir.path, "deno.json"));
  } finally {
    dir.remove();
  }
});

Deno.test("isInstalled() looks past a nearer node_modules without the package, and from inside one", () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir.path, "node_modules", "hono"), { recursive: true });
    writeFileSync(join(dir.path, "node_modules", "hono", "package.json"), "{}");
    const app = join(dir.path, "app");
    mkdirSync(join(app, "node_modules", "other"), { recursive: true });
    assert.ok(isInstalled("hono", app));
    assert.ok(isInstalled("hono", join(app, "node_modules", "other")));
    assert.ok(!isInstalled("other", app), "a package folder without package.json");
  } finally {
    dir.remove();
  }
});

Deno.test("explainMissingPackage() takes the nearest package.json upwards from the importer", () => {
  const dir = tempDir();
  try {
    const missing = (referrer: string) =>
      explainMissingPackage(
        Object.assign(new Error(`Cannot find package 'dayjs' from '${referrer}'`), {
          code: "ERR_MODULE_NOT_FOUND",
          specifier: "dayjs",
          referrer,
        }),
      );
    const app = join(dir.path, "src", "deep", "app.ts");
    mkdirSync(dirname(app), { recursive: true });
    writeFileSync(join(dir.path, "package.json"), '{ "dependencies": { "dayjs": "^1" } }');
    assert.match(missing(app)!, new RegExp(`run \`bun install\` in ${dir.path}$`));
    // A nearer package.json that does not list it wins.
    writeFileSync(join(dir.path, "src", "package.json"), "{}");
    assert.match(missing(app)!, /hint: install it: `bun add dayjs`$/);
  } finally {
    dir.remove();
  }
});

Deno.test("tsconfigJsxPragma() takes the nearest tsconfig.json upwards, a folder of that name skipped", () => {
  const dir = tempDir();
  try {
    const deep = join(dir.path, "a", "tsconfig.json");
    mkdirSync(deep, { recursive: true });
    writeFileSync(
      join(dir.path, "tsconfig.json"),
      '{ "compilerOptions": { "jsxImportSource": "hono/jsx" } }',
    );
    assert.equal(tsconfigJsxPragma(deep), "/** @jsxImportSource hono/jsx */ ");
  } finally {
    dir.remove();
  }
});
