import assert from "node:assert/strict";
import { AppSpecError, parseAppSpec } from "../src/app/app_spec.ts";

Deno.test("parseAppSpec() takes a bare path as the default export", () => {
  assert.deepEqual(parseAppSpec("src/server.ts"), { path: "src/server.ts", names: [], expr: "" });
});

Deno.test("parseAppSpec() takes an export name and a dotted attribute", () => {
  assert.deepEqual(parseAppSpec("mod:app").names, ["app"]);
  assert.deepEqual(parseAppSpec("mod:api.v1").names, ["api", "v1"]);
});

Deno.test("parseAppSpec() parses factory calls with JSON-literal arguments", () => {
  assert.deepEqual(parseAppSpec("app.ts:createApp()").args, []);
  const spec = parseAppSpec('app.ts:createApp({"debug":true}, 3)');
  assert.equal(spec.path, "app.ts");
  assert.deepEqual(spec.args, [{ debug: true }, 3]);
});

for (
  const bad of [
    ":app",
    "mod:",
    "mod:1abc",
    "mod:a-b",
    "mod:f(",
    "mod:f(debug=true)",
    "mod:f(undefined)",
  ]
) {
  Deno.test(`parseAppSpec() rejects "${bad}"`, () =>
    assert.throws(() => parseAppSpec(bad), AppSpecError));
}
