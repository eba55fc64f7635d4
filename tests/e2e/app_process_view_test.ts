// What an app sees of its worker process, on every target and worker class: the argv
// `bun run app.ts` or `deno run app.ts` would give it, Deno.args included (a CLI parser run at
// import must not trip over appserve's own arguments), and NODE_ENV exactly as the environment
// holds it, read literally, by a computed name and by a library in node_modules, also when a .env
// sets it.

import assert from "node:assert/strict";
import { cpSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import process from "node:process";
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

// The test run must not hand down a NODE_ENV of its own: unset is one of the cases.
delete process.env.NODE_ENV;

e2e("the app's process.argv is [executable, app module], in workers and in threads", async (t) => {
  const dir = project();
  try {
    for (const args of [[], ["-k", "gthread", "--threads", "2"]]) {
      const view = await seen(t, dir.path, args, {});
      const [executable, ...rest] = view.argv;
      assert.ok(isAbsolute(executable), `argv[0] ${executable}`);
      assert.deepEqual(rest, [join(dir.path, "app.ts")], `${args.join(" ")}`);
      // What `deno run app.ts` gives: the script's arguments, none.
      assert.deepEqual(view.denoArgs, t.workers === "deno" ? [] : null, `${args.join(" ")}`);
      assert.equal(view.verbose, false);
    }
    const check = await run(t, ["--check-config", "app.ts"], { cwd: dir.path });
    assert.equal(check.code, 0, check.stderr);
  } finally {
    dir.remove();
  }
});

e2e("the app and its libraries see NODE_ENV as the environment holds it", async (t) => {
  const dir = project();
  try {
    const unset = { dot: null, computed: null, has: false, library: null };
    const production = {
      dot: "production",
      computed: "production",
      has: true,
      library: "production",
    };
    for (const args of [[], ["-k", "gthread", "--threads", "2"]]) {
      const { dot, computed, has, library } = await seen(t, dir.path, args, {});
      assert.deepEqual({ dot, computed, has, library }, unset, `unset, ${args.join(" ")}`);
      const set = await seen(t, dir.path, args, { NODE_ENV: "production" });
      assert.deepEqual(
        { dot: set.dot, computed: set.computed, has: set.has, library: set.library },
        production,
        `NODE_ENV=production, ${args.join(" ")}`,
      );
    }
    // Set after launch, from the project's .env (Bun workers read it, as `bun run`; Deno's do not).
    writeFileSync(join(dir.path, ".env"), "NODE_ENV=production\n");
    const late = await seen(t, dir.path, [], {});
    const expected = t.workers === "bun" ? "production" : null;
    assert.deepEqual([late.dot, late.computed, late.library], [expected, expected, expected]);
  } finally {
    dir.remove();
  }
});

e2e("a bunfig.toml [define] of NODE_ENV is the project's own, as under bun run", async (t) => {
  const dir = project();
  try {
    writeFileSync(
      join(dir.path, "bunfig.toml"),
      '[define]\n"process.env.NODE_ENV" = "\\"staging\\""\n',
    );
    const { dot, computed, library } = await seen(t, dir.path, [], { NODE_ENV: "production" });
    // Bun replaces the literal reads, in node_modules too; Deno workers read no bunfig.toml.
    const expected = t.workers === "bun"
      ? { dot: "staging", computed: "production", library: "staging" }
      : { dot: "production", computed: "production", library: "production" };
    assert.deepEqual({ dot, computed, library }, expected);
  } finally {
    dir.remove();
  }
});
