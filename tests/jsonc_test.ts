import assert from "node:assert/strict";
import { parseJsonc } from "../src/jsonc.ts";

Deno.test("parseJsonc() takes what Deno takes in a deno.json: comments, trailing commas, loose keys and quotes", () => {
  const text = '{\n  // a comment\n  "a": "x // not a comment", /* block */\n  "b": [1, 2,],\n}\n';
  assert.deepEqual(parseJsonc(text, "deno.jsonc"), { a: "x // not a comment", b: [1, 2] });
  // Each accepted by `deno run --config` (2.9.6), refused by the hand-written reader before.
  assert.deepEqual(parseJsonc('{"imports": {"a": "./a.ts", /* c */ }}', "f"), {
    imports: { a: "./a.ts" },
  });
  assert.deepEqual(parseJsonc('{imports: {"a": "./a.ts"}}', "f"), { imports: { a: "./a.ts" } });
  assert.deepEqual(parseJsonc("{'imports': {}}", "f"), { imports: {} });
});

Deno.test("parseJsonc() names the file, line and column of a syntax error, in one line", () => {
  assert.throws(
    () => parseJsonc('{\n  "imports": {\n    "hono" "npm:hono@4"\n  }\n}\n', "/p/deno.json"),
    /^Error: \/p\/deno\.json:3:12: Cannot parse: invalid character '.*'$/,
  );
  assert.throws(() => parseJsonc('{"a": 1,,}', "f"), /^Error: f:1:9: Cannot parse: /);
  assert.throws(
    () => parseJsonc('{"a": ', "f"),
    /^Error: f:1:7: Cannot parse: invalid end of input$/,
  );
  assert.throws(() => parseJsonc("[]", "f"), /^Error: f: Cannot parse: expected an object$/);
});
