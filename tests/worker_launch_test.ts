// What the master says of a Deno launch (launchWarnings(), the arbiter's #logLaunch) when the
// bundle's cache is not writable: the fallback folder is a configuration warning, said at the
// start and again at a HUP only when new, also after a restore before a spawn moved the bundle.

import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { resolveConfig } from "../src/config/resolve.ts";
import { chooseWorkers, launchWarnings, launchWorkers } from "../src/master/worker_launch.ts";
import { detectRuntime } from "../src/runtime/mod.ts";
import { FIXTURES, tempDir } from "./_helpers.ts";

const APP = join(FIXTURES, "apps", "pid_app.ts");
const FALLBACK = /^Cannot use .*\/cache\/appserve: .*; the Deno worker bundle is in .*\/tmp\//;

/** A Deno launch as a start or a HUP prepares it, under `env`. */
async function launch(env: Record<string, string | undefined>) {
  const runtime = await detectRuntime();
  const cwd = process.cwd();
  const { config, origins } = resolveConfig(["--runtime", "deno", APP], { env, cwd });
  const chosen = chooseWorkers(config, runtime, {
    env,
    cwd,
    appFile: APP,
    origins: { runtime: origins.runtime, deno: origins.deno },
  });
  return await launchWorkers(chosen, config, runtime, env, cwd);
}

/** Runs `fn` with a cache folder `cache` (not made), TMPDIR and DENO_DIR in a temp folder. */
async function withCache(
  fn: (env: Record<string, string>, dir: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const saved = process.env.TMPDIR;
  // installBundle's fallback is os.tmpdir(), which reads this process's TMPDIR.
  process.env.TMPDIR = join(dir.path, "tmp");
  mkdirSync(process.env.TMPDIR);
  try {
    await fn(
      { XDG_CACHE_HOME: join(dir.path, "cache"), DENO_DIR: join(dir.path, "deno") },
      dir.path,
    );
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    dir.remove();
  }
}

Deno.test("an unwritable cache: the fallback is said at the start, not again at a HUP in it", async () => {
  await withCache(async (env) => {
    writeFileSync(env.XDG_CACHE_HOME, "a file, not a folder");
    const first = await launch(env);
    const said = launchWarnings(first);
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(said[0], FALLBACK);
    // A HUP installs again into the same fallback: nothing new to say.
    const second = await launch(env);
    assert.deepEqual(second.warnings, first.warnings);
    assert.deepEqual(launchWarnings(second, first), []);
    // What installing did is said each time: a damaged file written again.
    writeFileSync(join(second.bundleDir!, "process_entry.js"), "garbage");
    const third = await launch(env);
    assert.deepEqual(launchWarnings(third, second), [
      `${third.bundleDir}/process_entry.js was damaged (its hash differed): written again`,
    ]);
  });
});

Deno.test("a restore that falls back says so once: the next HUP in that fallback says nothing", async () => {
  await withCache(async (env) => {
    const first = await launch(env);
    assert.deepEqual(launchWarnings(first), []);
    assert.deepEqual(await first.restore!(), []);
    // The cache emptied away and no longer writable: the restore writes the bundle to the temp
    // folder, and says why.
    const gone = first.bundleDir!;
    rmSync(env.XDG_CACHE_HOME, { recursive: true });
    writeFileSync(env.XDG_CACHE_HOME, "a file, not a folder");
    const said = await first.restore!();
    assert.equal(said.length, 2, said.join("\n"));
    assert.match(said[0], new RegExp(`^4 of the 4 files of the Deno worker bundle in ${gone} `));
    assert.match(said[1], FALLBACK);
    assert.deepEqual(first.warnings, [said[1]]);
    const next = await launch(env);
    assert.deepEqual(launchWarnings(next, first), []);
    // Back in a writable cache: the fallback is gone from the launch, and new again at a HUP.
    rmSync(env.XDG_CACHE_HOME);
    rmSync(first.bundleDir!, { recursive: true });
    assert.equal((await first.restore!()).length, 1);
    assert.deepEqual(first.warnings, []);
    rmSync(env.XDG_CACHE_HOME, { recursive: true });
    writeFileSync(env.XDG_CACHE_HOME, "a file, not a folder");
    assert.match(launchWarnings(await launch(env), first).join("\n"), FALLBACK);
  });
});
