// The single executable on its own: no Deno, Bun or Node on PATH, and a
// user's module outside the repo importing its own node_modules.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { get, getWhenReady, linkHono, run, start, TARGETS, tempDir } from "../_helpers.ts";
import { VERSION } from "../../src/version.ts";

const binary = TARGETS.find((t) => t.name === "binary")!;

Deno.test("[binary] --version names the version and the runtime inside, with an empty PATH", async () => {
  const result = await run(binary, ["--version"], { env: { PATH: "" } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    // The build tells two binaries of one version apart: the commit, "-dirty" with changes.
    new RegExp(
      `^appserve ${
        VERSION.replaceAll(".", "\\.")
      } \\(bun \\d+\\.\\d+\\.\\d+, build ([0-9a-f]{12}|unknown)(-dirty)?\\)\\n$`,
    ),
  );
});

Deno.test({
  name:
    "[binary] serves a user's module that imports hono from its own node_modules, with an empty PATH",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    try {
      linkHono(dir.path);
      writeFileSync(
        join(dir.path, "package.json"),
        JSON.stringify({ dependencies: { hono: "*" } }),
      );
      writeFileSync(
        join(dir.path, "server.ts"),
        'import { Hono } from "hono";\nconst app = new Hono();\napp.get("/", (c) => c.text("user app " + process.pid));\nexport default app;\n',
      );
      const server = start(binary, ["-w", "2", "-b", "127.0.0.1:0", "server.ts"], {
        cwd: dir.path,
        env: { PATH: "" },
      });
      const answer = await getWhenReady(await server.url());
      assert.match(answer.body, /^user app \d+$/);
      assert.equal((await get(await server.url())).status, 200);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  },
});
