// TTOU (and `appserve ctl remove`) take one worker away, never going below one, as gunicorn's
// handle_ttou: at one it keeps one, and after a daemon's WINCH (none) it keeps none.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  run,
  slowBegan,
  startOneWorker,
  type Target,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** The same program run as `appserve ctl ...`: without the server options the targets add. */
function client(target: Target): Target {
  return target.name === "deno" ? target : { ...target, prefix: [] };
}

e2e("TTOU and ctl remove after WINCH keep no workers; at one they keep one", async (target) => {
  const dir = tempDir();
  const pidfile = join(dir.path, "app.pid");
  const logfile = join(dir.path, "error.log");
  let pid = 0;
  const logged = (pattern: RegExp) => readFileSync(logfile, "utf8").match(pattern)?.length ?? 0;
  const ctl = async (...args: string[]) => {
    const result = await run(client(target), ["ctl", "-p", pidfile, ...args]);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const ttou = async () => {
    const before = logged(/Handling signal: ttou/g);
    process.kill(pid, "SIGTTOU");
    await eventually(() => logged(/Handling signal: ttou/g) > before, "TTOU handled");
  };
  try {
    const daemon = ["-D", "-w", "3", "-p", pidfile, "--error-logfile", logfile];
    const started = await run(target, [...daemon, "-b", "127.0.0.1:0", PID_APP]);
    assert.equal(started.code, 0, started.stderr);
    pid = Number(readFileSync(pidfile, "utf8"));
    await eventually(() => childPids(pid).length === 3, "three workers");
    process.kill(pid, "SIGWINCH");
    await eventually(() => childPids(pid).length === 0, "no workers after WINCH");
    await ttou();
    // The configured count, as the loop has it after the TTOU: none, and none less is none.
    assert.match(await ctl("remove"), /Workers: 0 -> 0/);
    assert.match(await ctl("add"), /Workers: 0 -> 1/);
    await eventually(() => childPids(pid).length === 1, "one worker");
    await ttou();
    assert.match(await ctl("remove"), /Workers: 1 -> 1/);
    assert.match(await ctl("add"), /Workers: 1 -> 2/);
    await ttou();
    assert.match(await ctl("add"), /Workers: 1 -> 2/);
    process.kill(pid, "SIGTERM");
    await eventually(() => !alive(pid), "the daemon stops");
    assert.ok(!existsSync(pidfile));
  } finally {
    if (pid && alive(pid)) {
      for (const each of [pid, ...childPids(pid)]) process.kill(each, "SIGKILL");
    }
    dir.remove();
  }
});

for (const klass of [[], ["-k", "gthread", "--threads", "2"]]) {
  e2e(
    `TTOU says what the worker it retires still has in flight and how long it gets (${
      klass.join(" ") || "-k async"
    })`,
    async (t) => {
      const server = await startOneWorker(t, PID_APP, [...klass, "--graceful-timeout", "7"]);
      try {
        // On the only worker, the oldest once a second one serves: the one TTOU retires.
        const { answer: slow } = await slowBegan(server);
        server.signal("SIGTTIN");
        await eventually(
          () => server.all(/Booting worker with pid/g).length === 2,
          "a second worker",
        );
        server.signal("SIGTTOU");
        await server.waitFor(
          /\[INFO\] Waiting up to 7 s for 1 request in flight on the worker retired \(graceful_timeout\)$/m,
        );
        assert.equal((await slow).status, 200);
      } finally {
        await server.stop();
      }
    },
  );
}
