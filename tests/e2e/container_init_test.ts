// appserve as a container's PID 1 (`docker run` without --init): the orphans an app leaves behind
// are handed to the master, which collects them as gunicorn's master does, instead of leaving a
// zombie per request for the container's life. A new PID namespace (unshare, as root) stands in
// for the container.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, start, type Target, tempDir } from "../_helpers.ts";
import { childPids, procStats } from "../_procs.ts";

const APP = join(FIXTURES, "apps", "orphan_app.ts");

/**
 * `target` started in a new PID namespace: as its PID 1, or as the child of `init` (PID 1 there, a
 * command that runs the rest and waits). unshare ignores TERM while it waits: the master is
 * signalled itself, and should the test fail, unshare's end stops PID 1.
 */
function inNamespace(target: Target, init: string[]): Target {
  return {
    ...target,
    command: "unshare",
    prefix: [
      "--pid",
      "--fork",
      "--mount-proc",
      // A shell as PID 1 ignores TERM: with an init, a failed test's end kills the namespace.
      init.length ? "--kill-child=SIGKILL" : "--kill-child=SIGTERM",
      ...init,
      target.command,
      ...target.prefix,
    ],
  };
}

/** A shell as PID 1 that runs appserve and waits for it (`"$@"` alone, it would exec appserve). */
const SHELL_INIT = ["sh", "-c", '"$@"; exit $?', "sh"];

/**
 * Runs `body` against `target` started as PID 1 (`-w 1`, the orphan app, `extra` arguments), or as
 * the child of `init` as PID 1, with the master's pid, then stops it as `docker stop` does (TERM
 * to the master, a graceful stop, which an init passes on): exit 0, its stderr.
 */
async function asPid1(
  target: Target,
  body: (url: string, master: number, server: ReturnType<typeof start>) => Promise<void>,
  { init = [], extra = [] }: { init?: string[]; extra?: string[] } = {},
): Promise<string> {
  // Root in this sandbox may make namespaces; where it may not, say so rather than pass.
  const probe = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]);
  assert.equal(probe.status, 0, `unshare cannot make a PID namespace here: ${probe.stderr}`);
  const server = start(inNamespace(target, init), ["-w", "1", "-b", "127.0.0.1:0", ...extra, APP]);
  try {
    const url = await server.ready();
    await server.waitFor(init.length ? /Listening at: \S+ \(\d+\)/ : /Listening at: \S+ \(1\)/);
    await eventually(() => childPids(server.pid).length === 1, "PID 1 under unshare");
    let [master] = childPids(server.pid);
    if (init.length) {
      const pid1 = master;
      await eventually(() => childPids(pid1).length === 1, "the master under the init");
      [master] = childPids(pid1);
    }
    await body(url, master, server);
    process.kill(master, "SIGTERM");
    const result = await server.exited;
    assert.equal(result.code, 0, result.stderr);
    return result.stderr;
  } finally {
    await server.stop();
  }
}

e2e("as PID 1, the master collects the orphans the app leaves behind", async (target) => {
  const stderr = await asPid1(target, async (url, master, server) => {
    const zombies = () => procStats().filter((s) => s.ppid === master && s.state === "Z").length;
    for (let i = 0; i < 10; i++) assert.equal((await get(url)).status, 200);
    // Each request's sleep ends 0.1 s later, a child of the master.
    await eventually(() => zombies() === 0, "no zombie left under the master", 10_000);
    assert.equal((await get(url)).status, 200);
    // And the workers, which the runtime collects, still come and go as they should.
    const [worker] = childPids(master);
    process.kill(worker, "SIGKILL");
    await server.waitFor(/Worker \(pid:\d+\) was sent SIGKILL!/);
    await eventually(async () => (await get(url)).status === 200, "a new worker serving");
  });
  assert.match(stderr, /Shutting down: Master/);
});

e2e("as PID 1, the master's stop removes the orphan reaper's SIGCHLD listener", async (target) => {
  const hooks = join(FIXTURES, "hooks", "sigchld_hooks.ts");
  const stderr = await asPid1(target, async (url) => {
    assert.equal((await get(url)).status, 200);
  }, { extra: ["--hooks", hooks] });
  // on_exit runs after the stop: what listens then is what the master left behind.
  assert.match(stderr, /\[INFO\] SIGCHLD listeners at exit: 0\n/);
});

e2e(
  "as PID 1, USR2 is refused with a WARNING: the old master's exit would end the new one",
  async (target) => {
    await asPid1(target, async (url, master, server) => {
      process.kill(master, "SIGUSR2");
      await server.waitFor(/\[WARNING\] USR2 signal ignored: this master is PID 1 .*HUP reloads/);
      assert.doesNotMatch(server.stderr, /Started new master/);
      // The master goes on serving, and stops as it would have.
      assert.equal((await get(url)).status, 200);
    });
  },
);

e2e(
  "under a shell as PID 1 that waits for the master, USR2 is refused: the shell exits with it",
  async (target) => {
    await asPid1(target, async (url, master, server) => {
      process.kill(master, "SIGUSR2");
      await server.waitFor(
        /\[WARNING\] USR2 signal ignored: this master's parent is PID 1, sh \(a container's init\), which exits when this master does.*HUP reloads/,
      );
      assert.doesNotMatch(server.stderr, /Started new master/);
      assert.equal(childPids(master).length, 1, "only the worker under the master");
      assert.equal((await get(url)).status, 200);
    }, { init: SHELL_INIT });
  },
);

e2e("under tini as PID 1 (docker run --init), USR2 is refused with tini named", async (target) => {
  assert.equal(spawnSync("tini", ["--version"]).status, 0, "tini is missing: make install");
  await asPid1(target, async (url, master, server) => {
    process.kill(master, "SIGUSR2");
    await server.waitFor(/\[WARNING\] USR2 signal ignored: this master's parent is PID 1, tini /);
    assert.doesNotMatch(server.stderr, /Started new master/);
    assert.equal((await get(url)).status, 200);
  }, { init: ["tini", "--"] });
});

e2e("under any other PID 1 (a host's systemd), USR2 starts a new master", async (target) => {
  // A shell under another name: /proc/1/comm says "systemd", as on a host.
  const dir = tempDir();
  try {
    const systemd = join(dir.path, "systemd");
    symlinkSync("/bin/sh", systemd);
    await asPid1(target, async (_url, master, server) => {
      process.kill(master, "SIGUSR2");
      await server.waitFor(/Started new master with pid: \d+/);
      await eventually(() => childPids(master).length === 2, "the new master");
      const next = childPids(master)[1];
      await eventually(() => childPids(next).length === 1, "the new master's worker");
      // Rolled back: this PID 1 exits with the old master, as the shell it is.
      process.kill(next, "SIGTERM");
      await server.waitFor(/\[INFO\] Shutting down: Master\.2\n/);
      await eventually(() => childPids(master).length === 1, "the new master gone");
    }, { init: [systemd, ...SHELL_INIT.slice(1)] });
  } finally {
    dir.remove();
  }
});

e2e(
  "as PID 1, a burst of orphans leaves few zombies at once (a pids limit would run out)",
  async (target) => {
    await asPid1(target, async (url, master) => {
      // 60 orphans, about 20 a second, each a zombie 50 ms after it starts. Collected on their
      // second sighting a second apart, 20 to 40 of them waited at once.
      const burst = 60;
      assert.equal((await get(`${url}?burst=${burst}`)).status, 200);
      const seen = new Set<number>();
      let most = 0;
      for (let quiet = 0; quiet < 50;) {
        const zombies = procStats().filter((s) => s.ppid === master && s.state === "Z");
        for (const zombie of zombies) seen.add(zombie.pid);
        most = Math.max(most, zombies.length);
        // The end: most of the burst seen, then no zombie for 50 looks in a row.
        quiet = seen.size >= burst / 2 && zombies.length === 0 ? quiet + 1 : 0;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(most <= 10, `${most} zombies at once under the master (${seen.size} seen)`);
      assert.equal((await get(url)).status, 200);
    });
  },
);
