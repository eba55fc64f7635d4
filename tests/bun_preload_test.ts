// The binary's own preload (src/runtime/bun_preload.ts) spells ROLE_ENV again, since it cannot
// import src/ipc: the two must stay one name, or each worker would start again as a master does,
// without BUN_OPTIONS and BUN_INSPECT_PRELOAD, so without their preloads.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROLE_ENV } from "../src/ipc/messages.ts";
import { ROOT } from "./_helpers.ts";

Deno.test("the binary's preload names the role variable as src/ipc/messages.ts does", () => {
  const source = readFileSync(join(ROOT, "src/runtime/bun_preload.ts"), "utf8");
  const spelled = source.match(/^const ROLE_ENV = "([^"]+)";$/m)?.[1];
  assert.equal(spelled, ROLE_ENV);
});
