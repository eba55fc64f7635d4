// mod.ts, the public module: what it exports at run time.

import assert from "node:assert/strict";
import * as appserve from "../mod.ts";

Deno.test("mod.ts exports the values its main() hands to --logger-class modules", () => {
  // main() passes { Logger, VERSION, main } as the `appserve` module of a logger class (the
  // entry files pass this very namespace): a value exported here belongs in that object too.
  assert.deepEqual(Object.keys(appserve).sort(), ["Logger", "VERSION", "main", "upgradeWebSocket"]);
});

Deno.test("upgradeWebSocket() outside an appserve worker throws a TypeError that says so", () => {
  const request = new Request("http://x/", { headers: { upgrade: "websocket" } });
  assert.throws(() => appserve.upgradeWebSocket(request), {
    name: "TypeError",
    message: "upgradeWebSocket() works only inside an appserve worker",
  });
});
