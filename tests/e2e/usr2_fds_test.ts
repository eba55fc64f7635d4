// The fds a USR2 upgrade hands on: the listeners and the metrics listener, nothing else. A Deno
// master's spawn closes no fd, so whatever it opens without close-on-exec (its control socket,
// the scoreboard) went to every new master and worker, one more per upgrade.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  getWhenReady,
  start,
  tempDir,
} from "../_helpers.ts";
import { descendants } from "../_procs.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const SCOREBOARD = "/memfd:appserve-scoreboard (deleted)";
/** /proc/net/unix's flag of a listening socket (__SO_ACCEPTCON). */
const ACCEPTING = 0x10000;

/** What the fds of `pid` refer to (readlink of /proc/PID/fd/N), by fd. */
function fdTargets(pid: number): Map<number, string> {
  const targets = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      targets.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // Closed meanwhile.
    }
  }
  return targets;
}

/** The unix sockets listening at a control socket path of `pidfile`, as fd targets name them. */
function controlListeners(pidfile: string): Set<string> {
  const found = new Set<string>();
  for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const [, , , flags, , , inode, path] = line.trim().split(/\s+/);
    if (!path?.startsWith(`${pidfile}.ctl`)) continue;
    if ((parseInt(flags, 16) & ACCEPTING) !== 0) found.add(`socket:[${inode}]`);
  }
  return found;
}

function described(targets: Map<number, string>): string {
  return [...targets].sort(([a], [b]) => a - b).map(([fd, target]) => `${fd} -> ${target}`)
    .join("\n");
}

e2e(
  "USR2 upgrades leave no old control socket or scoreboard in the new master or its worker",
  async (target) => {
    const dir = tempDir();
    const socket = join(dir.path, "app.sock");
    const pidfile = join(dir.path, "app.pid");
    const metrics = await freePort();
    const first = start(target, [
      ...["-w", "1", "-b", `unix:${socket}`, "-p", pidfile],
      ...["--metrics-bind", `127.0.0.1:${metrics}`, PID_APP],
    ]);
    const pids = [first.pid];
    try {
      await getWhenReady("http://x/", { socketPath: socket });
      let master = first.pid;
      let counts: number[] | undefined;
      for (let round = 1; round <= 3; round++) {
        process.kill(master, "SIGUSR2");
        await eventually(() => existsSync(`${pidfile}.2`), `round ${round}: the new pidfile`);
        const next = Number(readFileSync(`${pidfile}.2`, "utf8"));
        pids.push(next);
        await eventually(
          () => first.bootedWorkers(next).length === 1,
          `round ${round}: the new worker`,
        );
        process.kill(master, "SIGTERM");
        await eventually(
          () =>
            !alive(master) && !existsSync(`${pidfile}.ctl.2`) && existsSync(`${pidfile}.ctl`) &&
            readFileSync(pidfile, "utf8") === `${next}\n`,
          `round ${round}: the promotion`,
        );
        master = next;
        await getWhenReady("http://x/", { socketPath: socket });
        const [worker] = childPids(master);
        const listeners = controlListeners(pidfile);
        const held = fdTargets(master);
        const workerHeld = fdTargets(worker);
        const said = `round ${round}, ${target.name}, master:\n${described(held)}\n` +
          `worker:\n${described(workerHeld)}\ncontrol listeners: ${[...listeners]}`;
        const controls = (targets: Map<number, string>) =>
          [...targets.values()].filter((t) => listeners.has(t)).length;
        const scoreboards = (targets: Map<number, string>) =>
          [...targets.values()].filter((t) => t === SCOREBOARD).length;
        assert.equal(listeners.size, 1, said);
        assert.equal(controls(held), 1, said);
        assert.equal(controls(workerHeld), 0, said);
        assert.equal(scoreboards(held), 1, said);
        assert.equal(scoreboards(workerHeld), 0, said);
        // Nothing else piles up either, round after round.
        const now = [held.size, workerHeld.size];
        if (counts) assert.deepEqual(now, counts, said);
        counts = now;
      }
    } finally {
      for (const pid of pids) {
        for (const each of [pid, ...descendants(pid)]) {
          if (alive(each)) process.kill(each, "SIGKILL");
        }
      }
      await first.exited;
      dir.remove();
    }
  },
);
