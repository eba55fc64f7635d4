// The files a USR2 upgrade shares: the unix socket the old master bound, its pidfile and control
// socket stay while it serves, whatever becomes of the new master before its promotion (a rollback
// by TERM or QUIT, an app broken on disk, a stop while it starts); a promoted master removes them.

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  getWhenReady,
  type Server,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";
import { killTree, whileStopped } from "../_procs.ts";

const SLOW_BOOT_APP = join(FIXTURES, "apps", "slow_boot_app.ts");

/** Sends USR2; returns the new master's pid once it wrote PIDFILE.2. */
async function usr2(old: Server, pidfile: string): Promise<number> {
  const answers = /Started new master with pid: (\d+)|USR2 signal ignored\. Child exists\./g;
  for (;;) {
    const before = old.all(answers).length;
    old.signal("SIGUSR2");
    await eventually(() => old.all(answers).length > before, "the USR2 answer");
    const pid = old.all(answers)[before][1];
    // A new master rolled back just now may not have been reaped by the old one yet.
    if (!pid) {
      await sleep(200);
      continue;
    }
    // One that halts at once (a broken deploy) may have written and removed it between looks.
    await eventually(
      () => existsSync(`${pidfile}.2`) || !alive(Number(pid)),
      "the new master's pidfile",
    );
    return Number(pid);
  }
}

/** The old master's files are there and it answers on its unix socket. */
async function oldServes(old: Server, socket: string, pidfile: string): Promise<void> {
  assert.ok(existsSync(socket), `${socket} removed:\n${old.stderr}`);
  assert.equal(readFileSync(pidfile, "utf8"), `${old.pid}\n`);
  assert.ok(existsSync(`${pidfile}.ctl`), "the old master's control socket");
  assert.match((await get("http://x/", { socketPath: socket })).body, /^hello pid/);
}

interface OldMaster {
  app: string;
  socket: string;
  pidfile: string;
  old: Server;
  /** Sends the old master USR2; the new master's pid (killed with its tree at the end). */
  upgrade(): Promise<number>;
}

/**
 * Runs `body` against an old master serving an app in its own folder on a unix socket; at the end
 * kills what is left of it and of the new masters `upgrade()` started, and removes the folder.
 */
async function withOldMaster(
  target: Parameters<typeof start>[0],
  extra: string[],
  body: (master: OldMaster, dir: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const pids: number[] = [];
  try {
    const app = join(dir.path, "app.ts");
    writeFileSync(app, readFileSync(SLOW_BOOT_APP, "utf8"));
    const socket = join(dir.path, "app.sock");
    const pidfile = join(dir.path, "app.pid");
    const old = start(target, ["-w", "1", "-b", `unix:${socket}`, "-p", pidfile, ...extra, app], {
      env: { SLOW_BOOT_FILE: join(dir.path, "slow_ms") },
    });
    pids.push(old.pid);
    await getWhenReady("http://x/", { socketPath: socket });
    const upgrade = async () => {
      const next = await usr2(old, pidfile);
      pids.push(next);
      return next;
    };
    await body({ app, socket, pidfile, old, upgrade }, dir.path);
  } finally {
    pids.forEach(killTree);
    dir.remove();
  }
}

e2e(
  "a USR2 rollback (TERM, then QUIT, the new master) keeps the old master's socket and pidfile",
  (target) =>
    withOldMaster(target, [], async ({ socket, pidfile, old, upgrade }) => {
      for (const signal of ["SIGTERM", "SIGQUIT"] as const) {
        const next = await upgrade();
        await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
        process.kill(next, signal);
        await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Shutting down: Master\\.2\n`));
        await eventually(() => !alive(next), "the new master gone");
        await eventually(() => !existsSync(`${pidfile}.2`), "the new master's pidfile gone");
        await oldServes(old, socket, pidfile);
      }
      assert.equal((await old.stop()).code, 0);
      assert.ok(!existsSync(socket), "the old master removes its own socket at last");
      assert.ok(!existsSync(pidfile));
    }),
);

e2e(
  "a stop that comes before the old master saw its rolled-back USR2 child exit removes its socket",
  (target) =>
    withOldMaster(target, [], async ({ socket, pidfile, old, upgrade }) => {
      const next = await upgrade();
      await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
      // A loaded box, as the old master's loop sees it: the child's exit and the stop at once.
      await whileStopped([old.pid], async () => {
        process.kill(next, "SIGQUIT");
        await eventually(() => !alive(next), "the new master ended");
        old.signal("SIGTERM");
      });
      assert.equal((await old.exited).code, 0);
      assert.ok(!existsSync(socket), `the old master left its socket:\n${old.stderr}`);
      assert.ok(!existsSync(pidfile));
    }),
);

e2e(
  "a USR2 new master that halts (the app on disk broken) keeps the old master's socket",
  (target) =>
    withOldMaster(target, [], async ({ app, socket, pidfile, old, upgrade }) => {
      writeFileSync(app, 'throw new Error("broken deploy");\n');
      const next = await upgrade();
      await old.waitFor(new RegExp(`\\[${next}\\] \\[ERROR\\] Reason: App failed to load\\.`));
      await eventually(() => !alive(next), "the new master gone");
      await oldServes(old, socket, pidfile);
    }),
);

e2e(
  "a USR2 new master stopped while --preload imports the app keeps the old master's socket",
  (target) =>
    withOldMaster(target, ["--preload"], async ({ socket, pidfile, old, upgrade }, dir) => {
      // The new master's import takes long: stopped before its loop runs.
      writeFileSync(join(dir, "slow_ms"), "30000");
      const next = await upgrade();
      await eventually(() => childPids(next).length === 1, "the new master's import");
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master gone");
      assert.ok(!existsSync(`${pidfile}.2`), "the new master's pidfile");
      assert.ok(!existsSync(`${pidfile}.ctl.2`), "the new master's control socket");
      await oldServes(old, socket, pidfile);
    }),
);

e2e(
  "a promoted USR2 master removes the socket and pidfile when it stops",
  (target) =>
    withOldMaster(target, [], async ({ socket, pidfile, old, upgrade }) => {
      const next = await upgrade();
      await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
      old.signal("SIGTERM");
      // The new master's log is the old one's stderr (inherited), which it writes on alone now.
      await eventually(
        () => old.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
        "promotion",
      );
      assert.ok(existsSync(socket), "the promoted master's socket");
      assert.match((await getWhenReady("http://x/", { socketPath: socket })).body, /^hello pid/);
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master gone");
      assert.ok(!existsSync(socket), "the socket file after the promoted master stopped");
      assert.ok(!existsSync(pidfile), "the pidfile after the promoted master stopped");
    }),
);

e2e(
  "the pidfile names a running master all through a USR2 and the old master's TERM",
  (target) =>
    withOldMaster(target, [], async ({ pidfile, old, upgrade }) => {
      const next = await upgrade();
      await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
      // Read as systemd's PIDFile= or a script would, at any moment: a missing file, or one
      // naming a master gone (read again: not one that exited just after the read), is a gap.
      const gaps = new Set<string>();
      const read = () => {
        try {
          return readFileSync(pidfile, "utf8");
        } catch {
          return "";
        }
      };
      let reading = true;
      const reader = (async () => {
        while (reading) {
          const text = read();
          const pid = Number(text);
          if (text === "") gaps.add("no pidfile");
          else if (!alive(pid) && read() === text) gaps.add(`names ${pid}, gone`);
          await sleep(0);
        }
      })();
      old.signal("SIGTERM");
      await eventually(() => !alive(old.pid), "the old master exits");
      await eventually(
        () => old.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
        "promotion",
      );
      reading = false;
      await reader;
      assert.deepEqual([...gaps], [], old.stderr);
      assert.equal(readFileSync(pidfile, "utf8"), `${next}\n`);
      assert.ok(!existsSync(`${pidfile}.2`));
    }),
);
