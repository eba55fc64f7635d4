// `appserve ctl reload` tells how the reload went: a failed one (a broken certificate on disk, new
// workers that cannot boot) is one line and exit 1 (`--json`: ok false), the running workers
// serve on; a good one says the new workers serve, exit 0.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  hasStackTrace,
  run,
  type RunResult,
  type Server,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { curl, LivePair, newPki } from "../_tls.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** The same program run as `appserve ctl ...`: without the server options the targets add. */
function client(target: Target): Target {
  return target.name === "deno" ? target : { ...target, prefix: [] };
}

function ctl(target: Target, pidfile: string, ...args: string[]): Promise<RunResult> {
  return run(client(target), ["ctl", "-p", pidfile, ...args]);
}

/** A failed reload: one line on stderr, no stack trace, exit 1. */
function failedReload(result: RunResult, why: RegExp): void {
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.ok(!hasStackTrace(result.stderr), result.stderr);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr.trim(), /^ctl: Reload failed, keeping the running workers: /);
  assert.match(result.stderr, why);
}

e2e("ctl reload with a broken certificate on disk fails in one line, exit 1", async (target) => {
  const dir = tempDir();
  const pidfile = join(dir.path, "app.pid");
  const old = newPki(join(dir.path, "old"));
  const renewed = newPki(join(dir.path, "new"));
  const live = new LivePair(dir.path, old);
  const server = start(target, [
    "-p",
    pidfile,
    "-b",
    "127.0.0.1:0",
    ...live.args,
    PID_APP,
  ]);
  try {
    const url = (await server.waitFor(/Listening at: (https:\/\/[^ ,]+)/))[1];
    await eventually(async () => (await curl(["--cacert", old.ca, url])).code === 0, "HTTPS");
    writeFileSync(live.cert, "garbage\n");
    failedReload(await ctl(target, pidfile, "reload"), /certfile ".*live\.pem" holds no PEM/);
    const json = await ctl(target, pidfile, "--json", "reload");
    assert.equal(json.code, 1, json.stderr);
    const reply = JSON.parse(json.stdout);
    assert.equal(reply.ok, false);
    assert.match(reply.error, /^Reload failed, keeping the running workers: certfile /);
    assert.equal((await curl(["--cacert", old.ca, url])).code, 0, "the old workers serve on");

    live.install(renewed);
    const good = await ctl(target, pidfile, "reload");
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^Reload(ed|ing): the new workers /);
    await eventually(async () => (await curl(["--cacert", renewed.ca, url])).code === 0, "new");
  } finally {
    assert.equal((await server.stop()).code, 0);
    dir.remove();
  }
});

/**
 * Runs `body` against a server of one worker whose app (answering "first") `body` may rewrite
 * before it reloads; the server must stop cleanly after.
 */
async function withEditableApp(
  target: Target,
  body: (server: Server, pidfile: string, app: string, url: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const pidfile = join(dir.path, "app.pid");
  const app = join(dir.path, "app.ts");
  writeFileSync(app, 'export default { fetch: () => new Response("first") };\n');
  const server = start(target, ["-p", pidfile, "-b", "127.0.0.1:0", app]);
  try {
    await body(server, pidfile, app, await server.ready(1));
  } finally {
    assert.equal((await server.stop()).code, 0);
    dir.remove();
  }
}

e2e(
  "ctl reload whose new workers cannot boot fails in one line, exit 1",
  (target) =>
    withEditableApp(target, async (server, pidfile, app) => {
      writeFileSync(app, 'throw new Error("broken on purpose");\nexport default {};\n');
      const result = await ctl(target, pidfile, "--json", "reload");
      // Its new worker exits 4 within the wait on any box this runs on; on one too slow, the
      // answer says the workers still boot, and the log says the rest.
      if (result.code === 0) {
        assert.match(JSON.parse(result.stdout).message, /still booting/);
      } else {
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          JSON.parse(result.stdout).error,
          /^Reload failed, keeping the running workers: App failed to load: Cannot import .*app\.ts: .*broken on purpose$/,
        );
      }
      await server.waitFor(/Reload failed, keeping the running workers: .*broken on purpose\n/);
      assert.equal(server.child.exitCode, null, "the master runs on");
    }),
);

e2e(
  "ctl reload whose new workers still boot after 4 s says it was accepted, exit 0, and a later failure is logged",
  (target) =>
    withEditableApp(target, async (server, pidfile, app, url) => {
      // Longer than the 4 s the reply waits, then broken.
      writeFileSync(
        app,
        "await new Promise((resolve) => setTimeout(resolve, 6000));\n" +
          'throw new Error("broken after a slow boot");\nexport default {};\n',
      );
      const result = await ctl(target, pidfile, "reload");
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(
        result.stdout.trim(),
        "Reload accepted, still in progress: the new workers are still booting after 4 s; " +
          "the master's log says how it ends",
      );
      assert.equal(result.stderr, "");
      await server.waitFor(/\[ERROR\] Reload failed, keeping the running workers/);
      assert.equal(server.child.exitCode, null, "the master runs on");
      assert.equal((await curl(["-s", url])).stdout, "first");
    }),
);
