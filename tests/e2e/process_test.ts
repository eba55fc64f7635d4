// Process management: names in ps, daemon mode, chdir, worker tmp dir, log
// reopening on USR1 and development reload.

import assert from "node:assert/strict";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  getWhenReady,
  ROOT,
  run,
  start,
  TARGETS,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const ENV_APP = join(FIXTURES, "apps", "env_app.ts");
const cmdline = (pid: number) =>
  readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ").trim();

e2e("-n names the master and the workers in ps", async (target) => {
  const server = start(target, ["-w", "2", "-n", "shop", "-b", "127.0.0.1:0", PID_APP]);
  await getWhenReady(await server.url());
  await eventually(() => childPids(server.pid).length === 2, "2 workers");
  await eventually(() => cmdline(server.pid) === "appserve: master [shop]", "the master's title");
  for (const pid of childPids(server.pid)) {
    await eventually(
      () => cmdline(pid) === "appserve: worker [shop]",
      `worker ${pid}'s title`,
    );
  }
  await server.stop();
});

e2e(
  "HUP with a changed proc_name renames the master and its new workers, as gunicorn's reload()",
  async (target) => {
    const dir = tempDir();
    try {
      const app = join(dir.path, "app.ts");
      copyFileSync(PID_APP, app);
      const config = join(dir.path, "appserve.toml");
      writeFileSync(config, 'proc_name = "shop"\n');
      const server = start(target, ["-c", config, "-w", "2", "-b", "127.0.0.1:0", app]);
      await server.allAnswering(2);
      await eventually(() => cmdline(server.pid) === "appserve: master [shop]", "the first title");
      const first = childPids(server.pid);
      writeFileSync(config, 'proc_name = "store"\n');
      server.signal("SIGHUP");
      await eventually(() => {
        const now = childPids(server.pid);
        return now.length === 2 && now.every((pid) => !first.includes(pid));
      }, "a new generation of 2 workers");
      // Renamed before the new generation was spawned.
      assert.equal(cmdline(server.pid), "appserve: master [store]");
      const second = childPids(server.pid);
      for (const pid of second) {
        await eventually(
          () => cmdline(pid) === "appserve: worker [store]",
          `worker ${pid}'s title`,
        );
      }
      // A generation that cannot boot is rolled back, and the master's name with it.
      writeFileSync(config, 'proc_name = "market"\n');
      writeFileSync(app, 'throw new Error("broken on purpose");\n');
      server.signal("SIGHUP");
      await server.waitFor(
        /\[ERROR\] Reload failed, keeping the running workers: App failed to load: /,
      );
      await eventually(() => cmdline(server.pid) === "appserve: master [store]", "the old title");
      await eventually(() => childPids(server.pid).length === 2, "back to the old workers");
      assert.deepEqual(childPids(server.pid).sort(), second.sort());
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

const PRIVATE = ["APPSERVE_ROLE", "APPSERVE_WORKER_BOOT"];
const NON_ASCII = "café ☕ naïve";

/** Each name's value as the app sees it and as a child process of the app does. */
async function envSeen(url: string, names: string[]) {
  const query = names.map((name) => `name=${name}`).join("&");
  return JSON.parse((await get(`${url}/env?${query}`)).body);
}

e2e(
  "a title longer than the argv area: ps shows it whole, the environment stays as the process left it",
  async (t) => {
    // The name comes through the environment, so the title is far longer than the argv area.
    const name = `a-name-longer-than-this-command-line-${"x".repeat(200)}`;
    const server = start(t, ["-w", "2", "-b", "127.0.0.1:0", ENV_APP], {
      env: { APPSERVE_CMD_ARGS: `-n ${name}`, APPSERVE_FIXTURE_ENV: NON_ASCII },
    });
    const url = await server.url();
    await getWhenReady(url);
    const titled = async (workers: number[]) => {
      await eventually(
        () => cmdline(server.pid) === `appserve: master [${name}]`,
        "the master's title",
      );
      for (const pid of workers) {
        await eventually(
          () => cmdline(pid) === `appserve: worker [${name}]`,
          `worker ${pid}'s title`,
        );
      }
    };
    // Written over the environment area: what the worker deleted stays deleted (the app must
    // not see appserve's private variables), and a UTF-8 value keeps its bytes, for the app and
    // for whatever the app starts.
    const envIntact = async () => {
      const seen = await envSeen(url, [...PRIVATE, "APPSERVE_FIXTURE_ENV"]);
      const expected = { APPSERVE_ROLE: null, APPSERVE_WORKER_BOOT: null };
      assert.deepEqual(seen.app, { ...expected, APPSERVE_FIXTURE_ENV: NON_ASCII });
      assert.deepEqual(seen.child, { ...expected, APPSERVE_FIXTURE_ENV: NON_ASCII });
    };
    await eventually(() => childPids(server.pid).length === 2, "2 workers");
    const first = childPids(server.pid);
    await titled(first);
    // The kernel's own name (ps -o comm) holds 15 bytes, as for gunicorn's setproctitle.
    assert.equal(readFileSync(`/proc/${server.pid}/comm`, "utf8"), "appserve: maste\n");
    await envIntact();
    // HUP: a new generation from the master's (moved) environment, under the same name.
    server.signal("SIGHUP");
    await eventually(() => {
      const now = childPids(server.pid);
      return now.length === 2 && now.every((pid) => !first.includes(pid));
    }, "a new generation of 2 workers");
    await titled(childPids(server.pid));
    await server.allAnswering(2);
    await envIntact();
    await server.stop();
  },
);

// The case, binary only: `deno run` always has a long command line.
Deno.test({
  name: "[binary] ps shows the whole title of the binary started as `./appserve app`",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const t = TARGETS.find((target) => target.name === "binary")!;
    const dir = tempDir();
    try {
      copyFileSync(t.command, join(dir.path, "appserve"));
      chmodSync(join(dir.path, "appserve"), 0o755);
      copyFileSync(PID_APP, join(dir.path, "app.ts"));
      // 15 bytes of command line for a 22-byte title (sh keeps argv[0] as typed; spawn does not).
      const server = start({ ...t, command: "sh", prefix: ["-c", "exec ./appserve app"] }, [], {
        cwd: dir.path,
        env: { APPSERVE_CMD_ARGS: "-b 127.0.0.1:0" },
      });
      await getWhenReady(await server.url());
      await eventually(
        () => cmdline(server.pid) === "appserve: master [app]",
        "the master's title",
      );
      await server.stop();
    } finally {
      dir.remove();
    }
  },
});

e2e("-D detaches: the command returns, the daemon serves and logs to its file", async (target) => {
  const dir = tempDir();
  const pidfile = join(dir.path, "app.pid");
  const logfile = join(dir.path, "error.log");
  try {
    const result = await run(target, [
      "-D",
      "-p",
      pidfile,
      "--error-logfile",
      logfile,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout + result.stderr, "");
    await eventually(() => existsSync(pidfile), "the daemon's pidfile");
    const pid = Number(readFileSync(pidfile, "utf8"));
    assert.ok(alive(pid));
    await eventually(
      () => /Listening at: (http:\S+)/.test(readFileSync(logfile, "utf8")),
      "the daemon listens",
    );
    const url = /Listening at: (http:\S+)/.exec(readFileSync(logfile, "utf8"))![1];
    assert.match((await getWhenReady(url)).body, /^hello pid/);
    // WINCH, daemonized: the workers stop gracefully and the master stays.
    await eventually(() => childPids(pid).length === 1, "the daemon's worker");
    process.kill(pid, "SIGWINCH");
    await eventually(() => childPids(pid).length === 0, "no workers after WINCH");
    assert.ok(alive(pid));
    assert.match(readFileSync(logfile, "utf8"), /\[INFO\] graceful stop of workers/);
    process.kill(pid, "SIGTERM");
    await eventually(() => !alive(pid), "the daemon stops");
    assert.ok(!existsSync(pidfile));
    assert.match(readFileSync(logfile, "utf8"), /\[INFO\] Shutting down: Master/);
  } finally {
    dir.remove();
  }
});

// gunicorn's upgrade (USR2, WINCH the old master, QUIT it) does not carry over to a master in the
// foreground: WINCH does nothing there, so QUIT would cut the connections its workers still keep.
// The line says so at the default log level (it was DEBUG), and what to do instead.
e2e(
  "WINCH in the foreground: the workers serve on, and an INFO line says to TERM instead",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(1);
    const workers = childPids(server.pid);
    server.signal("SIGWINCH");
    await server.waitFor(
      /\[INFO\] SIGWINCH ignored: not daemonized; after USR2, stop the old master with TERM for a graceful hand-over/,
    );
    assert.match((await get(url)).body, /^hello pid/);
    assert.deepEqual(childPids(server.pid), workers, "the same worker serves on");
    assert.equal((await server.stop()).code, 0);
  },
);

e2e("-D -R: the daemon keeps the stdio it was started with", async (target) => {
  const dir = tempDir();
  const pidfile = join(dir.path, "app.pid");
  try {
    const started = start(target, ["-D", "-R", "-p", pidfile, "-b", "127.0.0.1:0", PID_APP]);
    await eventually(() => existsSync(pidfile), "the daemon's pidfile");
    const pid = Number(readFileSync(pidfile, "utf8"));
    // The error log (stderr by default) still reaches the pipe the command was given.
    // (The command itself has exited already, so no waitFor.)
    const listening = /Listening at: (http:\S+)/;
    await eventually(() => listening.test(started.stderr), "the daemon's log on stderr");
    const url = listening.exec(started.stderr)![1];
    assert.match((await getWhenReady(url)).body, /^hello pid/);
    process.kill(pid, "SIGTERM");
    await eventually(() => !alive(pid), "the daemon stops");
    const result = await started.exited;
    assert.equal(result.code, 0);
    assert.match(result.stderr, /\[INFO\] Shutting down: Master/);
  } finally {
    dir.remove();
  }
});

e2e("--chdir loads the app relative to the new folder", async (target) => {
  const server = start(
    target,
    ["--chdir", join(FIXTURES, "apps"), "-b", "127.0.0.1:0", "pid_app"],
    { cwd: ROOT },
  );
  assert.match((await getWhenReady(await server.url())).body, /^hello pid/);
  await server.stop();
});

// A Deno master starts itself again at start (SIGUSR1 blocked): a relative folder applies once.
e2e("a relative --chdir is taken from where appserve was started, once", async (target) => {
  const server = start(target, ["--chdir", "apps", "-b", "127.0.0.1:0", "pid_app"], {
    cwd: FIXTURES,
  });
  assert.match((await getWhenReady(await server.url())).body, /^hello pid/);
  await server.stop();
});

e2e(
  "--worker-tmp-dir becomes the workers' TMPDIR; a missing folder is an error",
  async (target) => {
    const dir = tempDir();
    try {
      const server = start(target, ["--worker-tmp-dir", dir.path, "-b", "127.0.0.1:0", PID_APP]);
      assert.equal((await getWhenReady(`${await server.url()}/tmpdir`)).body, `${dir.path}\n`);
      await server.stop();
      const bad = await run(target, [
        "--worker-tmp-dir",
        join(dir.path, "nope"),
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^Error: --worker-tmp-dir: ".*nope" is not a writable directory\n$/);
    } finally {
      dir.remove();
    }
  },
);

e2e("USR1 reopens the error log in master and workers (logrotate)", async (target) => {
  const dir = tempDir();
  const logfile = join(dir.path, "error.log");
  try {
    const server = start(target, [
      "-w",
      "1",
      "--error-logfile",
      logfile,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    await eventually(
      () => existsSync(logfile) && /Listening at: http/.test(readFileSync(logfile, "utf8")),
      "log lines",
    );
    const url = /Listening at: (http:\S+)/.exec(readFileSync(logfile, "utf8"))![1];
    await getWhenReady(url);
    renameSync(logfile, `${logfile}.1`);
    server.signal("SIGUSR1");
    await eventually(() => existsSync(logfile), "a new log file");
    // The master made the new file; the worker reopens on its own signal, a moment later
    // on a busy machine: ask until a line lands in the new file.
    await eventually(async () => {
      assert.equal((await get(`${url}/boom`)).status, 500);
      return /Error handling request GET \/boom/.test(readFileSync(logfile, "utf8"));
    }, "the worker writes to the new file");
    assert.match(
      readFileSync(`${logfile}.1`, "utf8"),
      /Booting worker[\s\S]*\[INFO\] Handling signal: usr1/,
    );
    await server.stop();
    assert.match(readFileSync(logfile, "utf8"), /\[INFO\] Shutting down: Master/);
  } finally {
    dir.remove();
  }
});

e2e("--reload watches the app's project, not only the module's folder", async (target) => {
  const dir = tempDir();
  try {
    // A package.json project: the module in src/, what it imports in lib/.
    mkdirSync(join(dir.path, "src"));
    mkdirSync(join(dir.path, "lib"));
    writeFileSync(
      join(dir.path, "package.json"),
      '{ "name": "reload-project", "type": "module" }\n',
    );
    const message = join(dir.path, "lib", "message.ts");
    writeFileSync(message, 'export const message = "v1";\n');
    const app = join(dir.path, "src", "app.ts");
    writeFileSync(
      app,
      'import { message } from "../lib/message.ts";\n' +
        "export default { fetch: () => new Response(message) };\n",
    );
    const server = start(target, ["--reload", "-b", "127.0.0.1:0", app]);
    const url = await server.url();
    assert.equal((await getWhenReady(url)).body, "v1");
    writeFileSync(message, 'export const message = "v2";\n');
    await eventually(async () => (await get(url)).body === "v2", "v2 served");
    await server.waitFor(/Worker reloading: .*lib\/message\.ts modified/);
    await server.stop();
  } finally {
    dir.remove();
  }
});

e2e(
  "--reload: an edit of the workers' .env, or a .env.local made, reloads them with its values",
  async (target) => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.path, "app.ts"),
        'export default { fetch: () => new Response(process.env.GREETING ?? "none") };\n',
      );
      writeFileSync(join(dir.path, ".env"), "GREETING=one\n");
      // Deno workers read a .env only when asked, as `deno serve`; Bun workers as `bun run`.
      const flags = target.workers === "deno" ? ["--deno-flags=-A --env-file"] : [];
      const server = start(target, ["--reload", ...flags, "-b", "127.0.0.1:0", "app.ts"], {
        cwd: dir.path,
      });
      const url = await server.url();
      assert.equal((await getWhenReady(url)).body, "one");
      writeFileSync(join(dir.path, ".env"), "GREETING=two\n");
      await eventually(async () => (await get(url)).body === "two", "two served");
      await server.waitFor(/Worker reloading: .*\/\.env modified/);
      if (target.workers === "bun") {
        writeFileSync(join(dir.path, ".env.local"), "GREETING=local\n");
        await eventually(async () => (await get(url)).body === "local", "local served");
      }
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "--reload restarts workers on a good edit, keeps them on a broken one, recovers after",
  async (target) => {
    const dir = tempDir();
    try {
      const app = join(dir.path, "app.ts");
      const version = (v: string) =>
        `export default { fetch: () => new Response("${v} pid " + process.pid) };\n`;
      writeFileSync(app, version("v1"));
      const server = start(target, ["--reload", "-b", "127.0.0.1:0", app]);
      const url = await server.url();
      assert.match((await getWhenReady(url)).body, /^v1 /);
      await server.waitFor(/\[WARNING\] Reloader is on\. Use in development only!/);
      writeFileSync(app, version("v2"));
      await eventually(async () => (await get(url)).body.startsWith("v2 "), "v2 served");
      await server.waitFor(/Worker reloading: .*app\.ts modified/);
      writeFileSync(app, "export default { fetch: ( => }\n");
      await server.waitFor(
        /\[ERROR\] Reload failed, keeping the running workers: App failed to load: /,
      );
      assert.match((await get(url)).body, /^v2 /);
      writeFileSync(app, version("v3"));
      await eventually(
        async () => (await get(url)).body.startsWith("v3 "),
        "v3 served after the fix",
      );
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);
