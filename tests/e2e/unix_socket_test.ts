// The unix sockets appserve creates: bound under --umask (gunicorn's default 0) while log files
// and the pidfile keep the process umask, --socket-mode and --socket-group checked with stat(1),
// a live socket refused and a stale one replaced.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
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
  type RunResult,
  start,
  type Target,
  tempDir,
  withFdLimit,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** The target started from a shell with umask 022, as a login shell has it. */
function withUmask022(target: Target): Target {
  return {
    ...target,
    command: "sh",
    prefix: ["-c", 'umask 022 && exec "$0" "$@"', target.command, ...target.prefix],
  };
}

/** What stat(1) says of a file: permissions as ls shows them, and the group's name. */
function stat(path: string): string {
  return spawnSync("stat", ["-c", "%A %G", path], { encoding: "utf8" }).stdout.trim();
}

function assertOneLine(result: RunResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  assert.ok(!hasStackTrace(result.stderr), result.stderr);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr.trim(), pattern);
}

e2e(
  "a unix socket is srwxrwxrwx under the default umask 0; the pidfile and logs keep umask 022",
  async (target) => {
    const dir = tempDir();
    try {
      const socket = join(dir.path, "app.sock");
      const [pidfile, errorLog, accessLog] = ["app.pid", "error.log", "access.log"]
        .map((f) => join(dir.path, f));
      const server = start(withUmask022(target), [
        "-b",
        `unix:${socket}`,
        "-p",
        pidfile,
        "--error-logfile",
        errorLog,
        "--access-logfile",
        accessLog,
        PID_APP,
      ]);
      assert.equal((await getWhenReady("http://x/", { socketPath: socket })).status, 200);
      assert.equal(stat(socket), "srwxrwxrwx root");
      for (const file of [pidfile, errorLog, accessLog]) {
        assert.equal(stat(file), "-rw-r--r-- root", file);
      }
      assert.equal((await server.stop()).code, 0);
      assert.ok(!existsSync(socket));
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "-D: the daemon's pidfile and log get umask 022 (gunicorn's daemonize), its socket --umask",
  async (t) => {
    const dir = tempDir();
    try {
      const socket = join(dir.path, "app.sock");
      const pidfile = join(dir.path, "app.pid");
      const errorLog = join(dir.path, "error.log");
      // Started from a shell with umask 077: without -D the pidfile would be -rw-------.
      const started: Target = {
        ...t,
        command: "sh",
        prefix: ["-c", 'umask 077 && exec "$0" "$@"', t.command, ...t.prefix],
      };
      const result = await run(started, [
        "-D",
        "-b",
        `unix:${socket}`,
        "-p",
        pidfile,
        "--error-logfile",
        errorLog,
        PID_APP,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const pid = Number(readFileSync(pidfile, "utf8"));
      try {
        assert.equal(stat(pidfile), "-rw-r--r-- root");
        assert.equal(stat(errorLog), "-rw-r--r-- root");
        assert.equal(stat(socket), "srwxrwxrwx root");
      } finally {
        process.kill(pid, "SIGTERM");
        await eventually(() => !existsSync(pidfile), "the daemon stops");
      }
    } finally {
      dir.remove();
    }
  },
);

e2e("--umask 007 gives srwxrwx--- and leaves the log file's mode alone", async (target) => {
  const dir = tempDir();
  try {
    const socket = join(dir.path, "app.sock");
    const errorLog = join(dir.path, "error.log");
    const server = start(withUmask022(target), [
      "--umask",
      "007",
      "-b",
      `unix:${socket}`,
      "--error-logfile",
      errorLog,
      PID_APP,
    ]);
    assert.equal((await getWhenReady("http://x/", { socketPath: socket })).status, 200);
    assert.equal(stat(socket), "srwxrwx--- root");
    assert.equal(stat(errorLog), "-rw-r--r-- root");
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

e2e("--socket-mode 660 --socket-group nogroup: exactly those bits and that group", async (t) => {
  const dir = tempDir();
  try {
    const socket = join(dir.path, "app.sock");
    const server = start(t, [
      "--socket-mode",
      "660",
      "--socket-group",
      "nogroup",
      "--umask",
      "0",
      "-b",
      `unix:${socket}`,
      PID_APP,
    ]);
    assert.equal((await getWhenReady("http://x/", { socketPath: socket })).status, 200);
    assert.equal(stat(socket), "srw-rw---- nogroup");
    assert.equal(statSync(socket).gid, 65534);
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

e2e("--print-config shows the umask and socket settings in force", async (target) => {
  const result = await run(target, [
    "--print-config",
    "--umask",
    "007",
    "--socket-mode",
    "0o640",
    "--socket-group",
    "www-data",
    PID_APP,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^umask = 0o007 {2}# --umask$/m);
  assert.match(result.stdout, /^socket_mode = "640" {2}# --socket-mode$/m);
  assert.match(result.stdout, /^socket_group = "www-data" {2}# --socket-group$/m);
  const defaults = await run(target, ["--print-config", PID_APP]);
  assert.match(defaults.stdout, /^umask = 0o000 {2}# default$/m);
});

const badSocketSettings: [string, string[], number, RegExp][] = [
  [
    "a socket group that does not exist",
    ["--socket-group", "no-such-group"],
    1,
    /^Error: --socket-group: No such group: "no-such-group"$/,
  ],
  [
    "a socket mode that is not octal",
    ["--socket-mode", "rw-rw----"],
    2,
    /^Error: --socket-mode: Cannot read "socket_mode": expected octal permission bits such as "660", read as chmod reads them, got "rw-rw----"$/,
  ],
  [
    "a socket mode above 777",
    ["--socket-mode", "1770"],
    1,
    /^Error: --socket-mode: Cannot read "socket_mode": expected .*at most 777, got "1770"$/,
  ],
];
for (const [what, args, code, pattern] of badSocketSettings) {
  e2e(`refuses ${what} in one line, leaving no socket`, async (target) => {
    const dir = tempDir();
    try {
      const socket = join(dir.path, "app.sock");
      const result = await run(target, [...args, "-b", `unix:${socket}`, PID_APP]);
      assertOneLine(result, code, pattern);
      assert.ok(!existsSync(socket));
    } finally {
      dir.remove();
    }
  });
}

e2e("a socket_mode written as a TOML number is refused with how to write it", async (target) => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "appserve.toml"), "socket_mode = 660\n");
    const result = await run(target, [PID_APP], { cwd: dir.path });
    assertOneLine(
      result,
      1,
      /^Error: appserve\.toml:1:15: Cannot read "socket_mode": .*written as a string \("660"; a TOML number is read as decimal\), got 660$/,
    );
  } finally {
    dir.remove();
  }
});

e2e(
  "a socket group appserve may not hand the socket to (run as nobody) is one line",
  async (target) => {
    const dir = tempDir();
    try {
      // A folder nobody may create the socket in, so that the group is the step that fails.
      const own = join(dir.path, "run");
      mkdirSync(own);
      chownSync(own, 65534, 65534);
      const socket = join(own, "app.sock");
      const result = await run(
        asNobody(target, dir.path),
        ["--socket-group", "www-data", "-b", `unix:${socket}`, PID_APP],
      );
      assertOneLine(
        result,
        1,
        /^Error: Cannot give unix:.*app\.sock to group www-data \(gid 33\): Operation not permitted \(appserve must be root or a member of that group\)$/,
      );
      assert.ok(!existsSync(socket), "socket file left behind");
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a second appserve on a socket a live master serves refuses; the first serves on",
  async (t) => {
    const dir = tempDir();
    try {
      const socket = join(dir.path, "app.sock");
      const first = start(t, ["-b", `unix:${socket}`, PID_APP]);
      const before = await getWhenReady("http://x/", { socketPath: socket });
      const live =
        /^Error: Cannot listen at unix:.*app\.sock: another process is serving this socket \(is appserve already running\?\)$/;
      assertOneLine(await run(t, ["-b", `unix:${socket}`, PID_APP]), 1, live);
      // --check-config checks what a start would: the same refusal.
      assertOneLine(await run(t, ["--check-config", "-b", `unix:${socket}`, PID_APP]), 1, live);
      assert.ok(existsSync(socket));
      const after = await get("http://x/", { socketPath: socket });
      assert.equal(after.status, 200);
      assert.match(after.body, new RegExp(`^${before.body.trim()}`));
      assert.equal((await first.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

e2e("a stale socket file (its master and workers killed) is replaced", async (target) => {
  const dir = tempDir();
  try {
    const socket = join(dir.path, "app.sock");
    const crashed = start(target, ["-b", `unix:${socket}`, PID_APP]);
    await getWhenReady("http://x/", { socketPath: socket });
    // A crash: nobody removes the file, nobody listens on it any more.
    for (const pid of [crashed.pid, ...childPids(crashed.pid)]) process.kill(pid, "SIGKILL");
    await crashed.exited;
    await eventually(() => childPids(crashed.pid).length === 0, "the workers are gone");
    assert.ok(statSync(socket).isSocket(), "the crash left the socket file");
    const server = start(target, ["-b", `unix:${socket}`, PID_APP]);
    assert.equal((await getWhenReady("http://x/", { socketPath: socket })).status, 200);
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

e2e(
  "a socket file appserve may not probe (root's, run as nobody) is refused with the real reason",
  async (target) => {
    const dir = tempDir();
    try {
      // nobody may replace files in its folder, but not connect to root's srwxr-xr-x socket:
      // whether a master serves it cannot be told, which is not "another process is serving".
      const own = join(dir.path, "run");
      mkdirSync(own);
      chownSync(own, 65534, 65534);
      const socket = join(own, "app.sock");
      // A crash (master and workers SIGKILLed) leaves root's file behind, nobody listening.
      const crashed = start(target, ["--socket-mode", "755", "-b", `unix:${socket}`, PID_APP]);
      await getWhenReady("http://x/", { socketPath: socket });
      for (const pid of [crashed.pid, ...childPids(crashed.pid)]) process.kill(pid, "SIGKILL");
      await crashed.exited;
      await eventually(() => childPids(crashed.pid).length === 0, "the workers are gone");
      assert.equal(stat(socket).split(" ")[0], "srwxr-xr-x");
      const result = await run(asNobody(target, dir.path), ["-b", `unix:${socket}`, PID_APP]);
      assertOneLine(
        result,
        1,
        /^Error: Cannot listen at unix:.*app\.sock: cannot tell whether another process serves it: Permission denied$/,
      );
    } finally {
      dir.remove();
    }
  },
);

e2e("a unix socket serves under an open-files limit of 64", async (t) => {
  const dir = tempDir();
  try {
    // Listeners go to fd 64 and above where the limit allows; under 64, as high as it does.
    const socket = join(dir.path, "app.sock");
    const server = start(withFdLimit(t, 64), ["-b", `unix:${socket}`, PID_APP]);
    assert.equal((await getWhenReady("http://x/", { socketPath: socket })).status, 200);
    assert.equal((await server.stop()).code, 0);
    assert.ok(!existsSync(socket), "socket file left behind");
  } finally {
    dir.remove();
  }
});
