import assert from "node:assert/strict";
import { explainUnstable } from "../src/runtime/_deno_unstable.ts";

Deno.test("explainUnstable() names the feature of an unstable Deno API, and only of one", () => {
  const error = new TypeError("Deno.KvU64 is not a constructor");
  error.stack =
    "TypeError: Deno.KvU64 is not a constructor\n    at file:///srv/my%20app/main.ts:3:9";
  assert.equal(
    explainUnstable(error),
    "/srv/my app/main.ts:3:9: TypeError: Deno.KvU64 is not a constructor: Deno.KvU64 is an " +
      'unstable API; enable it with "unstable": ["kv"] in deno.json, or --deno-flags ' +
      '"-A --unstable-kv"',
  );
  assert.equal(explainUnstable(new TypeError("Deno.nothing is not a function")), undefined);
  assert.equal(explainUnstable(new Error("Deno.openKv is not a function")), undefined);
});
