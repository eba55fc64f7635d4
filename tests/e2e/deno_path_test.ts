// `--deno` (and $DENO) as a shell takes a command: a bare name from PATH, a relative path from
// where appserve was started (not from --chdir's folder), and an error names the path it tried.

import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  assertOneLineError,
  BINARY,
  DENO,
  getWhenReady,
  run,
  Server,
  tempDir,
} from "../_helpers.ts";
import { spawnPiped, type Target } from "../_procs.ts";

const APP = "export default { fetch: () => new Response(`pid ${process.pid}`) };\n";

function startAs(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  return new Server(spawnPiped(command, args, { cwd, env }));
}

const denoTarget: Target = { name: "binary-deno", workers: "deno", command: BINARY, prefix: [] };

Deno.test({
  name: "[binary] --deno deno runs the deno found on PATH, and DENO=deno too",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    Deno.writeTextFileSync(join(dir.path, "app.ts"), APP);
    const env = { PATH: `${dirname(DENO)}:/usr/bin:/bin` };
    try {
      for (const how of [["--deno", "deno"], []]) {
        const server = startAs(
          BINARY,
          ["--runtime", "deno", ...how, "-b", "127.0.0.1:0", "app.ts"],
          dir.path,
          how.length ? env : { ...env, DENO: "deno" },
        );
        try {
          await getWhenReady(await server.url());
          await server.waitFor(/Using runtime: deno \S+ \(\/\S+\/deno\)/);
        } finally {
          assert.equal((await server.stop()).code, 0, server.stderr);
        }
      }
    } finally {
      dir.remove();
    }
  },
});

Deno.test({
  name:
    "[binary] a relative --deno is taken from where appserve started, not from --chdir's folder",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    const app = join(dir.path, "app");
    mkdirSync(app);
    Deno.writeTextFileSync(join(app, "app.ts"), APP);
    symlinkSync(DENO, join(dir.path, "deno"));
    try {
      const args = ["--runtime", "deno", "--chdir", app, "-b", "127.0.0.1:0", "app.ts"];
      const server = startAs(BINARY, ["--deno", "./deno", ...args], dir.path);
      try {
        await getWhenReady(await server.url());
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
      // A path that is not a Deno: the error names where it was looked for.
      assertOneLineError(
        await run(denoTarget, ["--deno", "./nodeno", ...args], { cwd: dir.path }),
        1,
        new RegExp(
          `--deno: Cannot use "\\./nodeno" as Deno: ${dir.path}/nodeno is not an executable file`,
        ),
      );
    } finally {
      dir.remove();
    }
  },
});
