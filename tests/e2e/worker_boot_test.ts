// A worker process refuses a boot written by another appserve version (the
// program upgraded on disk under a running master) rather than misread it.
// The worker is started the way a master starts it, with a crafted boot. A
// worker that cannot boot (exit 3) has the master's own line say why.

import assert from "node:assert/strict";
import { BOOT_ENV, ROLE_ENV } from "../../src/ipc/messages.ts";
import { VERSION } from "../../src/version.ts";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  hasStackTrace,
  pidOf,
  run,
  sleep,
  start,
  TARGETS,
  tempDir,
} from "../_helpers.ts";

const BOOT = { config: {}, listeners: [], reusePort: [], age: 1 };

function startWorker(target: Parameters<typeof run>[0], boot: Record<string, unknown>) {
  return run(target, [], { env: { [ROLE_ENV]: "worker", [BOOT_ENV]: JSON.stringify(boot) } });
}

e2e(
  "a worker given a boot of another appserve version exits 3 with one line naming both",
  async (t) => {
    const result = await startWorker(t, { ...BOOT, version: "0.0.1" });
    assert.equal(result.code, 3, result.stderr);
    assert.equal(
      result.stderr,
      `Cannot boot: the master runs appserve 0.0.1, this program is appserve ${VERSION}; ` +
        "restart the server, or start a new master of this version with USR2 and stop the old one\n",
    );
    assert.ok(!hasStackTrace(result.stderr));
  },
);

e2e(
  "a worker given a boot without a version (an older master) exits 3 with one line",
  async (t) => {
    const result = await startWorker(t, BOOT);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /^Cannot boot: the master runs an older appserve, this program is /,
    );
    assert.equal(result.stderr.split("\n").length, 2, result.stderr);
  },
);

const NOISE_APP = join(FIXTURES, "apps", "channel_noise_app.ts");

e2e("the master logs a line on a worker's channel that is no message, and serves on", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", NOISE_APP]);
  const url = await server.ready(1);
  const pid = childPids(server.pid)[0];
  await server.waitFor(
    new RegExp(
      `\\[WARNING\\] Dropped a malformed message from worker \\(pid:${pid}\\): "this is not a message"`,
    ),
  );
  assert.equal((await get(url)).body, "ok\n");
  await server.stop();
});

const BUN_OPTIONS_APP = join(FIXTURES, "apps", "bun_serve_options_app.ts");

const SETUPS: [string, string[]][] = [
  ["-k async", ["-k", "async"]],
  ["-k gthread", ["-k", "gthread", "--threads", "2"]],
  ["--reuse-port", ["--reuse-port"]],
];

for (const [name, args] of SETUPS) {
  e2e(
    `${name}: an app in Bun.serve's shape gets its error handler, and a warning for the options appserve ignores`,
    async (t) => {
      // Listeners of their own must agree on a port beforehand.
      const port = args.includes("--reuse-port") ? await freePort() : 0;
      const server = start(t, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, BUN_OPTIONS_APP]);
      const url = await server.ready(1);
      assert.equal((await get(url)).body, "ok\n");
      for (const [path, message] of [["throw", "thrown"], ["reject", "rejected"]]) {
        const r = await get(`${url}/${path}`);
        assert.deepEqual([r.status, r.body], [503, `custom error page: ${message}\n`]);
      }
      // The app's error handler threw: the worker's own handling, a 500 and the stack logged.
      assert.equal((await get(`${url}/unhandled`)).status, 500);
      await server.waitFor(/\[ERROR\] Error handling request GET \/unhandled\n[^]*Error: not mine/);
      await server.waitFor(
        /\[WARNING\] The app's Bun serve\(\) options are ignored: port \(use --bind\), hostname \(use --bind\)$/m,
      );
      await server.stop();
      assert.equal(server.stderr.match(/Bun serve\(\) options/g)?.length, 1, server.stderr);
      assert.doesNotMatch(server.stderr, /Error: (thrown|rejected)/);
    },
  );
}

// Every worker and thread loads the app and finds the same options to warn about: the master
// says it once per start, and once per reload (whose app may have changed).
for (const [name, args] of [SETUPS[0], SETUPS[1]]) {
  e2e(
    `${name}: the ignored-options warning once per start and per HUP, by the master`,
    async (t) => {
      const server = start(t, ["-w", "2", ...args, "-b", "127.0.0.1:0", BUN_OPTIONS_APP]);
      const url = await server.ready(2);
      const warned = () =>
        server.stderr.match(/\[(\d+)\] \[WARNING\] The app's Bun serve\(\) options/g) ?? [];
      const booted = () => server.stderr.match(/Booting worker with pid/g)?.length ?? 0;
      await eventually(() => warned().length > 0, "the warning");
      await getWhenReady(url);
      await sleep(1000); // The second worker's (and threads') would come meanwhile.
      assert.deepEqual(
        warned(),
        [`[${server.pid}] [WARNING] The app's Bun serve() options`],
        server.stderr,
      );
      server.signal("SIGHUP");
      await eventually(() => booted() === 4 && warned().length > 1, "the new generation");
      await sleep(1000);
      assert.equal(warned().length, 2, server.stderr);
      assert.equal((await get(url)).body, "ok\n");
      await server.stop();
    },
  );
}

const EXIT_APP = join(FIXTURES, "apps", "exit_app.ts");

// gunicorn halts on 3 and 4 from any worker; only a worker that has not booted yet means them.
for (const code of [3, 4]) {
  e2e(`a booted worker whose app exits ${code} is replaced, not a boot failure`, async (t) => {
    const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", EXIT_APP]);
    const url = await server.ready(1);
    const first = pidOf(await get(url));
    await get(`${url}/exit?code=${code}`).catch(() => {});
    await server.waitFor(new RegExp(`Worker \\(pid:${first}\\) exited with code ${code}\\.`));
    const answer = await getWhenReady(url);
    assert.notEqual(pidOf(answer), first);
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Reason:|failed to boot|failed to load/);
  });
}

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const CLASSES: string[][] = [["-k", "sync"], ["-k", "async"], ["-k", "gthread", "--threads", "2"]];

// The worker says why on its stderr before it has a logger; a daemon's or a supervisor's stderr is
// lost, so the master's Reason in the error log names it too (and stderr's one line, as a -D's).
e2e(
  "a worker that cannot open its access log: the master's Reason says why (exit 3)",
  async (t) => {
    for (const args of CLASSES) {
      const dir = tempDir();
      try {
        const access = join(dir.path, "access.log");
        const errors = join(dir.path, "error.log");
        const result = await run(t, [
          ...["-w", "1", ...args, "-b", "127.0.0.1:0", "--error-logfile", errors],
          ...["--access-logfile", access, "--hooks", join(FIXTURES, "hooks", "log_taken_hooks.ts")],
          PID_APP,
        ], { env: { BLOCKED_LOG: access } });
        assert.equal(result.code, 3, result.stderr);
        const why = `Cannot open access log "${access}": EISDIR`;
        assert.match(
          readFileSync(errors, "utf8"),
          new RegExp(`\\[ERROR\\] Reason: Worker failed to boot: ${RegExp.escape(why)}`),
          args.join(" "),
        );
        assert.match(
          result.stderr,
          new RegExp(`^Error: Worker failed to boot: ${RegExp.escape(why)}`, "m"),
        );
        // The worker's own line is there too, as ever.
        assert.match(result.stderr, new RegExp(`^${RegExp.escape(why)}`, "m"));
        assert.ok(!hasStackTrace(result.stderr), result.stderr);
      } finally {
        dir.remove();
      }
    }
  },
);

e2e("a worker that cannot import the hooks module: the master's Reason says why", async (t) => {
  const dir = tempDir();
  try {
    const hooks = join(FIXTURES, "hooks", "master_only_hooks.ts");
    const result = await run(t, ["-w", "1", "-b", "127.0.0.1:0", "--hooks", hooks, PID_APP], {
      env: { HOOKS_MARK: join(dir.path, "imported") },
    });
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /\[ERROR\] Reason: Worker failed to boot: Cannot load hooks module [^\n]*master_only_hooks\.ts: [^\n]*Error: this hooks module loads in the master only$/m,
    );
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
  } finally {
    dir.remove();
  }
});

// A worker that cannot read its boot (here the Deno worker bundle in the cache, written over by
// another appserve version's under a running master, as a program upgraded on disk) says why on
// its channel too, not only on stderr: the master's line names it.
for (const target of TARGETS.filter((t) => t.workers === "deno")) {
  Deno.test({
    name:
      `[${target.name}] a replacement worker of another appserve version: the master's line says why`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const dir = tempDir();
      try {
        const cache = join(dir.path, "cache");
        const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP], {
          env: { XDG_CACHE_HOME: cache },
        });
        try {
          const url = await server.allAnswering(2);
          const [bundle] = readdirSync(join(cache, "appserve"));
          const entry = join(cache, "appserve", bundle, "process_entry.js");
          const text = readFileSync(entry, "utf8");
          assert.ok(text.includes(`"${VERSION}"`), "the bundle names its version");
          writeFileSync(entry, text.replaceAll(`"${VERSION}"`, '"0.0.9"'));
          const [killed, kept] = childPids(server.pid);
          process.kill(killed, "SIGKILL");
          const why =
            `Cannot boot: the master runs appserve ${VERSION}, this program is appserve 0.0.9;`;
          await server.waitFor(
            new RegExp(
              `\\[ERROR\\] Replacement worker \\(pid:\\d+\\) failed to boot, keeping the running workers: ${
                RegExp.escape(why)
              }`,
            ),
          );
          assert.equal(pidOf(await get(url)), kept);
        } finally {
          const result = await server.stop();
          assert.equal(result.code, 0, result.stderr);
        }
      } finally {
        dir.remove();
      }
    },
  });
}
