// appserve's own source names its npm packages as `npm:name@version`, so Deno resolves them
// under a user's deno.json too (tests/e2e/deno_project_use_test.ts); Bun finds them through
// src/tsconfig.json's paths. Both must follow package.json's versions, as must the type references
// (`deno check` of a user's project that imports mod.ts reads them under the user's deno.json).

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./_procs.ts";
import { parseNpmSpecifier, rewriteSpecifiers } from "../src/runtime/_specifiers.ts";

// ws is loaded only in workers, and Deno workers run the bundle, which has it inlined.
const BARE_ALLOWED = new Set(["ws"]);
const BUILTIN = /^(?:\.{0,2}\/|node:|bun:|bun$|appserve$)/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

function imports(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of [...sources(join(ROOT, "src")), ...sources(join(ROOT, "workers"))]) {
    rewriteSpecifiers(readFileSync(file, "utf8"), (specifier) => {
      // Prose that reads like an import (`... from "-dirty"`) is not one.
      if (
        BUILTIN.test(specifier) ||
        !/^(?:npm:\S+|(?:@[\w.-]+\/)?[a-z][\w.-]*(?:\/\S+)?)$/.test(specifier)
      ) return undefined;
      found.set(specifier, [...found.get(specifier) ?? [], relative(ROOT, file)]);
    });
  }
  return found;
}

Deno.test("appserve's npm imports are npm:name@version of package.json, each in src/tsconfig.json", () => {
  const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const tsconfig = JSON.parse(readFileSync(join(ROOT, "src", "tsconfig.json"), "utf8"));
  const paths: Record<string, string[]> = tsconfig.compilerOptions.paths;
  for (const [specifier, files] of imports()) {
    if (BARE_ALLOWED.has(specifier)) continue;
    const npm = parseNpmSpecifier(specifier);
    assert.ok(npm, `${specifier} (in ${files.join(", ")}) is no npm:name@version specifier`);
    assert.equal(npm.version, packageJson.dependencies[npm.name], `${specifier} in ${files}`);
    assert.deepEqual(paths[`npm:${npm.name}@${npm.version}`], [`../node_modules/${npm.name}`]);
  }
});

Deno.test("appserve's type references are npm:name@version of package.json", () => {
  const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const versions = { ...packageJson.dependencies, ...packageJson.devDependencies };
  let seen = 0;
  for (const file of [...sources(join(ROOT, "src")), ...sources(join(ROOT, "workers"))]) {
    for (const m of readFileSync(file, "utf8").matchAll(/^\/\/\/ <reference types="([^"]+)"/gm)) {
      const npm = parseNpmSpecifier(m[1]);
      assert.ok(npm, `${m[1]} (in ${relative(ROOT, file)}) is no npm:name@version specifier`);
      assert.equal(npm.version, versions[npm.name], `${m[1]} in ${relative(ROOT, file)}`);
      seen++;
    }
  }
  assert.ok(seen > 0);
});
