// What an app sees of its worker process, on every target and worker class: the argv
// `bun run app.ts` or `deno run app.ts` would give it (a CLI parser run at import must not
// trip over appserve's own arguments).

import assert from "node:assert/strict";
import { cpSync, mkdirSync, realpathSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { e2e, FIXTURES, get, run, start, type Target, tempDir } from "../_helpers.ts";

const PROJECT = join(FIXTURES, "process_view");

/** The fixture project in a temporary folder, its library installed (copied) in node_modules. */
function project(): { path: string; remove: () => void } {
  const dir = tempDir();
  cpSync(join(PROJECT, "app.ts"), join(dir.path, "app.ts"));
  cpSync(join(PROJECT, "package.json"), join(dir.path, "package.json"));
  mkdirSync(join(dir.path, "node_modules"));
  cpSync(join(PROJECT, "env_reader"), join(dir.path, "node_modules", "env-reader"), {
    recursive: true,
  });
  return { path: realpathSync(dir.path), remove: dir.remove };
}

async function seen(target: Target, dir: string, args: string[], env: Record<string, string>) {
  const server = start(target, ["-b", "127.0.0.1:0", ...args, "app.ts"], { cwd: dir, env });
  try {
    const url = await server.url();
    // A worker that failed to load the app halts the server: its error is the failure.
    const answer = await get(url).catch((error) => {
      throw new Error(`${error.message}; the server said: ${server.stderr}`);
    });
    assert.equal(answer.status, 200, server.stderr);
    return JSON.parse(answer.body);
  } finally {
    await server.stop();
  }
}

e2e("the app's process.argv is [executable, app module], in workers and in threads", async (t) => {
  const dir = project();
  try {
    for (const args of [[], ["-k", "gthread", "--threads", "2"]]) {
      const view = await seen(t, dir.path, args, {});
      const [executable, ...rest] = view.argv;
      assert.ok(isAbsolute(executable), `argv[0] ${executable}`);
      assert.deepEqual(rest, [join(dir.path, "app.ts")], `${args.join(" ")}`);
      assert.equal(view.verbose, false);
    }
    const check = await run(t, ["--check-config", "app.ts"], { cwd: dir.path });
    assert.equal(check.code, 0, check.stderr);
  } finally {
    dir.remove();
  }
});
