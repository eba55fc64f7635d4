import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MASTER_SIGNALS } from "../src/master/signals.ts";
import { ROOT } from "./_helpers.ts";

Deno.test("docs/signals.md lists exactly the signals and handlers of src/master/signals.ts", () => {
  const doc = readFileSync(join(ROOT, "docs", "signals.md"), "utf8");
  const rows = [...doc.matchAll(/^\| `([A-Z0-9]+)`\s*\| (\w+)\s*\|/gm)].map((
    m,
  ) => [`SIG${m[1]}`, m[2]]);
  assert.deepEqual(Object.fromEntries(rows), MASTER_SIGNALS);
});
