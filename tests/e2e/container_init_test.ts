// appserve as a container's PID 1 (`docker run` without --init): the orphans an app leaves behind
// are handed to the master, which collects them as gunicorn's master does, instead of leaving a
// zombie per request for the container's life. A new PID namespace (unshare, as root) stands in
// for the container.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, start, type Target } from "../_helpers.ts";
import { childPids, procStats } from "../_procs.ts";

const APP = join(FIXTURES, "apps", "orphan_app.ts");

/**
 * `target` started as PID 1 of a new PID namespace. unshare ignores TERM while it waits: the master
 * is signalled itself, and should the test fail, unshare's end sends it a TERM.
 */
function asInit(target: Target): Target {
  return {
    ...target,
    command: "unshare",
    prefix: [
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child=SIGTERM",
      target.command,
      ...target.prefix,
    ],
  };
}

/**
 * Runs `body` against `target` started as PID 1 (`-w 1`, the orphan app) with the master's pid,
 * then stops it as `docker stop` does (TERM to PID 1, a graceful stop): exit 0, its stderr.
 */
async function asPid1(
  target: Target,
  body: (url: string, master: number, server: ReturnType<typeof start>) => Promise<void>,
  extra: string[] = [],
): Promise<string> {
  // Root in this sandbox may make namespaces; where it may not, say so rather than pass.
  const probe = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]);
  assert.equal(probe.status, 0, `unshare cannot make a PID namespace here: ${probe.stderr}`);
  const server = start(asInit(target), ["-w", "1", "-b", "127.0.0.1:0", ...extra, APP]);
  try {
    const url = await server.ready();
    await server.waitFor(/Listening at: \S+ \(1\)/);
    await eventually(() => childPids(server.pid).length === 1, "the master under unshare");
    const [master] = childPids(server.pid);
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
  }, ["--hooks", hooks]);
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
