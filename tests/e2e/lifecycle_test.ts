// The master's lifecycle under real load: timeouts, recycling, HUP, USR2,
// TTIN/TTOU, pidfile and boot failures, observed through logs and pids.

import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  e2eUnderLoad,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  hasStackTrace,
  load,
  pidOf,
  run,
  type Server,
  sleep,
  slowBegan,
  start,
  startOneWorker,
  startSocketActivated,
  type Target,
  tempDir,
} from "../_helpers.ts";
import net from "node:net";
import { killTree } from "../_procs.ts";
import { rawConnect } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const SLOW_BOOT_APP = join(FIXTURES, "apps", "slow_boot_app.ts");
const SLOW_FORK_HOOKS = join(FIXTURES, "hooks", "slow_fork.ts");

e2e(
  "a worker whose event loop is stuck is killed after --timeout while others keep serving",
  async (target) => {
    const server = start(target, ["-w", "2", "-t", "2", "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(2);
    get(`${url}/spin`).catch(() => {});
    const timeout = await server.waitFor(/\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\)/);
    const stuck = Number(timeout[1]);
    for (let i = 0; i < 5; i++) assert.equal((await get(url)).status, 200);
    await eventually(() => !alive(stuck), "the stuck worker is gone");
    await eventually(() => childPids(server.pid).length === 2, "a replacement");
    // The spinning worker never runs its SIGABRT handler, so the master's SIGKILL on the next
    // tick ends it; the master sent that itself: no "Perhaps out of memory?" for it.
    await server.waitFor(new RegExp(`Worker \\(pid:${stuck}\\) was sent SIGKILL!$`, "m"));
    assert.doesNotMatch(server.stderr, new RegExp(`\\(pid:${stuck}\\).*Perhaps out of memory`));
    assert.equal((await server.stop()).code, 0);
  },
);

e2e("a long request in a healthy worker outlives --timeout", async (target) => {
  const server = start(target, ["-w", "1", "-t", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready();
  const answer = await get(`${url}/slow?ms=2500`);
  assert.equal(answer.status, 200);
  assert.doesNotMatch(server.stderr, /WORKER TIMEOUT/);
  await server.stop();
});

// Over a minute per target: a booting worker gets max(--timeout, 60 s), and no knob shortens that.
e2e(
  "a worker stuck loading the app is killed after 60 s, saying so, and a stuck reload says it too",
  async (target) => {
    const dir = tempDir();
    try {
      // Present, this makes the app's top-level await wait for 23 days: an import that hangs.
      const hang = join(dir.path, "hang");
      const server = start(
        target,
        ["-w", "1", "-t", "1", "--graceful-timeout", "1", "-b", "127.0.0.1:0", SLOW_BOOT_APP],
        { env: { SLOW_BOOT_FILE: hang } },
      );
      const url = await server.ready();
      const [serving] = childPids(server.pid);
      writeFileSync(hang, "2000000000");
      // A second worker of the serving generation (no reload), then a HUP: a new generation
      // whose worker hangs too, while the first one serves on.
      server.signal("SIGTTIN");
      await eventually(() => childPids(server.pid).length === 2, "the added worker");
      server.signal("SIGHUP");
      const plain = new RegExp(
        `\\[CRITICAL\\] WORKER TIMEOUT \\(pid:(\\d+)\\): still loading the app after 60 s ` +
          `\\(booting workers get max\\(--timeout, 60 s\\)\\)$`,
        "m",
      );
      const stuck = new RegExp(
        `\\[CRITICAL\\] WORKER TIMEOUT \\(pid:(\\d+)\\): still loading the app after 60 s ` +
          `\\(booting workers get max\\(--timeout, 60 s\\)\\); the reload is stuck on it, ` +
          `the old workers keep serving$`,
        "m",
      );
      const [first, second] = [await server.waitFor(plain, 80_000), await server.waitFor(stuck)];
      assert.notEqual(first[1], second[1]);
      assert.ok(![first[1], second[1]].includes(String(serving)), server.stderr);
      assert.doesNotMatch(server.stderr, /no request in flight/);
      // The first worker served all along, and still does.
      assert.equal(pidOf(await get(url)), serving);
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

e2eUnderLoad(
  "--max-requests with jitter recycles workers under load without losing a request",
  async (target, mode) => {
    const server = start(target, [
      "-w",
      "2",
      "--max-requests",
      "200",
      "--max-requests-jitter",
      "50",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready();
    const result = await load(url, 4, { mode }).done;
    assert.ok(result.requests > 200, result.report);
    assert.equal(result.failed, 0, result.report);
    assert.ok(server.all(/Autorestarting worker after current request\./g).length >= 2);
    await server.stop();
  },
);

e2e(
  "--max-requests: the worker serves (and /healthz says 200) until its replacement has booted",
  async (target) => {
    const dir = tempDir();
    try {
      const slow = join(dir.path, "slow-boot");
      const pidfile = join(dir.path, "app.pid");
      const metrics = `127.0.0.1:${await freePort()}`;
      const server = start(
        target,
        [
          "-w",
          "1",
          "--max-requests",
          "2",
          "--metrics-bind",
          metrics,
          "-p",
          pidfile,
          "-b",
          "127.0.0.1:0",
          SLOW_BOOT_APP,
        ],
        { env: { SLOW_BOOT_FILE: slow } },
      );
      // ready() made the first request; the second reaches the limit.
      const url = await server.ready(1);
      const [worker] = childPids(server.pid);
      writeFileSync(slow, "3000");
      assert.equal(pidOf(await get(url)), worker);
      await server.waitFor(/Autorestarting worker after current request/);
      // Its replacement takes 3 s to load the app; meanwhile the retiring worker answers (one that
      // left at once would leave these waiting for the replacement).
      for (let i = 0; i < 5; i++) assert.equal(pidOf(await get(url)), worker);
      // Nothing is missing meanwhile: a balancer keeps sending here.
      assert.equal((await get(`http://${metrics}/healthz`)).status, 200);
      // And ctl tells the serving old worker from its booting replacement.
      const client = target.name === "deno" ? target : { ...target, prefix: [] };
      const status = await run(client, ["ctl", "-p", pidfile, "status", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const states = JSON.parse(status.stdout).workers.map((w: { pid: number; state: string }) =>
        `${w.pid === worker ? "old" : "new"} ${w.state}`
      );
      assert.deepEqual(states.sort(), ["new booting", "old recycling"]);
      await eventually(() => !alive(worker), "the retired worker is gone");
      assert.notEqual(pidOf(await get(url)), worker);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a TERM while the master spawns many workers is handled before the rest are spawned",
  async (target) => {
    const dir = tempDir();
    try {
      const pidfile = join(dir.path, "app.pid");
      const forks = join(dir.path, "forks.log");
      const server = start(
        target,
        ["-w", "1", "-p", pidfile, "--hooks", SLOW_FORK_HOOKS, "-b", "127.0.0.1:0", PID_APP],
        { env: { HOOKS_LOG: forks } },
      );
      await server.ready(1);
      // 60 more workers, 100 ms of pre_fork each: 6 s of spawning, were it done in one go.
      const client = target.name === "deno" ? target : { ...target, prefix: [] };
      const scaled = await run(client, ["ctl", "-p", pidfile, "scale", "61"]);
      assert.equal(scaled.code, 0, scaled.stderr);
      server.signal("SIGTERM");
      assert.equal((await server.exited).code, 0);
      const spawned = readFileSync(forks, "utf8").trim().split("\n").length - 1;
      assert.ok(spawned < 30, `${spawned} workers spawned after the TERM:\n${server.stderr}`);
    } finally {
      dir.remove();
    }
  },
);

e2eUnderLoad(
  "HUP reloads the configuration into fresh workers under load with zero failed requests",
  async (target, mode) => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.path, "appserve.toml"),
        `bind = "127.0.0.1:0"\nworkers = 2\napp = "${PID_APP}"\n`,
      );
      const server = start(target, [], { cwd: dir.path });
      const url = await server.ready(2);
      const before = childPids(server.pid);
      const running = load(url, 4, { mode });
      await sleep(1000);
      writeFileSync(
        join(dir.path, "appserve.toml"),
        `bind = "127.0.0.1:0"\nworkers = 3\napp = "${PID_APP}"\n`,
      );
      server.signal("SIGHUP");
      const result = await running.done;
      assert.equal(result.failed, 0, result.report);
      await server.waitFor(/\[INFO\] Handling signal: hup\n.*\[INFO\] Hang up: Master/);
      await eventually(() => {
        const now = childPids(server.pid);
        return now.length === 3 && now.every((pid) => !before.includes(pid));
      }, "3 new workers replace the 2 old ones");
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

e2e("HUP with a changed bind says it keeps the old addresses", async (target) => {
  const dir = tempDir();
  try {
    const toml = join(dir.path, "appserve.toml");
    writeFileSync(toml, `bind = "127.0.0.1:0"\napp = "${PID_APP}"\n`);
    const server = start(target, [], { cwd: dir.path });
    const url = await server.ready(1);
    const port = await freePort();
    writeFileSync(toml, `bind = ["127.0.0.1:0", "127.0.0.1:${port}"]\napp = "${PID_APP}"\n`);
    const warning = new RegExp(
      `\\[WARNING\\] bind changed to 127\\.0\\.0\\.1:0, 127\\.0\\.0\\.1:${port}: a reload keeps ` +
        "listening at 127\\.0\\.0\\.1:0; restart appserve to listen at the new addresses",
    );
    server.signal("SIGHUP");
    await server.waitFor(warning);
    // Still the start's addresses at the next HUP, which says so again (not the last HUP's).
    await server.waitFor(/\[INFO\] Booting worker with pid: \d+\n(.|\n)*\[INFO\] Booting worker/);
    server.signal("SIGHUP");
    await eventually(
      () => (server.stderr.match(new RegExp(warning, "g")) ?? []).length === 2,
      "the warning again at the second HUP",
    );
    assert.equal((await get(url)).status, 200);
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

e2e("HUP with a broken app reports it and the old workers keep serving", async (target) => {
  const dir = tempDir();
  try {
    const app = join(dir.path, "app.ts");
    copyFileSync(PID_APP, app);
    const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", app]);
    const url = await server.allAnswering(2);
    const before = childPids(server.pid).sort();
    writeFileSync(app, 'throw new Error("broken on purpose");\n');
    server.signal("SIGHUP");
    // One line naming the file and the error, as the start-up's "Error: App failed to load: ...".
    await server.waitFor(
      /\[ERROR\] Reload failed, keeping the running workers: App failed to load: Cannot import .*app\.ts: .*app\.ts:1:\d+: Error: broken on purpose\n/,
    );
    await eventually(() => childPids(server.pid).length === 2, "back to the old workers");
    assert.deepEqual(childPids(server.pid).sort(), before, server.stderr);
    assert.ok(before.includes(pidOf(await get(url))));
    const result = await server.stop();
    assert.equal(result.code, 0);
  } finally {
    dir.remove();
  }
});

e2eUnderLoad("TTIN and TTOU under load lose no request", async (target, mode) => {
  const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready();
  const running = load(url, 4, { mode });
  await sleep(800);
  server.signal("SIGTTIN");
  await sleep(1200);
  server.signal("SIGTTOU");
  await sleep(800);
  server.signal("SIGTTOU");
  const result = await running.done;
  assert.equal(result.failed, 0, result.report);
  await eventually(() => childPids(server.pid).length === 1, "one worker left");
  await server.stop();
});

e2eUnderLoad(
  "SIGKILL of a worker under load loses at most the requests in flight on it",
  async (target, mode) => {
    const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(2);
    const connections = 8;
    const running = load(url, 3, { connections, mode });
    await sleep(1000);
    process.kill(childPids(server.pid)[0], "SIGKILL");
    const result = await running.done;
    assert.ok(result.failed <= connections, result.report);
    await server.stop();
  },
);

e2eUnderLoad(
  "USR2 starts a new master on the same sockets; the old one stops with zero failed requests",
  async (target, mode) => {
    const dir = tempDir();
    const pidfile = join(dir.path, "app.pid");
    const cleanups: (() => void)[] = [];
    try {
      const old = start(target, ["-w", "2", "-p", pidfile, "-b", "127.0.0.1:0", PID_APP]);
      cleanups.push(() => {
        for (const pid of [old.pid, ...childPids(old.pid)]) {
          if (alive(pid)) process.kill(pid, "SIGKILL");
        }
      });
      const url = await old.url();
      await getWhenReady(url);
      assert.equal(readFileSync(pidfile, "utf8").trim(), String(old.pid));
      const running = load(url, 5, { mode });
      await sleep(500);
      old.signal("SIGUSR2");
      const started = await old.waitFor(/Started new master with pid: (\d+)/);
      const next = Number(started[1]);
      cleanups.push(() => {
        for (const pid of [next, ...childPids(next)]) if (alive(pid)) process.kill(pid, "SIGKILL");
      });
      await eventually(() => existsSync(`${pidfile}.2`), "PIDFILE.2");
      assert.equal(readFileSync(`${pidfile}.2`, "utf8").trim(), String(next));
      await eventually(() =>
        old.all(
          new RegExp(`\\[${next}\\] \\[INFO\\] Listening at: ${url.replaceAll(".", "\\.")}`, "g"),
        ).length === 1, "the new master listens");
      await eventually(() => childPids(next).length === 2, "the new master's workers");
      await sleep(500);
      old.signal("SIGTERM");
      const result = await running.done;
      assert.equal(result.failed, 0, result.report);
      // The new master inherited the old one's stderr, so wait for the process, not its pipes.
      await eventually(() => !alive(old.pid), "the old master exits");
      await eventually(
        () => old.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
        "promotion",
      );
      await eventually(
        () => existsSync(pidfile) && !existsSync(`${pidfile}.2`),
        "pidfile renamed back",
      );
      assert.equal(readFileSync(pidfile, "utf8").trim(), String(next));
      assert.match((await get(url)).body, /^hello pid/);
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master stops");
      assert.ok(!existsSync(pidfile));
    } finally {
      cleanups.reverse().forEach((cleanup) => cleanup());
      dir.remove();
    }
  },
);

const cmdline = (pid: number) =>
  readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ").trim();

/**
 * `target` run from a copy of the executable a USR2 re-executes (the binary, or deno under
 * `deno run`), which a deploy may remove and put back.
 */
function fromCopy(target: Target, dir: string) {
  const copy = join(dir, target.name === "deno" ? "deno" : "appserve");
  const restore = () => {
    copyFileSync(target.command, copy);
    chmodSync(copy, 0o755);
  };
  restore();
  return { target: { ...target, command: copy }, copy, restore, remove: () => rmSync(copy) };
}

const USR2_ANSWER =
  /Started new master with pid: (\S+)|Cannot start a new master|USR2 signal ignored/g;

/** Sends USR2 and returns the new master's pid once it listens; fails on any other answer. */
async function usr2(old: Server, url: string): Promise<number> {
  const before = old.all(USR2_ANSWER).length;
  old.signal("SIGUSR2");
  await eventually(() => old.all(USR2_ANSWER).length > before, "the USR2 answer");
  const answer = old.all(USR2_ANSWER)[before];
  assert.match(answer[1] ?? "", /^\d+$/, old.stderr);
  const next = Number(answer[1]);
  await eventually(() =>
    old.all(
      new RegExp(`\\[${next}\\] \\[INFO\\] Listening at: ${url.replaceAll(".", "\\.")}`, "g"),
    ).length === 1, "the new master listens");
  return next;
}

e2e(
  "USR2 with the executable gone: one error line, the master serves on, the next USR2 works",
  async (t) => {
    const dir = tempDir();
    const pids: number[] = [];
    try {
      const program = fromCopy(t, dir.path);
      const old = start(program.target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
      pids.push(old.pid);
      const url = await old.ready(1);
      // A deploy that removes the program before copying the new one in.
      program.remove();
      old.signal("SIGUSR2");
      await old.waitFor(/Started new master with pid|Cannot start a new master/);
      // Anything that follows the line (a stack trace) has had time to come.
      await sleep(500);
      const errors = old.stderr.split("\n").filter((line) => line.includes("[ERROR]"));
      assert.deepEqual(
        errors.map((line) => line.replace(/^.*\[ERROR\] /, "")),
        [
          `Cannot start a new master from ${program.copy}: No such file or directory; ` +
          "this master serves on",
        ],
        old.stderr,
      );
      assert.ok(!hasStackTrace(old.stderr), old.stderr);
      assert.doesNotMatch(old.stderr, /Started new master/);
      assert.match((await get(url)).body, /^hello pid/);
      // The program is back: the next USR2 starts a new master.
      program.restore();
      const next = await usr2(old, url);
      pids.push(next);
      await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
      old.signal("SIGTERM");
      await eventually(() => !alive(old.pid), "the old master exits");
      await eventually(
        () => old.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
        "promotion",
      );
      assert.match((await get(url)).body, /^hello pid/);
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master stops");
    } finally {
      pids.forEach(killTree);
      dir.remove();
    }
  },
);

e2e("a new master killed by a signal does not block the next USR2", async (t) => {
  const pids: number[] = [];
  try {
    const old = start(t, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
    pids.push(old.pid);
    const url = await old.ready(1);
    const first = await usr2(old, url);
    pids.push(first);
    process.kill(first, "SIGKILL");
    // Reaped by the old master (a zombie still has its /proc entry), which then learns how it ended.
    await eventually(() => !existsSync(`/proc/${first}`), "the killed master reaped");
    await sleep(200);
    const second = await usr2(old, url);
    pids.push(second);
    assert.doesNotMatch(old.stderr, /USR2 signal ignored/);
    assert.notEqual(second, first);
    assert.match((await get(url)).body, /^hello pid/);
  } finally {
    pids.forEach(killTree);
  }
});

e2e(
  "a promoted master's title drops the .2 of a USR2 child, its workers' titles have none",
  async (t) => {
    const pids: number[] = [];
    try {
      const old = start(t, ["-w", "1", "-n", "shop", "-b", "127.0.0.1:0", PID_APP]);
      pids.push(old.pid);
      const url = await old.ready(1);
      const next = await usr2(old, url);
      pids.push(next);
      await eventually(() => cmdline(next) === "appserve: master [shop].2", "the child's title");
      await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
      old.signal("SIGTERM");
      await eventually(
        () => old.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
        "promotion",
      );
      await eventually(() => cmdline(next) === "appserve: master [shop]", "the promoted title");
      // The worker from before the promotion, then one started after it.
      const titled = (pid: number) => cmdline(pid) === "appserve: worker [shop]";
      const [before] = childPids(next);
      await eventually(() => titled(before), `worker ${before}'s title`);
      process.kill(before, "SIGKILL");
      await eventually(() => {
        const now = childPids(next);
        return now.length === 1 && now[0] !== before;
      }, "a replacement worker");
      const [after] = childPids(next);
      await eventually(() => titled(after), `worker ${after}'s title`);
    } finally {
      pids.forEach(killTree);
    }
  },
);

e2e("a USR2 child names itself Master.2 in its log until promoted, as gunicorn", async (t) => {
  const pids: number[] = [];
  try {
    const old = start(t, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
    pids.push(old.pid);
    const url = await old.ready(1);
    const next = await usr2(old, url);
    pids.push(next);
    await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
    // The child's log is the old master's stderr (inherited).
    process.kill(next, "SIGHUP");
    await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Hang up: Master\\.2\n`));
    process.kill(next, "SIGTERM");
    await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Shutting down: Master\\.2\n`));
    await eventually(() => !alive(next), "the new master gone");
    // The old master was never a USR2 child.
    old.signal("SIGHUP");
    await old.waitFor(new RegExp(`\\[${old.pid}\\] \\[INFO\\] Hang up: Master\n`));
  } finally {
    pids.forEach(killTree);
  }
});

e2e(
  "a USR2 child is promoted once the old master exits, even while its parent leaves it unreaped",
  async (t) => {
    const dir = tempDir();
    const pidfile = join(dir.path, "app.pid");
    // A parent that never waits (a deploy script's Popen, a supervisor that does not reap): sh
    // starts the master, then becomes `sleep`, so the old master stays a zombie once it exits.
    const unreaping: Target = {
      ...t,
      command: "sh",
      prefix: ["-c", '"$@" & exec sleep 600', "sh", t.command, ...t.prefix],
    };
    const server = start(unreaping, ["-w", "1", "-b", "127.0.0.1:0", "-p", pidfile, PID_APP]);
    const pids: number[] = [];
    try {
      await server.ready(1);
      const [old] = childPids(server.pid);
      pids.push(old);
      process.kill(old, "SIGUSR2");
      const next = Number((await server.waitFor(/Started new master with pid: (\d+)/))[1]);
      pids.push(next);
      await eventually(() => server.bootedWorkers(next).length === 1, "the new master's worker");
      process.kill(old, "SIGTERM");
      await server.waitFor(new RegExp(`\\[${old}\\] \\[INFO\\] Shutting down: Master\n`));
      await server.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Master has been promoted\\.`));
      await eventually(() => existsSync(pidfile) && !existsSync(`${pidfile}.2`), "PIDFILE again");
      // The promoted master takes USR2s again.
      process.kill(next, "SIGUSR2");
      const again = new RegExp(`\\[${next}\\] \\[INFO\\] Started new master with pid: (\\d+)`);
      pids.push(Number((await server.waitFor(again))[1]));
    } finally {
      pids.reverse().forEach(killTree);
      await server.stop();
      dir.remove();
    }
  },
);

e2e(
  "the pidfile is written, refused while its process lives, and removed on exit",
  async (target) => {
    const dir = tempDir();
    const pidfile = join(dir.path, "app.pid");
    try {
      const server = start(target, ["-p", pidfile, "-b", "127.0.0.1:0", PID_APP]);
      await getWhenReady(await server.url());
      assert.equal(readFileSync(pidfile, "utf8"), `${server.pid}\n`);
      const second = await run(target, ["-p", pidfile, "-b", "127.0.0.1:0", PID_APP]);
      assert.equal(second.code, 1);
      assert.equal(
        second.stderr,
        `Error: ${pidfile}: Already running on pid ${server.pid} (or pidfile is stale)\n`,
      );
      await server.stop();
      assert.ok(!existsSync(pidfile));
    } finally {
      dir.remove();
    }
  },
);

e2e("workers that die before booting, repeatedly, halt the master with exit 3", async (target) => {
  const result = await run(target, [
    "-w",
    "2",
    "-b",
    "127.0.0.1:0",
    join(FIXTURES, "apps", "exit_on_import.ts"),
  ]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /\[ERROR\] Reason: Worker failed to boot\.$/m);
});

/**
 * Kills (SIGKILL, as the OOM killer does) the next worker that says it boots and is not in
 * `known`, `times` times. The pids killed.
 */
async function killBooting(server: Server, times: number, known: Set<number>): Promise<number[]> {
  const killed: number[] = [];
  for (let i = 0; i < times; i++) {
    let pid = 0;
    await eventually(() => {
      const booting = server.all(/Booting worker with pid: (\d+)/g).map((m) => Number(m[1]));
      pid = booting.find((p) => !known.has(p)) ?? 0;
      return pid > 0;
    }, "a new worker booting");
    known.add(pid);
    process.kill(pid, "SIGKILL");
    killed.push(pid);
  }
  return killed;
}

e2e(
  "a worker and its booting replacements killed from outside (SIGKILL), 4 in a row, do not stop a running server",
  async (target) => {
    const dir = tempDir();
    const slow = join(dir.path, "slow_boot");
    try {
      const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", SLOW_BOOT_APP], {
        env: { SLOW_BOOT_FILE: slow },
      });
      const url = await server.allAnswering(2);
      const [healthy, first] = childPids(server.pid);
      writeFileSync(slow, "5000");
      process.kill(first, "SIGKILL");
      const killed = await killBooting(server, 3, new Set([healthy, first]));
      rmSync(slow);
      for (const pid of [first, ...killed]) {
        await server.waitFor(
          new RegExp(`Worker \\(pid:${pid}\\) was sent SIGKILL! Perhaps out of memory\\?`),
        );
      }
      // The healthy worker served on; the fifth replacement boots (fast now) and serves too.
      assert.ok(childPids(server.pid).includes(healthy), server.stderr);
      await server.allAnswering(2);
      assert.notEqual(pidOf(await get(url)), first);
      assert.doesNotMatch(server.stderr, /Reason:/);
      assert.equal((await server.stop()).code, 0, server.stderr);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "workers killed from outside before the first boot, 3 in a row, stop the start saying so, exit 3",
  async (target) => {
    const dir = tempDir();
    const slow = join(dir.path, "slow_boot");
    try {
      writeFileSync(slow, "5000");
      const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", SLOW_BOOT_APP], {
        env: { SLOW_BOOT_FILE: slow },
      });
      await killBooting(server, 3, new Set());
      const result = await server.exited;
      assert.equal(result.code, 3, result.stderr);
      assert.match(
        result.stderr,
        /\[ERROR\] Reason: Workers were killed before they booted, 3 in a row \(the last by SIGKILL: perhaps out of memory\)\.$/m,
      );
      assert.doesNotMatch(result.stderr, /failed to boot/);
    } finally {
      dir.remove();
    }
  },
);

// An error of the app's code outside any request ends the worker (gthread: the thread) as the
// runtime would, exit 1; the error log gets it from appserve's logger with the app's file and
// line, not the runtime's report, which --capture-output carried there (Deno's in colour).
for (const workerClass of [["-k", "async"], ["-k", "gthread", "--threads", "2"]]) {
  const threads = workerClass[1] === "gthread";
  const where = threads ? "gthread thread" : "worker process";
  e2e(
    `an error the app throws outside a request is logged with its stack (${workerClass[1]})`,
    async (target) => {
      const dir = tempDir();
      const file = join(dir.path, "error.log");
      try {
        const port = await freePort();
        const server = start(target, [
          ...["-w", "1", ...workerClass, "--capture-output", "--error-logfile", file],
          ...["-b", `127.0.0.1:${port}`, join(FIXTURES, "apps", "late_error_app.ts")],
        ]);
        const url = `http://127.0.0.1:${port}`;
        const read = () => existsSync(file) ? readFileSync(file, "utf8") : "";
        let pid = pidOf(await getWhenReady(url));
        const cases = [
          ["/reject", "Unhandled promise rejection", "rejected later on purpose", 7],
          ["/throw-later", "Uncaught exception", "thrown later on purpose", 16],
        ] as const;
        for (const [path, what, message, line] of cases) {
          assert.equal((await get(`${url}${path}`)).status, 200);
          const entry = new RegExp(
            `\\[${pid}\\] \\[ERROR\\] ${what} in ${where}\n` +
              `Error: ${message}\n {4}at .*/late_error_app\\.ts:${line}:\\d+\\)?\n`,
          );
          await eventually(() => entry.test(read()), `the ${what} with its stack`);
          if (threads) {
            const end = new RegExp(`\\[ERROR\\] Thread \\d+ crashed: Error: ${message}\n`);
            await eventually(() => end.test(read()), "the thread's end");
          } else {
            await eventually(
              () => read().includes(`[ERROR] Worker (pid:${pid}) exited with code 1.`),
              "the worker's exit",
            );
          }
          // Serves again: a fresh worker, or the same one with the thread replaced.
          await eventually(async () => {
            const answer = await get(url).catch(() => null);
            if (answer?.status !== 200) return false;
            if (threads) return pidOf(answer) === pid;
            const fresh = pidOf(answer) !== pid;
            if (fresh) pid = pidOf(answer);
            return fresh;
          }, "an answer after the error");
        }
        if (threads) {
          assert.equal(read().match(/\[INFO\] Replacing thread \d+/g)?.length, 2, read());
        }
        assert.ok(!read().includes("\x1b["), `no terminal colours in the log:\n${read()}`);
        const result = await server.stop();
        assert.equal(result.code, 0, result.stderr);
        assert.doesNotMatch(result.stderr, /later on purpose/);
      } finally {
        dir.remove();
      }
    },
  );
}

e2e("serves sockets passed by systemd (LISTEN_FDS) without any --bind", async (target) => {
  const port = await freePort();
  const activator = startSocketActivated(target, port, ["-w", "2", PID_APP]);
  try {
    const answer = await getWhenReady(`http://127.0.0.1:${port}/`);
    assert.match(answer.body, /^hello pid \d+/);
    await activator.waitFor(
      new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} \\(fd 3\\) \\(\\d+\\)`),
    );
  } finally {
    const result = await activator.stop();
    assert.match(result.stderr, /Shutting down: Master/);
    assert.doesNotMatch(result.stderr, /ignored/);
  }
});

e2e(
  "each socket systemd passes has its own Listening at line with its fd and LISTEN_FDNAMES name",
  async (target) => {
    const web = await freePort();
    const admin = await freePort();
    // Listed first, admin's socket is fd 3; the names follow the fds' order.
    const activator = startSocketActivated(target, web, ["-w", "1", PID_APP], [
      "-l",
      `127.0.0.1:${admin}`,
      "--fdname=admin:web",
    ]);
    try {
      await getWhenReady(`http://127.0.0.1:${admin}/`);
      await getWhenReady(`http://127.0.0.1:${web}/`);
      await activator.waitFor(/Listening at: .*\n.*Listening at: /);
      const lines = activator.stderr.split("\n").filter((l) => l.includes("Listening at: "));
      assert.deepEqual(
        lines.map((l) => l.replace(/^.*\[INFO\] /, "").replace(/\(\d+\)$/, "(PID)")),
        [
          `Listening at: http://127.0.0.1:${admin} (fd 3, name admin) (PID)`,
          `Listening at: http://127.0.0.1:${web} (fd 4, name web) (PID)`,
        ],
      );
    } finally {
      assert.equal((await activator.stop()).code, 0);
    }
  },
);

e2e(
  "under systemd socket activation the --bind addresses are ignored, with one WARNING",
  async (target) => {
    const port = await freePort();
    const other = await freePort();
    const dir = tempDir();
    const unix = join(dir.path, "app.sock");
    const activator = startSocketActivated(target, port, [
      "-w",
      "1",
      "-b",
      `127.0.0.1:${other}`,
      "-b",
      `unix:${unix}`,
      PID_APP,
    ]);
    try {
      await getWhenReady(`http://127.0.0.1:${port}/`);
      await activator.waitFor(
        new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} \\(fd 3\\) \\(\\d+\\)`),
      );
      assert.ok(!existsSync(unix), "the unix socket was bound");
    } finally {
      const result = await activator.stop();
      dir.remove();
      const lines = result.stderr.split("\n").filter((l) => l.includes("[WARNING]"));
      assert.deepEqual(
        lines.map((l) => l.replace(/^.*\[WARNING\] /, "")),
        [
          `--bind 127.0.0.1:${other}, unix:${unix} ignored: serving the sockets systemd passed ` +
          "(LISTEN_FDS) instead, as gunicorn does",
        ],
        result.stderr,
      );
    }
  },
);

e2e(
  "under systemd socket activation --reuse-port binds nothing either, said in the one WARNING",
  async (target) => {
    const port = await freePort();
    const other = await freePort();
    const activator = startSocketActivated(target, port, [
      "-w",
      "2",
      "--reuse-port",
      "-b",
      `127.0.0.1:${other}`,
      PID_APP,
    ]);
    try {
      await getWhenReady(`http://127.0.0.1:${port}/`);
      await activator.waitFor(/Booting worker[^]*Booting worker/);
      const lines = activator.stderr.split("\n").filter((l) => l.includes("Listening at: "));
      assert.deepEqual(
        lines.map((l) => l.replace(/^.*\[INFO\] /, "")),
        [`Listening at: http://127.0.0.1:${port} (fd 3) (${activator.pid})`],
      );
      // A worker that answers has bound all it would (before it serves): nothing at `other`.
      await get(`http://127.0.0.1:${port}/`);
      await assert.rejects(get(`http://127.0.0.1:${other}/`));
    } finally {
      const result = await activator.stop();
      const lines = result.stderr.split("\n").filter((l) => l.includes("[WARNING]"));
      assert.deepEqual(
        lines.map((l) => l.replace(/^.*\[WARNING\] /, "")),
        [
          `--bind 127.0.0.1:${other} ignored (--reuse-port too): serving the sockets systemd ` +
          "passed (LISTEN_FDS) instead, as gunicorn does",
        ],
        result.stderr,
      );
    }
  },
);

e2e(
  "under systemd socket activation a bind naming a passed socket (fd://3, its address) is no bind ignored",
  async (target) => {
    const port = await freePort();
    const other = await freePort();
    const cases: [string[], string[]][] = [
      [["-b", "fd://3", "-b", `127.0.0.1:${port}`], []],
      [["-b", "fd://3", "-b", "fd://4", "-b", `127.0.0.1:${other}`], [
        `--bind fd://4, 127.0.0.1:${other} ignored: serving the sockets systemd passed ` +
        "(LISTEN_FDS) instead, as gunicorn does",
      ]],
      [["--reuse-port", "-b", `127.0.0.1:${port}`], [
        "--reuse-port ignored: serving the sockets systemd passed (LISTEN_FDS) instead, as " +
        "gunicorn does",
      ]],
    ];
    for (const [binds, warnings] of cases) {
      const activator = startSocketActivated(target, port, ["-w", "1", ...binds, PID_APP]);
      try {
        await getWhenReady(`http://127.0.0.1:${port}/`);
      } finally {
        const result = await activator.stop();
        const lines = result.stderr.split("\n").filter((l) => l.includes("[WARNING]"));
        assert.deepEqual(
          lines.map((l) => l.replace(/^.*\[WARNING\] /, "")),
          warnings,
          result.stderr,
        );
      }
    }
  },
);

e2e(
  "under systemd socket activation a bind of a passed socket's address spelt another way (localhost, [0:0::1]) is no bind ignored",
  async (target) => {
    const port = await freePort();
    const v6 = await freePort();
    const other = await freePort();
    // fd 3 on [::1]:v6, fd 4 on 127.0.0.1:port.
    const activator = startSocketActivated(target, port, [
      "-w",
      "1",
      "-b",
      `localhost:${port}`,
      "-b",
      `[0:0:0:0:0:0:0:1]:${v6}`,
      "-b",
      `[::1]:${other}`,
      PID_APP,
    ], ["-l", `[::1]:${v6}`]);
    try {
      await getWhenReady(`http://127.0.0.1:${port}/`);
      assert.equal((await get(`http://[::1]:${v6}/`)).status, 200);
    } finally {
      const result = await activator.stop();
      const lines = result.stderr.split("\n").filter((l) => l.includes("[WARNING]"));
      // Only the address no passed socket has.
      assert.deepEqual(
        lines.map((l) => l.replace(/^.*\[WARNING\] /, "")),
        [
          `--bind [::1]:${other} ignored: serving the sockets systemd passed (LISTEN_FDS) ` +
          "instead, as gunicorn does",
        ],
        result.stderr,
      );
    }
  },
);

for (const signal of ["SIGINT", "SIGQUIT"] as const) {
  e2e(`${signal} stops master and workers quickly with exit 0`, async (target) => {
    const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP]);
    await server.ready(2);
    const workers = childPids(server.pid);
    server.signal(signal);
    const result = await server.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`\\[INFO\\] Handling signal: ${signal.slice(3).toLowerCase()}\\n`),
    );
    assert.match(result.stderr, /\[INFO\] Shutting down: Master/);
    for (const pid of workers) assert.ok(!alive(pid), `worker ${pid} survived`);
  });
}

/**
 * Starts one worker under --graceful-timeout 30 with a 15 s request in flight, sends TERM and,
 * a second later, `second`; returns the request's status ("cut" when it got no answer).
 */
async function secondSignalDuringStop(target: Target, second: NodeJS.Signals) {
  const server = start(target, [
    "-w",
    "1",
    "--graceful-timeout",
    "30",
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  const url = await server.ready(1);
  const [worker] = childPids(server.pid);
  const request = get(`${url}/slow?ms=15000&tell`).then((a) => a.status, () => "cut");
  await server.waitFor(/slow began/);
  server.signal("SIGTERM");
  await server.waitFor(/\[INFO\] Handling signal: term\n/);
  await sleep(1000);
  server.signal(second);
  const result = await server.exited;
  return { result, worker, status: await request };
}

for (const signal of ["SIGINT", "SIGQUIT"] as const) {
  const name = signal.slice(3).toLowerCase();
  e2e(
    `${signal} during a graceful TERM stop switches to the quick stop, as gunicorn 26: the 15 s request is cut`,
    async (target) => {
      const { result, worker, status } = await secondSignalDuringStop(target, signal);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `\\[INFO\\] Handling signal: term\n(.*\n)*.*\\[INFO\\] Handling signal: ${name}\n` +
            ".*\\[INFO\\] Quick shutdown requested\n",
        ),
      );
      assert.match(result.stderr, /\[INFO\] Shutting down: Master\n/);
      assert.equal(status, "cut", result.stderr);
      assert.ok(!alive(worker), `worker ${worker} survived`);
    },
  );
}

// docker stop SIGKILLs after 10 s, appserve's graceful stop waits 30 s: what was cut off then is
// at least named at the TERM, once for all the workers. gthread's threads keep their requests in
// regions of their worker's table, which the master counts as any worker's.
for (const klass of [["-w", "2"], ["-w", "1", "-k", "gthread", "--threads", "2"]]) {
  e2e(
    `a graceful stop (TERM) says once what it waits for and how long; an idle one says nothing (${
      klass.join(" ")
    })`,
    async (target) => {
      const workers = Number(klass[1]);
      const args = [...klass, "--graceful-timeout", "7", "-b", "127.0.0.1:0", PID_APP];
      const idle = start(target, ["--access-logfile", "-", ...args]);
      // Both booted and answering: no probe left waiting in a booting worker's queue.
      const idleUrl = await idle.allAnswering(workers);
      assert.equal((await get(`${idleUrl}/?idle=1`)).status, 200);
      // The client may have its answer before the exchange ends (a thread's event loop on a
      // loaded box): its access line is written just before its entry is freed.
      await eventually(
        () => /"GET \/\?idle=1 HTTP\/1\.1" 200/.test(idle.stdout),
        "the access line",
      );
      const idleStop = await idle.stop();
      assert.equal(idleStop.code, 0, idleStop.stderr);
      assert.doesNotMatch(idleStop.stderr, /Waiting up to/);

      const server = start(target, args);
      const url = await server.allAnswering(workers);
      // One after the other: two connections sent at once can both be accepted by one gthread
      // thread (seen on a loaded box), whose app takes them in turn: the second began only once
      // the first was done, and the TERM found one in flight. Sent once the first is with the
      // app (pending on its thread), the second is handed to the idle sibling if it lands there.
      // Long enough for both to be under way at the TERM on a slow box; within the 7 s.
      const slow = [get(`${url}/slow?ms=5000&tell=1`)];
      await server.waitFor(/slow began: \?ms=5000&tell=1/);
      slow.push(get(`${url}/slow?ms=5000&tell=2`));
      await eventually(() => server.all(/slow began/g).length === 2, "both requests with the app");
      server.signal("SIGTERM");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual((await Promise.all(slow)).map((r) => r.status), [200, 200]);
      const waits = result.stderr.match(/^.*Waiting up to.*$/gm) ?? [];
      assert.equal(waits.length, 1, result.stderr);
      assert.match(
        waits[0],
        /\[\d+\] \[INFO\] Waiting up to 7 s for 2 requests in flight \(graceful_timeout\)$/,
      );
    },
  );
}

for (const klass of [[], ["-k", "gthread", "--threads", "2"]]) {
  e2e(
    `HUP says what the old workers still have in flight and how long they get (${
      klass.join(" ") || "-k async"
    })`,
    async (t) => {
      const server = await startOneWorker(t, PID_APP, [...klass, "--graceful-timeout", "7"]);
      try {
        const { answer: slow } = await slowBegan(server);
        server.signal("SIGHUP");
        await server.waitFor(
          /\[INFO\] Waiting up to 7 s for 1 request in flight on the old workers \(graceful_timeout\)$/m,
        );
        assert.equal((await slow).status, 200);
      } finally {
        await server.stop();
      }
    },
  );
}

e2e(
  "a second TERM during a graceful stop changes nothing, as in gunicorn: said, the request finishes",
  async (target) => {
    const { result, status } = await secondSignalDuringStop(target, "SIGTERM");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(status, 200, result.stderr);
    assert.equal(
      result.stderr.match(
        /\[INFO\] Ignoring signal: term \(already stopping gracefully; INT or QUIT stops quickly\)\n/g,
      )?.length,
      1,
      result.stderr,
    );
    assert.equal(result.stderr.match(/Handling signal: term/g)?.length, 1, result.stderr);
    assert.doesNotMatch(result.stderr, /Quick shutdown requested/);
  },
);

for (const workerClass of ["sync", "gthread"]) {
  e2eUnderLoad(`-k ${workerClass}: HUP under load fails no request`, async (target, mode) => {
    const server = start(target, ["-w", "2", "-k", workerClass, "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(2);
    const before = childPids(server.pid);
    const running = load(url, 4, { mode });
    await sleep(1500);
    server.signal("SIGHUP");
    const result = await running.done;
    assert.ok(result.requests > 0, result.report);
    assert.equal(result.failed, 0, result.report);
    await eventually(
      () => childPids(server.pid).every((pid) => !before.includes(pid)),
      "fresh workers",
    );
    await server.stop();
  });
}

e2e(
  "a worker whose program is gone mid-deploy: one error line a try, the master serves on and starts it once the program is back (the binary's: at once)",
  async (t) => {
    // Workers of the binary with Deno workers are deno's: the program a deploy replaces here is not
    // what starts them.
    if (t.name === "binary-deno") return;
    const dir = tempDir();
    let master = 0;
    try {
      const program = fromCopy(t, dir.path);
      // Under Deno the master starts workers with a deno on PATH before its own: the copy.
      const env = t.name === "deno" ? { DENO: program.copy } : undefined;
      const server = start(program.target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP], { env });
      master = server.pid;
      const url = await server.ready(2);
      // Both booted, not just forked: a child counted between fork and exec would find the
      // program gone, and a worker that cannot start at start halts the master (as it should).
      await eventually(
        () => (server.stderr.match(/Booting worker with pid/g) ?? []).length === 2,
        "both workers booted",
      );
      program.remove();
      const [victim] = childPids(server.pid);
      process.kill(victim, "SIGKILL");
      if (t.name === "binary") {
        // The binary starts its workers from its own image (/proc/self/exe), which outlives the
        // file: the worker is replaced at once.
        await eventually(() => {
          const pids = childPids(server.pid);
          return pids.length === 2 && !pids.includes(victim);
        }, "the worker replaced");
        assert.doesNotMatch(server.stderr, /Cannot start a worker process/);
        assert.match((await get(url)).body, /^hello pid/);
        server.signal("SIGTERM");
        await eventually(() => !alive(server.pid), "the master stops");
        return;
      }
      await server.waitFor(/Cannot start a worker process/);
      // Anything that follows the line (a stack trace, the master's exit) has had time to come.
      await sleep(500);
      assert.ok(alive(server.pid), server.stderr);
      assert.ok(!hasStackTrace(server.stderr), server.stderr);
      assert.match((await get(url)).body, /^hello pid/);
      program.restore();
      await eventually(() => childPids(server.pid).length === 2, "the worker started again");
      const errors = server.stderr.split("\n").filter((line) =>
        line.includes("[ERROR]") && !line.includes("was sent SIGKILL")
      );
      assert.ok(errors.length > 0);
      for (const line of errors) {
        assert.equal(
          line.replace(/^.*\[ERROR\] /, ""),
          `Cannot start a worker process from ${program.copy}: No such file or directory; ` +
            "trying again",
        );
      }
      server.signal("SIGTERM");
      await eventually(() => !alive(server.pid), "the master stops");
    } finally {
      if (master) killTree(master);
      dir.remove();
    }
  },
);

// A response whose head said keep-alive before the stop began promised the client the
// connection (the sync class keeps no connection alive, as gunicorn's): the request it sends right after reading that response gets answered (with
// connection: close), not met by a close (nginx counts that as a 502 for a POST it will not
// retry).
for (
  const [signal, args] of [
    ["SIGTERM", []],
    ["SIGTERM", ["-k", "gthread", "--threads", "2"]],
    ["SIGHUP", []],
  ] as const
) {
  const how = [signal, ...args].join(" ");
  e2e(
    `${how}: a request sent after a response that began before the stop is answered`,
    async (target) => {
      const server = start(target, ["-w", "1", ...args, "-b", "127.0.0.1:0", PID_APP]);
      const url = new URL(await server.ready(1));
      const socket = await rawConnect(Number(url.port));
      let text = "";
      socket.on("data", (d: Buffer) => text += d.toString("latin1"));
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.on("error", () => {});
      socket.write("GET /drip?ms=2500 HTTP/1.1\r\nHost: x\r\n\r\n");
      await eventually(() => text.includes("first line"), "the response began");
      assert.doesNotMatch(text, /connection: close/i);
      server.signal(signal);
      await eventually(() => text.includes("\r\n0\r\n\r\n"), "the response ended");
      assert.match(text, /last line pid/);
      const first = text.length;
      socket.write("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
      await closed;
      const second = text.slice(first);
      assert.match(second, /^HTTP\/1\.1 200 /, `the second request got: ${JSON.stringify(second)}`);
      assert.match(second, /connection: close/i);
      assert.match(second, /hello pid/);
      if (signal === "SIGTERM") assert.equal((await server.stop()).code, 0);
      else await server.stop();
    },
  );
}

// The master closes its listeners before it signals the workers, and each worker lets go of its
// copies as it stops accepting: a connection made meanwhile is refused, not left in a backlog
// nobody accepts from until the graceful timeout (nginx then tries another upstream).
for (const args of [[], ["-k", "sync"], ["-k", "gthread", "--threads", "2"]]) {
  e2e(
    `${
      ["SIGTERM", ...args].join(" ")
    }: a new connection is refused while the worker finishes its request`,
    async (target) => {
      const server = start(target, [
        "-w",
        "1",
        ...args,
        "--graceful-timeout",
        "30",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = new URL(await server.ready(1));
      const port = Number(url.port);
      let answered = false;
      const slow = get(`${url.origin}/slow?ms=3000&tell`).then((r) => {
        answered = true;
        return r;
      });
      await server.waitFor(/slow began/);
      server.signal("SIGTERM");
      // Connections are made until one is refused, or the slow request is answered.
      let refused = false;
      while (!answered && !refused) {
        refused = await new Promise<boolean>((resolve) => {
          const socket = net.connect(port, "127.0.0.1");
          socket.once("connect", () => {
            socket.destroy();
            resolve(false);
          });
          socket.once("error", () => resolve(true));
        });
        if (!refused) await sleep(50);
      }
      assert.ok(refused, "a connection made after SIGTERM was accepted by the kernel");
      assert.ok(!answered, "refused only once the slow request was answered");
      const response = await slow;
      assert.equal(response.status, 200);
      assert.match(response.body, /slow done pid/);
      assert.equal((await server.stop()).code, 0);
    },
  );
}

// A reload that fails once part of the new generation serves keeps the old workers, and the new
// ones that serve finish what they took (gunicorn's HUP loses no request either way).
e2e(
  "a failed reload lets the new workers that already serve finish their requests",
  async (target) => {
    const dir = tempDir();
    try {
      const config = join(dir.path, "appserve.toml");
      const hooks = join(FIXTURES, "hooks", "reload_fails_late.ts");
      const toml = (workers: number) =>
        `workers = ${workers}\nworker_class = "sync"\nhooks = ${JSON.stringify(hooks)}\n`;
      writeFileSync(config, toml(1));
      const server = start(target, ["-c", config, "-b", "127.0.0.1:0", PID_APP], {
        env: { HOOK_DIR: dir.path },
      });
      const url = await server.ready(1);
      // The old sync worker is busy: it accepts nothing until this is answered.
      const old = get(`${url}/slow?ms=12000&n=old&tell`).catch((e: Error) => e);
      await server.waitFor(/slow began: \?ms=12000&n=old/);
      writeFileSync(join(dir.path, "reload"), "");
      writeFileSync(config, toml(2));
      server.signal("SIGHUP");
      // Only the first new worker accepts: this request is its.
      const taken = get(`${url}/slow?ms=3000&n=new&tell`).catch((e: Error) => e);
      await server.waitFor(/slow began: \?ms=3000&n=new/);
      writeFileSync(join(dir.path, "go"), "");
      await server.waitFor(/Reload failed, keeping the running workers/);
      for (const [which, answer] of [["new", await taken], ["old", await old]] as const) {
        assert.ok(!(answer instanceof Error), `the ${which} worker's request: ${answer}`);
        assert.equal(answer.status, 200);
        assert.match(answer.body, /slow done pid/);
      }
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);
