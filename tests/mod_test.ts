// mod.ts, the public module: what it exports at run time.

import assert from "node:assert/strict";
import * as appserve from "../mod.ts";

Deno.test("mod.ts exports the values its main() hands to --logger-class modules", () => {
  // main() passes { Logger, VERSION, main } as the `appserve` module of a logger class (the
  // entry files pass this very namespace): a value exported here belongs in that object too.
  assert.deepEqual(Object.keys(appserve).sort(), ["Logger", "VERSION", "main"]);
});
