import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { explainLockfile, noteLockProject } from "../src/runtime/_deno_lockfile.ts";
import { tempDir } from "./_helpers.ts";

const OUT_OF_DATE = new TypeError(
  "The lockfile is out of date. Run `deno install --frozen=false`, or rerun with `--frozen=false` to update it.",
);
const command = () => /running `([^`]+)` in (.+?) \(then/.exec(explainLockfile(OUT_OF_DATE)!)!;

Deno.test("explainLockfile() names `deno install` with the app as its entrypoint, from its deno.json's folder", () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir.path, "srv", "my app"), { recursive: true });
    writeFileSync(join(dir.path, "deno.json"), "{}");
    noteLockProject(join(dir.path, "srv", "app.ts"));
    assert.deepEqual(command().slice(1), [
      "deno install --frozen=false --entrypoint srv/app.ts",
      `${dir.path}/`,
    ]);
    // A path that is not one shell word is quoted.
    noteLockProject(join(dir.path, "srv", "my app", "it's.ts"));
    assert.equal(command()[1], `deno install --frozen=false --entrypoint 'srv/my app/it'\\''s.ts'`);
    assert.equal(explainLockfile(new TypeError("Deno.openKv is not a function")), undefined);
  } finally {
    dir.remove();
  }
});

Deno.test("explainLockfile() without a deno.json: the app's absolute path, in the project's folder", () => {
  const dir = tempDir();
  try {
    noteLockProject(join(dir.path, "app.ts"));
    assert.deepEqual(command().slice(1), [
      `deno install --frozen=false --entrypoint ${join(dir.path, "app.ts")}`,
      "the project's folder",
    ]);
  } finally {
    dir.remove();
  }
});
