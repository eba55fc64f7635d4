import assert from "node:assert/strict";
import { parseDenoFlags } from "../src/master/deno_flags.ts";

Deno.test("parseDenoFlags() takes the project flags out, in each spelling, from the cwd", () => {
  for (
    const flags of ["--config c.json", "--config=c.json", "-c c.json", "-c=c.json", "-cc.json"]
  ) {
    assert.deepEqual(parseDenoFlags(`-A ${flags} --unstable-kv`, "/app"), {
      rest: ["-A", "--unstable-kv"],
      config: "/app/c.json",
      noConfig: false,
      check: false,
    }, flags);
  }
  assert.deepEqual(parseDenoFlags("-A --import-map /m.json --no-config --check=all", "/app"), {
    rest: ["-A", "--check=all"],
    importMap: "/m.json",
    noConfig: true,
    check: true,
  });
  // No value: left for Deno to say so.
  assert.deepEqual(parseDenoFlags("-A --config", "/app").rest, ["-A", "--config"]);
});
