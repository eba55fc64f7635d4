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
  // No file: one line, not the next flag (appserve's own --config) taken as it by Deno.
  const bare: [string, string][] = [
    ["-A --config", "--config"],
    ["-A -c", "-c"],
    ["-A -c= --unstable-kv", "-c"],
    ["-A --config= -q", "--config"],
  ];
  for (const [flags, flag] of bare) {
    assert.throws(() => parseDenoFlags(flags, "/app"), {
      name: "ConfigError",
      message:
        `--deno-flags "${flags}": ${flag} needs a file, as --deno-flags="-A ${flag} deno.json"`,
    }, flags);
  }
  assert.throws(() => parseDenoFlags("-A --import-map --no-check", "/app"), {
    message: '--deno-flags "-A --import-map --no-check": --import-map needs a file, as ' +
      '--deno-flags="-A --import-map import_map.json"',
  });
});
