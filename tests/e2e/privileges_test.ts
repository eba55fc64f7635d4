// Privilege drop as root: a throwaway user (useradd/userdel), a port below 1024 and a unix
// socket in a root-owned folder. The master binds as root, hands the socket and log files over,
// then it and every worker run with the user's real, effective and saved ids (read from /proc).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import {
  asNobody,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  getWhenReady,
  hasStackTrace,
  run,
  type Server,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { makePki } from "../_tls.ts";
import { createUser, procIds, type TestUser } from "../_users.ts";

const APP = join(FIXTURES, "apps", "pid_app.ts");

/**
 * Stops the server and checks that it exited 0 (`why` says what to show if not) and whatever else
 * `then` checks; the throwaway user and folder are removed whatever happened.
 */
async function stopAndRemove(
  server: Server,
  user: TestUser,
  dir: { remove: () => void },
  why: (stderr: string) => string,
  then: () => void = () => {},
): Promise<void> {
  const result = await server.stop();
  try {
    assert.equal(result.code, 0, why(result.stderr));
    then();
  } finally {
    user.remove();
    dir.remove();
  }
}

/** The error log once it says a worker booted (the master's start-up lines are in it by then). */
async function bootedLog(errorLog: string): Promise<string> {
  await eventually(
    () => existsSync(errorLog) && /Booting worker/.test(readFileSync(errorLog, "utf8")),
    "a worker",
  );
  return readFileSync(errorLog, "utf8");
}

/** A folder `name` under `dir`, mode 0755, owned by `user`. */
function userFolder(dir: string, user: TestUser, name = "own"): string {
  const path = join(dir, name);
  mkdirSync(path, { mode: 0o755 });
  chownSync(path, user.uid, user.gid);
  return path;
}

/** A free TCP port below 1024 on 127.0.0.1. */
async function privilegedPort(): Promise<number> {
  for (let port = 600 + Math.floor(Math.random() * 300); port < 1024; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port below 1024");
}

// Under `deno run`, the processes that run as the user need a module cache they may write.
function withCache(target: Target, dir: string): Target {
  if (target.workers !== "deno") return target;
  const cache = join(dir, "deno-cache");
  mkdirSync(cache, { recursive: true });
  chmodSync(cache, 0o777);
  return {
    ...target,
    command: "env",
    prefix: [`DENO_DIR=${cache}`, target.command, ...target.prefix],
  };
}

e2e(
  "as root: binds a port < 1024 and a root-owned socket folder, then runs as the user",
  async (t) => {
    const user = createUser();
    const dir = tempDir();
    chmodSync(dir.path, 0o755);
    const sockets = join(dir.path, "run");
    mkdirSync(sockets, { mode: 0o755 }); // root's: the user may not create files in it
    const socket = join(sockets, "app.sock");
    const errorLog = join(sockets, "error.log");
    const accessLog = join(sockets, "access.log");
    const port = await privilegedPort();
    const server = start(withCache(t, dir.path), [
      "-w",
      "2",
      "-u",
      user.name,
      "-g",
      String(user.gid),
      "--umask",
      "0o007",
      "-b",
      `127.0.0.1:${port}`,
      "-b",
      `unix:${socket}`,
      "--error-logfile",
      errorLog,
      "--access-logfile",
      accessLog,
      APP,
    ]);
    try {
      const url = `http://127.0.0.1:${port}`;
      const first = await getWhenReady(url, {}, 30_000);
      assert.equal(first.status, 200, first.body);
      await eventually(() => childPids(server.pid).length === 2, "2 workers");
      const viaSocket = await getWhenReady("http://x/", { socketPath: socket });
      assert.equal(viaSocket.status, 200);

      const ids = {
        uids: [user.uid, user.uid, user.uid, user.uid],
        gids: [user.gid, user.gid, user.gid, user.gid],
        groups: [user.gid],
      };
      assert.deepEqual(procIds(server.pid), ids, "master");
      for (const pid of childPids(server.pid)) assert.deepEqual(procIds(pid), ids, `worker ${pid}`);

      // The socket file: the user's, mode 0777 & ~0o007.
      const st = statSync(socket);
      assert.equal(st.uid, user.uid);
      assert.equal(st.gid, user.gid);
      assert.equal(st.mode & 0o777, 0o770);
      // The log files the master opened as root are the user's too, so workers write them.
      assert.equal(statSync(errorLog).uid, user.uid);
      await eventually(
        () => /Booting worker with pid/.test(readFileSync(errorLog, "utf8")),
        "worker log",
      );
      assert.match(
        readFileSync(errorLog, "utf8"),
        /Dropped privileges to user apsv\d+ \(uid \d+\), group apsv\d+ \(gid \d+\)/,
      );
      await eventually(
        () => readFileSync(accessLog, "utf8").includes('"GET / HTTP/1.1" 200'),
        "access log",
      );

      // A worker replaced after a crash is the user's as well.
      const [victim] = childPids(server.pid);
      process.kill(victim, "SIGKILL");
      await eventually(
        () => childPids(server.pid).length === 2 && !childPids(server.pid).includes(victim),
        "a replacement worker",
      );
      for (const pid of childPids(server.pid)) assert.equal(procIds(pid).uids[0], user.uid);
      assert.equal((await get(url)).status, 200);
    } finally {
      await stopAndRemove(server, user, dir, () => readFileSync(errorLog, "utf8"), () => {
        // The socket folder is root's: the unprivileged master could not remove the file.
        assert.ok(existsSync(socket));
      });
    }
  },
);

e2e(
  "the [logging] files and the pidfile go to the user too; the pidfile is removed at exit",
  async (t) => {
    const user = createUser();
    const dir = tempDir();
    chmodSync(dir.path, 0o1777); // like /tmp: anyone creates, only the owner removes
    const workerLog = join(dir.path, "worker.log");
    const accessLog = join(dir.path, "access.log");
    const pidfile = join(dir.path, "app.pid");
    writeFileSync(
      join(dir.path, "appserve.toml"),
      `[logging]\nworker = { file = "worker.log" }\naccess = { file = "access.log" }\n`,
    );
    const server = start(withCache(t, dir.path), [
      "-c",
      join(dir.path, "appserve.toml"),
      "-u",
      user.name,
      "-p",
      pidfile,
      "-b",
      "127.0.0.1:0",
      APP,
    ]);
    try {
      const url = await server.ready(1);
      assert.equal((await get(url)).status, 200);
      for (const file of [workerLog, accessLog, pidfile]) {
        assert.equal(statSync(file).uid, user.uid, file);
      }
      await eventually(() => /Booting worker/.test(readFileSync(workerLog, "utf8")), "worker log");
      await eventually(
        () => readFileSync(accessLog, "utf8").includes('"GET / HTTP/1.1" 200'),
        "access",
      );
    } finally {
      await stopAndRemove(server, user, dir, (stderr) => stderr, () => {
        assert.ok(!existsSync(pidfile), "pidfile left behind");
      });
    }
  },
);

e2e(
  "a log file that is a symlink: the link goes to the user, never what it points to",
  async (t) => {
    const user = createUser();
    const dir = tempDir();
    chmodSync(dir.path, 0o755);
    // root's file, writable by anyone so that the workers can log through the link.
    const target = join(dir.path, "root-owned");
    writeFileSync(target, "");
    chmodSync(target, 0o666);
    const errorLog = join(dir.path, "error.log");
    symlinkSync(target, errorLog);
    const server = start(withCache(t, dir.path), [
      "-u",
      user.name,
      "--error-logfile",
      errorLog,
      "-b",
      "127.0.0.1:0",
      APP,
    ]);
    try {
      await eventually(() => /Listening at: http/.test(readFileSync(target, "utf8")), "the log");
      assert.equal(statSync(target).uid, 0, "the symlink's target was handed to the user");
      assert.equal(lstatSync(errorLog).uid, user.uid);
    } finally {
      await stopAndRemove(server, user, dir, () => readFileSync(target, "utf8"));
    }
  },
);

e2e("--initgroups: the processes also hold the user's other groups", async (t) => {
  const user = createUser();
  const extra = `${user.name}x`;
  execFileSync("groupadd", ["--system", extra]);
  execFileSync("usermod", ["-aG", extra, user.name]);
  const extraGid = Number(
    execFileSync("getent", ["group", extra], { encoding: "utf8" }).split(":")[2],
  );
  const dir = tempDir();
  chmodSync(dir.path, 0o755);
  const server = start(withCache(t, dir.path), [
    "-u",
    user.name,
    "--initgroups",
    "-b",
    "127.0.0.1:0",
    APP,
  ]);
  try {
    await server.ready(1);
    const groups = [user.gid, extraGid].sort((a, b) => a - b);
    assert.deepEqual(procIds(server.pid).groups.sort((a, b) => a - b), groups, "master");
    const [worker] = childPids(server.pid);
    assert.deepEqual(procIds(worker).groups.sort((a, b) => a - b), groups, "worker");
    assert.match(
      server.stderr,
      new RegExp(`Dropped privileges to user ${user.name} .*, groups ${extraGid}`),
    );
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
  } finally {
    await server.stop();
    user.remove();
    execFileSync("groupdel", [extra]);
    dir.remove();
  }
});

e2e("unknown user or group, and -u without root, are one-line errors (exit 1)", async (t) => {
  const dir = tempDir();
  try {
    for (
      const [target, args, pattern] of [
        [t, ["-u", "no-such-user-here"], /^Error: No such user: "no-such-user-here"$/],
        [t, ["-g", "no-such-group-here"], /^Error: No such group: "no-such-group-here"$/],
        [
          t,
          ["-u", "61239"],
          /^Error: User 61239 has no \/etc\/passwd entry, so no primary group: name one with --group \(the workers would otherwise keep group root\)$/,
        ],
        [
          asNobody(t, dir.path),
          ["-u", "root"],
          /^Error: Cannot switch to user root \(uid 0\), group root \(gid 0\): appserve is not running as root$/,
        ],
      ] as [Target, string[], RegExp][]
    ) {
      const result = await run(target, ["-b", "127.0.0.1:0", ...args, APP]);
      assert.equal(result.code, 1, result.stderr);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.match(result.stderr.trim(), pattern);
    }
  } finally {
    dir.remove();
  }
});

e2e("a TLS key the user cannot read is a one-line error before any worker starts", async (t) => {
  const user = createUser();
  const dir = tempDir();
  try {
    chmodSync(dir.path, 0o755);
    const pki = makePki(dir.path);
    chmodSync(pki.cert, 0o644);
    chmodSync(pki.key, 0o600); // root's alone
    const result = await run(withCache(t, dir.path), [
      "-u",
      user.name,
      "-b",
      "127.0.0.1:0",
      "--certfile",
      pki.cert,
      "--keyfile",
      pki.key,
      APP,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    assert.doesNotMatch(result.stderr, /Booting worker/);
    assert.match(
      result.stderr.trim(),
      /^Error: Cannot read keyfile ".*server\.key": permission denied$/,
    );
  } finally {
    dir.remove();
    user.remove();
  }
});

e2e("an app module the user cannot read: the worker says so in one line, exit 4", async (t) => {
  const user = createUser();
  const dir = tempDir();
  try {
    chmodSync(dir.path, 0o755);
    const app = join(dir.path, "app.ts");
    writeFileSync(app, "export default { fetch: () => new Response('x') };\n", { mode: 0o600 });
    const result = await run(withCache(t, dir.path), ["-u", user.name, "-b", "127.0.0.1:0", app]);
    assert.equal(result.code, 4, result.stderr);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    // Not Bun's "SyntaxError: EACCES reading" nor Deno's two lines of its core.
    assert.match(
      result.stderr,
      new RegExp(
        `\\[ERROR\\] Cannot read ${app}: permission denied \\(uid ${user.uid}\\)\n`,
      ),
    );
  } finally {
    dir.remove();
    user.remove();
  }
});

/** A root-owned 0755 folder for the logs and one for the pidfile and a unix socket. */
function rootFolders(dir: string) {
  chmodSync(dir, 0o755);
  const logs = join(dir, "logs");
  const runDir = join(dir, "run");
  mkdirSync(logs, { mode: 0o755 });
  mkdirSync(runDir, { mode: 0o755 });
  return {
    logs,
    runDir,
    args: [
      "--error-logfile",
      join(logs, "error.log"),
      "--access-logfile",
      join(logs, "access.log"),
      "-p",
      join(runDir, "app.pid"),
      "-b",
      `unix:${join(runDir, "app.sock")}`,
    ],
  };
}

/** The lines about folders the user cannot write in a master's log, by level. */
function folderLines(log: string, level: "WARNING" | "INFO"): string[] {
  return log.split("\n").filter((l) => l.includes(`[${level}]`) && l.includes(" cannot write to "));
}

e2e("folders the user cannot write: one line per folder, saying what fails", async (t) => {
  const user = createUser();
  const dir = tempDir();
  const { logs, runDir, args } = rootFolders(dir.path);
  const errorLog = join(logs, "error.log");
  const server = start(withCache(t, dir.path), [
    "-u",
    user.name,
    ...args,
    "-b",
    "127.0.0.1:0",
    APP,
  ]);
  try {
    // The master's lines go to the log file, not to stderr.
    const log = await bootedLog(errorLog);
    // Logs alone: logrotate's "create" makes the new file, so it is a condition, not a warning.
    const infos = folderLines(log, "INFO");
    assert.equal(infos.length, 1, log);
    assert.match(
      infos[0],
      new RegExp(
        `\\] User ${user.name} cannot write to ${logs}: if logrotate moves error\\.log and ` +
          `access\\.log away without "create", USR1 cannot create them again; rotate with ` +
          `"create" or "copytruncate", or chown the folder to ${user.name}$`,
      ),
    );
    const warnings = folderLines(log, "WARNING");
    assert.equal(warnings.length, 1, log);
    assert.match(
      warnings[0],
      new RegExp(
        `\\] User ${user.name} cannot write to ${runDir}: USR2 cannot start a new master ` +
          `\\(it must create app\\.pid\\.2 and app\\.pid\\.ctl\\.2\\), and app\\.pid, ` +
          `app\\.sock and app\\.pid\\.ctl are left behind at exit; chown the folder to ${user.name}$`,
      ),
    );
    // Both come after the drop is said.
    assert.ok(log.indexOf("Dropped privileges") < log.indexOf(infos[0]), log);
  } finally {
    await stopAndRemove(server, user, dir, () => readFileSync(errorLog, "utf8"));
  }
});

e2e("a folder under a parent only root may search: the master warns too", async (t) => {
  const user = createUser();
  const dir = tempDir();
  chmodSync(dir.path, 0o755);
  // The user's own folder for the log; the pidfile under a 0700 root parent.
  const own = userFolder(dir.path, user);
  const closed = join(dir.path, "closed");
  mkdirSync(closed, { mode: 0o700 });
  const runDir = join(closed, "run");
  mkdirSync(runDir, { mode: 0o777 });
  chmodSync(runDir, 0o777); // writable by all: only the parent keeps the user out
  const errorLog = join(own, "error.log");
  const server = start(withCache(t, dir.path), [
    "-u",
    user.name,
    "--error-logfile",
    errorLog,
    "-p",
    join(runDir, "app.pid"),
    "-b",
    "127.0.0.1:0",
    APP,
  ]);
  try {
    const log = await bootedLog(errorLog);
    const warnings = folderLines(log, "WARNING");
    assert.equal(warnings.length, 1, log);
    assert.match(
      warnings[0],
      new RegExp(
        `\\] User ${user.name} cannot write to ${runDir}: USR2 cannot start a new master .*` +
          `app\\.pid and app\\.pid\\.ctl are left behind at exit; chown the folder to ${user.name}$`,
      ),
    );
    assert.deepEqual(folderLines(log, "INFO"), [], log);
  } finally {
    await stopAndRemove(server, user, dir, () => readFileSync(errorLog, "utf8"));
  }
});

e2e("a folder of the user's own: no warning, and its files are removed at exit", async (t) => {
  const user = createUser();
  const dir = tempDir();
  chmodSync(dir.path, 0o755);
  const own = userFolder(dir.path, user);
  const errorLog = join(own, "error.log");
  const pidfile = join(own, "app.pid");
  const socket = join(own, "app.sock");
  const server = start(withCache(t, dir.path), [
    "-u",
    user.name,
    "--error-logfile",
    errorLog,
    "--access-logfile",
    join(own, "access.log"),
    "-p",
    pidfile,
    "-b",
    `unix:${socket}`,
    "-b",
    "127.0.0.1:0",
    APP,
  ]);
  try {
    const log = await bootedLog(errorLog);
    assert.match(log, /Dropped privileges to user/);
    assert.doesNotMatch(log, /\[WARNING\].* cannot write to /);
  } finally {
    await stopAndRemove(server, user, dir, () => readFileSync(errorLog, "utf8"), () => {
      assert.ok(!existsSync(pidfile), "pidfile left behind");
      assert.ok(!existsSync(socket), "socket left behind");
    });
  }
});

e2e("--check-config as root with -u: the same warnings, nothing started, exit 0", async (t) => {
  const user = createUser();
  const dir = tempDir();
  try {
    const { logs, runDir, args } = rootFolders(dir.path);
    const result = await run(t, ["--check-config", "-u", user.name, ...args, APP]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "configuration OK\n");
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 2, result.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^Note: User ${user.name} cannot write to ${logs}: if logrotate moves .*"copytruncate", ` +
          `or chown the folder to ${user.name}$`,
      ),
    );
    assert.match(
      lines[1],
      new RegExp(`^Warning: User ${user.name} cannot write to ${runDir}: USR2 cannot start .*$`),
    );
    // Nothing was created: no pidfile, socket or log file.
    assert.deepEqual(readdirSync(runDir), []);
    assert.deepEqual(readdirSync(logs), []);
  } finally {
    user.remove();
    dir.remove();
  }
});

e2e(
  "-u: a log folder the user may not search is one line and exit 1, at start and in --check-config",
  async (t) => {
    const user = createUser();
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o755);
      const logs = join(dir.path, "private");
      mkdirSync(logs, { mode: 0o750 });
      const args = [
        "-u",
        user.name,
        "--error-logfile",
        join(logs, "error.log"),
        "-b",
        "127.0.0.1:0",
      ];
      const line = new RegExp(
        `^Error: User ${user.name} cannot reach ${logs}/error\\.log: it may not search ${logs}, ` +
          `and the workers open their logs as ${user.name} \\(chmod o\\+x ${logs}, or chown it to ` +
          `${user.name}\\)$`,
      );
      const checked = await run(t, ["--check-config", ...args, APP]);
      assert.equal(checked.code, 1, checked.stderr);
      assert.match(checked.stderr.trim().split("\n").at(-1)!, line);
      // The start says the same before any worker would fail on it.
      const started = await run(t, [...args, APP]);
      assert.equal(started.code, 1, started.stderr);
      assert.ok(!hasStackTrace(started.stderr), started.stderr);
      assert.match(started.stderr, new RegExp(line.source.slice(1), "m"));
      assert.doesNotMatch(started.stderr, /Booting worker/);
    } finally {
      user.remove();
      dir.remove();
    }
  },
);

e2e(
  "--check-config as root with -u imports the app as the user, as the workers would",
  async (t) => {
    const user = createUser();
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o755);
      const secret = join(dir.path, "secret");
      writeFileSync(secret, "root's\n", { mode: 0o600 });
      const app = join(dir.path, "app.ts");
      writeFileSync(
        app,
        `import { readFileSync } from "node:fs";\nreadFileSync(${JSON.stringify(secret)});\n` +
          `export default { fetch: () => new Response("x") };\n`,
        { mode: 0o644 },
      );
      assert.equal((await run(t, ["--check-config", app])).code, 0, "as root it imports");
      const result = await run(t, ["--check-config", "-u", user.name, app]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^Error: Cannot import .*app\.ts: .*(EACCES|[Pp]ermission denied)/m,
      );
      assert.doesNotMatch(result.stdout, /configuration OK/);
    } finally {
      user.remove();
      dir.remove();
    }
  },
);

e2e("--check-config: a symlinked folder is judged by the folders above its target", async (t) => {
  const user = createUser();
  const dir = tempDir();
  try {
    chmodSync(dir.path, 0o755);
    // /link -> /closed/run: the link's own parents are open, the target's parent is root's 0700.
    const closed = join(dir.path, "closed");
    mkdirSync(closed, { mode: 0o700 });
    const runDir = join(closed, "run");
    mkdirSync(runDir);
    chmodSync(runDir, 0o777);
    const link = join(dir.path, "link");
    symlinkSync(runDir, link);
    const result = await run(t, [
      "--check-config",
      "-u",
      user.name,
      "-p",
      join(link, "app.pid"),
      "--access-logfile",
      join(link, "access.log"),
      APP,
    ]);
    // The pidfile keeps it a warning; the log's condition is said in the same line. The workers
    // could not even open the access log there: that is an error.
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      `Warning: User ${user.name} cannot write to ${link}: USR2 cannot start a new master ` +
        `(it must create app.pid.2 and app.pid.ctl.2), app.pid and app.pid.ctl are left behind ` +
        `at exit, and if logrotate moves access.log away without "create", USR1 cannot create ` +
        `it again; chown the folder to ${user.name}\n` +
        `Error: User ${user.name} cannot reach ${link}/access.log: it may not search ${closed}, ` +
        `and the workers open their logs as ${user.name} (chmod o+x ${closed}, or chown it to ` +
        `${user.name})\n`,
    );
  } finally {
    user.remove();
    dir.remove();
  }
});
