import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { denoWhereabouts, findDeno } from "../src/runtime/find_deno.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("findDeno() takes an executable DENO first, then the first deno on PATH", () => {
  const dir = tempDir();
  try {
    const [a, b] = ["a", "b"].map((d) => join(dir.path, d));
    for (const d of [a, b]) {
      mkdirSync(d);
      writeFileSync(join(d, "deno"), "#!/bin/sh\n");
      chmodSync(join(d, "deno"), 0o755);
    }
    writeFileSync(join(dir.path, "not_executable"), "");
    assert.equal(findDeno({ PATH: `/nowhere:${a}:${b}` }), join(a, "deno"));
    assert.equal(findDeno({ DENO: join(b, "deno"), PATH: a }), join(b, "deno"));
    assert.equal(findDeno({ DENO: join(dir.path, "not_executable"), PATH: a }), join(a, "deno"));
    assert.equal(findDeno({ PATH: "" }), undefined);
    assert.equal(findDeno({}), undefined);
    assert.equal(denoWhereabouts({ DENO: join(b, "deno") }), `deno found at ${join(b, "deno")}`);
    assert.equal(denoWhereabouts({ PATH: dir.path }), "no deno found in DENO or on PATH");
  } finally {
    dir.remove();
  }
});
