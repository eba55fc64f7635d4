// `appserve ctl`: every verb against a running master over its control socket (PIDFILE.ctl by
// default, mode 0600), with --json for scripts, and each way it can fail: no master, a stale
// socket, a user without access, a malformed request (the master serves on).

import assert from "node:assert/strict";
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  alive,
  asNobody,
  assertOneLineError,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  hasStackTrace,
  run,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

interface Status {
  ok: boolean;
  master: number;
  configured: number;
  workers: {
    pid: number;
    age: number;
    requests: number;
    inFlight: number;
    rss: number;
    state: string;
  }[];
}

/** The same program run as `appserve ctl ...`: without the server options the targets add. */
function client(target: Target): Target {
  return target.name === "deno" ? target : { ...target, prefix: [] };
}

async function ctl(target: Target, pidfile: string, ...args: string[]) {
  const result = await run(client(target), ["ctl", "-p", pidfile, ...args]);
  assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

e2e(
  "the control socket is bound under umask 0177: never reachable by others, not even until a chmod",
  async (target) => {
    const dir = tempDir();
    try {
      const control = join(dir.path, "app.ctl");
      const trace = join(dir.path, "strace.out");
      // What the kernel is asked, in order, by every thread of the master and its workers.
      const traced: Target = {
        ...target,
        command: "strace",
        prefix: [
          ...["-f", "--seccomp-bpf", "-qq", "-e", "trace=umask,bind,chmod,fchmodat", "-o", trace],
          target.command,
          ...target.prefix,
        ],
      };
      const pidfile = join(dir.path, "app.pid");
      const args = ["--control-socket", control, "-p", pidfile, "-b", "127.0.0.1:0", PID_APP];
      const server = start(traced, args);
      try {
        await server.ready();
        assert.equal(statSync(control).mode & 0o777, 0o600);
      } finally {
        // strace is the child: the master is the pidfile's, and strace ends with it.
        if (existsSync(pidfile)) process.kill(Number(readFileSync(pidfile, "utf8")), "SIGTERM");
        assert.equal((await server.stop(20_000)).code, 0);
      }
      const calls = readFileSync(trace, "utf8").split("\n");
      const bound = calls.findIndex((l) => l.includes(`bind(`) && l.includes(`"${control}"`));
      assert.ok(bound >= 0, `no bind of the control socket in:\n${calls.join("\n")}`);
      const masks = calls.slice(0, bound).filter((l) => /\bumask\(/.test(l));
      assert.match(masks.at(-1) ?? "no umask before the bind", /umask\(0177\)/);
    } finally {
      dir.remove();
    }
  },
);

e2e("appserve ctl: status, add, remove, scale, reload, reopen-logs, stop", async (target) => {
  const dir = tempDir();
  try {
    const pidfile = join(dir.path, "app.pid");
    const server = start(target, [
      ...["-w", "2", "-p", pidfile, "-b", "127.0.0.1:0", "--log-level", "debug", PID_APP],
    ]);
    const url = await server.allAnswering(2);
    assert.equal(statSync(`${pidfile}.ctl`).mode & 0o777, 0o600);
    for (let i = 0; i < 3; i++) await get(url);
    const status = JSON.parse(await ctl(target, pidfile, "--json", "status")) as Status;
    assert.equal(status.ok, true);
    assert.equal(status.master, server.pid);
    assert.equal(status.configured, 2);
    assert.deepEqual(status.workers.map((w) => w.pid).sort(), childPids(server.pid).sort());
    assert.ok(status.workers.every((w) => w.state === "serving" && w.rss > 0 && w.inFlight === 0));
    // Our 3 requests and the readiness probes.
    assert.ok(status.workers.reduce((n, w) => n + w.requests, 0) >= 3, JSON.stringify(status));
    const table = await ctl(target, pidfile, "status");
    assert.match(
      table,
      /^master \d+, 2 workers configured\nPID +AGE\(s\) +REQUESTS +IN FLIGHT +RSS\(MB\) +STATE\n/,
    );
    assert.match(await ctl(target, pidfile, "add"), /Workers: 2 -> 3/);
    await eventually(() => childPids(server.pid).length === 3, "3 workers");
    await ctl(target, pidfile, "remove");
    await eventually(() => childPids(server.pid).length === 2, "2 workers");
    await ctl(target, pidfile, "scale", "1");
    await eventually(() => childPids(server.pid).length === 1, "1 worker");
    const before = childPids(server.pid);
    // Told once the new workers serve (or, on a slow box, that they still boot).
    assert.match(await ctl(target, pidfile, "reload"), /^Reload(ed|ing): the new workers /);
    // As HUP: the configuration is read again, -w 2 included, into fresh workers.
    await eventually(
      () => childPids(server.pid).length === 2 && !childPids(server.pid).includes(before[0]),
      "two fresh workers",
    );
    assert.match(await ctl(target, pidfile, "reopen-logs"), /Reopened the logs/);
    await server.waitFor(/\[INFO\] Control: reopen-logs/);
    assert.match(await ctl(target, pidfile, "stop"), /Stopping/);
    assert.equal((await server.exited).code, 0);
    assert.match(server.stderr, /\[INFO\] Control: stop/);
    // What changes something is said at INFO; status, which a monitor polls, at DEBUG.
    for (const verb of ["add", "remove", "scale 1", "reload", "reopen-logs"]) {
      assert.match(server.stderr, new RegExp(`\\[INFO\\] Control: ${verb}\n`));
    }
    assert.equal(server.all(/\[DEBUG\] Control: status\n/g).length, 2);
    assert.doesNotMatch(server.stderr, /\[INFO\] Control: status/);
  } finally {
    dir.remove();
  }
});

e2e("appserve ctl stop --quick and --control-socket PATH", async (target) => {
  const dir = tempDir();
  try {
    const socket = join(dir.path, "ctl.sock");
    const server = start(target, ["--control-socket", socket, "-b", "127.0.0.1:0", PID_APP]);
    await server.ready(1);
    const result = await run(client(target), [
      "ctl",
      "--control-socket",
      socket,
      "--json",
      "stop",
      "--quick",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { ok: true, message: "Stopping quickly" });
    assert.equal((await server.exited).code, 0);
  } finally {
    dir.remove();
  }
});

// As INT or QUIT during a graceful stop: `ctl stop --quick` turns it into the quick stop (the
// 15 s request is cut); a second `ctl stop` changes nothing and says how to stop quickly.
e2e("ctl stop --quick during a graceful stop switches to the quick stop", async (target) => {
  const dir = tempDir();
  try {
    const pidfile = join(dir.path, "app.pid");
    const server = start(target, [
      ...["-w", "1", "--graceful-timeout", "30", "-p", pidfile, "-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.ready(1);
    const [worker] = childPids(server.pid);
    const request = get(`${url}/slow?ms=15000&tell`).then((a) => a.status, () => "cut");
    await server.waitFor(/slow began/);
    server.signal("SIGTERM");
    await server.waitFor(/\[INFO\] Handling signal: term\n/);
    // What still drains: the worker with its request in flight.
    const status = await ctl(target, pidfile, "status");
    assert.match(status, /^master \d+, 1 worker configured \(stopping gracefully\)\n/);
    assert.match(status, new RegExp(`^ *${worker} .*\\b1\\b`, "m"), status);
    assert.equal(
      await ctl(target, pidfile, "stop"),
      "Already stopping gracefully; `appserve ctl stop --quick` stops quickly\n",
    );
    assert.equal(await ctl(target, pidfile, "stop", "--quick"), "Stopping quickly\n");
    const result = await server.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /\[INFO\] Control: stop --quick\n.*\[INFO\] Quick shutdown requested\n/,
    );
    assert.equal(await request, "cut", result.stderr);
    assert.ok(!alive(worker), `worker ${worker} survived`);
  } finally {
    dir.remove();
  }
});

e2e(
  "three USR2 upgrades in a row, each old master stopped with TERM: ctl reaches every new master",
  async (target) => {
    const dir = tempDir();
    const masters: number[] = [];
    try {
      const pidfile = join(dir.path, "app.pid");
      const control = `${pidfile}.ctl`;
      const server = start(target, ["-w", "1", "-p", pidfile, "-b", "127.0.0.1:0", PID_APP]);
      masters.push(server.pid);
      await server.ready(1);
      // Every master's log is the first one's stderr (inherited).
      const started = /Started new master with pid: (\d+)/g;
      for (let round = 1; round <= 3; round++) {
        const old = masters.at(-1)!;
        const before = server.all(started).length;
        process.kill(old, "SIGUSR2");
        await eventually(() => server.all(started).length > before, `round ${round}: USR2`);
        const next = Number(server.all(started)[before][1]);
        masters.push(next);
        await eventually(() => existsSync(`${control}.2`), `round ${round}: PIDFILE.ctl.2`);
        await eventually(
          () => server.bootedWorkers(next).length === 1,
          `round ${round}: the new worker`,
        );
        process.kill(old, "SIGTERM");
        await eventually(() => !alive(old), `round ${round}: the old master exits`);
        await eventually(
          () => server.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
          `round ${round}: promotion`,
        );
        // Moved once PIDFILE.ctl.2 is gone (the new socket listens before the old one closes).
        await eventually(() => !existsSync(`${control}.2`), `round ${round}: the move`);
        const status = await run(client(target), ["ctl", "-p", pidfile, "--json", "status"]);
        assert.equal(status.code, 0, `round ${round}: ${status.stderr}`);
        assert.equal((JSON.parse(status.stdout) as Status).master, next, `round ${round}`);
        assert.equal(statSync(control).mode & 0o777, 0o600, `round ${round}`);
      }
      const last = masters.at(-1)!;
      process.kill(last, "SIGTERM");
      await eventually(() => !alive(last), "the last master exits");
      assert.ok(!existsSync(control), "the last master's socket stays behind");
    } finally {
      for (const pid of masters) {
        for (const each of [pid, ...childPids(pid)]) if (alive(each)) process.kill(each, "SIGKILL");
      }
      dir.remove();
    }
  },
);

e2e(
  "appserve ctl without a master, at a stale socket, or as another user: one line, exit 1",
  async (target) => {
    const dir = tempDir();
    try {
      const missing = await run(client(target), [
        "ctl",
        "-p",
        join(dir.path, "none.pid"),
        "status",
      ]);
      assert.equal(missing.code, 1);
      assert.match(
        missing.stderr,
        /^Error: ctl: Cannot reach the master at ".*none\.pid\.ctl": no such socket/,
      );
      assert.ok(!hasStackTrace(missing.stderr), missing.stderr);
      // A socket file nobody listens on, as a master killed with SIGKILL leaves.
      const stale = join(dir.path, "stale.sock");
      const killed = start(target, ["--control-socket", stale, "-b", "127.0.0.1:0", PID_APP]);
      await killed.ready(1);
      for (const pid of [killed.pid, ...childPids(killed.pid)]) process.kill(pid, "SIGKILL");
      await killed.exited;
      assert.ok(statSync(stale).isSocket());
      const refused = await run(client(target), ["ctl", "--control-socket", stale, "status"]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /stale socket, no master listens/);
      // A regular file named as the socket is not a stale socket.
      const plain = join(dir.path, "plain.file");
      writeFileSync(plain, "not a socket\n");
      const notSocket = await run(client(target), ["ctl", "--control-socket", plain, "status"]);
      assert.equal(notSocket.code, 1, notSocket.stderr);
      assert.equal(
        notSocket.stderr,
        `Error: ctl: Cannot reach the master at "${plain}": not a socket\n`,
      );
      // A master started over a stale socket replaces it.
      const server = start(target, ["--control-socket", stale, "-b", "127.0.0.1:0", PID_APP]);
      await server.ready(1);
      const other = await run(asNobody(client(target), dir.path), [
        "ctl",
        "--control-socket",
        stale,
        "status",
      ]);
      assert.equal(other.code, 1, other.stderr);
      assert.match(other.stderr, /permission denied/);
      assert.equal((await server.stop()).code, 0);
      const usage = await run(client(target), ["ctl", "--control-socket", stale, "scale", "many"]);
      assert.equal(usage.code, 2);
      assert.match(
        usage.stderr,
        /ctl scale: Cannot read "many": expected a whole number from 1 to 1024/,
      );
      // The extra argument is the mistake, not the valid number before it.
      const extra = await run(client(target), [
        "ctl",
        "--control-socket",
        stale,
        "scale",
        "1",
        "2",
      ]);
      assert.equal(extra.code, 2, extra.stderr);
      assert.equal(extra.stderr, 'Error: ctl scale: Unexpected argument "2"\n');
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a malformed request on the control socket gets an error; the master serves on",
  async (target) => {
    const dir = tempDir();
    try {
      const pidfile = join(dir.path, "app.pid");
      const server = start(target, ["-p", pidfile, "-b", "127.0.0.1:0", PID_APP]);
      const url = await server.ready(1);
      const say = (text: string) =>
        new Promise<string>((resolve) => {
          const socket = connect(`${pidfile}.ctl`);
          let answer = "";
          socket.on("data", (d) => (answer += d));
          socket.on("close", () => resolve(answer));
          socket.on("error", () => resolve(answer));
          socket.end(text);
        });
      assert.deepEqual(JSON.parse(await say("garbage\n")), {
        ok: false,
        error: "Cannot read the request: not JSON",
      });
      assert.match(await say('{"verb":"explode"}\n'), /Unknown verb \\"explode\\"/);
      assert.match(await say(`${"x".repeat(5000)}`), /Request too long/);
      assert.equal((await get(url)).status, 200);
      assert.match(await ctl(target, pidfile, "status"), /^master \d+, 1 worker configured\n/);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "appserve ctl scale past the workers setting's maximum is refused as scale 0 is: one line, exit 2",
  async (target) => {
    // Refused before any master is asked (none listens here): a master that got it would start
    // every one of them (the master's own refusal, for requests written by hand, is a unit test).
    const socket = "/no/such/dir/none.sock";
    for (const count of ["0", "1025", "2000"]) {
      const result = await run(client(target), ["ctl", "--control-socket", socket, "scale", count]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr,
        `Error: ctl scale: Cannot read "${count}": expected a whole number from 1 to 1024\n`,
      );
    }
  },
);

e2e(
  "a --control-socket in a missing directory stops the start in one line, exit 1",
  async (target) => {
    const result = await run(target, [
      "--control-socket",
      "/no/such/dir/ctl.sock",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /--control-socket: Cannot listen on "\/no\/such\/dir\/ctl\.sock": no such directory/,
    );
    assert.doesNotMatch(result.stderr, /Listening at/);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
  },
);

e2e(
  "a --control-socket the system refuses says why (as a unix: bind does), exit 1",
  async (target) => {
    const dir = tempDir();
    try {
      // A regular file where the directory should be: ENOTDIR, as root too (EROFS and EACCES
      // take the same way out).
      const file = join(dir.path, "plain.file");
      writeFileSync(file, "");
      const path = join(file, "ctl.sock");
      const result = await run(target, ["--control-socket", path, "-b", "127.0.0.1:0", PID_APP]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`--control-socket: Cannot listen on "${path}": Not a directory\n`),
      );
      assert.doesNotMatch(result.stderr, /Listening at/);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
    } finally {
      dir.remove();
    }
  },
);

// Where a master with neither --pid nor --control-socket puts NAME.ctl, and the environment
// that puts it there (a login session's runtime directory, else the home: gunicorn's ~/.gunicorn).
// A HOME of a test's own would leave Deno (workers, and its cache of the worker bundle) without
// the box's cache: that one stays.
const CACHE = { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME || join(homedir(), ".cache") };

const DEFAULT_DIRS: [string, string, (dir: string) => Record<string, string>][] = [
  ["$XDG_RUNTIME_DIR/appserve/NAME.ctl", "appserve", (dir) => ({ XDG_RUNTIME_DIR: dir })],
  [
    "~/.appserve/NAME.ctl without $XDG_RUNTIME_DIR",
    ".appserve",
    (dir) => ({ XDG_RUNTIME_DIR: "", HOME: dir, ...CACHE }),
  ],
];

for (const [where, folder, envOf] of DEFAULT_DIRS) {
  e2e(
    `with neither --pid nor --control-socket the socket is ${where}; ctl finds it`,
    async (target) => {
      const dir = tempDir();
      try {
        const env = envOf(dir.path);
        const server = start(target, ["-b", "127.0.0.1:0", PID_APP], { env });
        await server.ready(1);
        const socket = join(dir.path, folder, "pid_app.ctl");
        await eventually(() => existsSync(socket), "the socket");
        assert.equal(statSync(socket).mode & 0o777, 0o600);
        assert.equal(statSync(join(dir.path, folder)).mode & 0o777, 0o700);
        assert.doesNotMatch(server.stderr, /control socket/i);
        // ctl finds the only socket there, or the one named.
        const only = await run(client(target), ["ctl", "--json", "status"], { env });
        assert.equal(only.code, 0, only.stderr);
        assert.equal((JSON.parse(only.stdout) as Status).master, server.pid);
        // A second master of the same app: one warning naming the socket and its master, no
        // socket, and it serves; ctl, with or without -n, reaches the first one meanwhile.
        const twin = start(target, ["-b", "127.0.0.1:0", PID_APP], { env });
        await twin.ready(1);
        const warned = twin.stderr.split("\n").filter((line) => /control socket/i.test(line));
        assert.deepEqual(warned.map((line) => line.replace(/^.*?\[WARNING\] /, "")), [
          `The control socket "${socket}" is master ${server.pid}'s: serving without one, and ` +
          `\`appserve ctl\` there reaches master ${server.pid}, not this one (give this one -n ` +
          "NAME or --control-socket PATH)",
        ]);
        for (
          const args of [["ctl", "--json", "status"], ["ctl", "-n", "pid_app", "--json", "status"]]
        ) {
          const both = await run(client(target), args, { env });
          assert.equal(both.code, 0, both.stderr);
          assert.equal((JSON.parse(both.stdout) as Status).master, server.pid);
        }
        assert.equal((await twin.stop()).code, 0);
        assert.ok(existsSync(socket), "the first master's socket stays");
        // Another name, another socket: ctl then needs -n.
        const named = start(target, ["-n", "api", "-b", "127.0.0.1:0", PID_APP], { env });
        await named.ready(1);
        await eventually(() => existsSync(join(dir.path, folder, "api.ctl")), "api.ctl");
        const several = await run(client(target), ["ctl", "status"], { env });
        assert.equal(several.code, 2, several.stderr);
        assert.match(
          several.stderr,
          new RegExp(
            `ctl: Several masters in .*${folder} \\(api, pid_app\\): name one with -n NAME`,
          ),
        );
        const api = await run(client(target), ["ctl", "-n", "api", "--json", "status"], { env });
        assert.equal(api.code, 0, api.stderr);
        assert.equal((JSON.parse(api.stdout) as Status).master, named.pid);
        assert.equal((await named.stop()).code, 0);
        assert.equal((await server.stop()).code, 0);
        assert.ok(!existsSync(socket), "removed at exit");
      } finally {
        dir.remove();
      }
    },
  );
}

e2e(
  "without $XDG_RUNTIME_DIR or a home to make ~/.appserve in there is no socket: a DEBUG line, ctl says how to name one",
  async (target) => {
    const dir = tempDir();
    try {
      // No HOME, and one that does not exist (a container's bare uid): it is not made for this.
      const missing = join(dir.path, "nobody");
      const cases: [Record<string, string>, string][] = [
        [{ HOME: "" }, "\\$XDG_RUNTIME_DIR and \\$HOME are not set"],
        [
          { HOME: missing },
          `\\$XDG_RUNTIME_DIR is not set and "${missing}/\\.appserve" cannot be made: No such file or directory`,
        ],
      ];
      for (const [home, why] of cases) {
        const env = { XDG_RUNTIME_DIR: "", ...home, ...CACHE };
        const server = start(target, ["--log-level", "debug", "-b", "127.0.0.1:0", PID_APP], {
          env,
        });
        await server.ready(1);
        // Said once, at DEBUG, with the setting that gives it one.
        const said = server.all(
          new RegExp(
            `\\[DEBUG\\] No control socket \\(${why}\\): \`appserve ctl\` cannot reach this master; ` +
              "name one with control_socket \\(--control-socket PATH\\) or --pid PIDFILE$",
            "gm",
          ),
        );
        assert.equal(said.length, 1, server.stderr);
        assert.equal((await server.stop()).code, 0);
        assert.ok(!existsSync(missing), "no home made");
        // At the default level nothing is said of it.
        const quiet = start(target, ["-b", "127.0.0.1:0", PID_APP], { env });
        await quiet.ready(1);
        assert.equal((await quiet.stop()).code, 0);
        assert.doesNotMatch(quiet.stderr, /control socket/i);
      }
      const env = { XDG_RUNTIME_DIR: "", HOME: "", ...CACHE };
      const result = await run(client(target), ["ctl", "status"], { env });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr,
        "Error: ctl: Name the master: --control-socket PATH, -p PIDFILE or -n NAME " +
          "($XDG_RUNTIME_DIR and $HOME are not set, and no control socket in /run/appserve/*)\n",
      );
      // -n was given: it cannot be the advice.
      const named = await run(client(target), ["ctl", "-n", "pid_app", "status"], { env });
      assert.equal(named.code, 2, named.stderr);
      assert.equal(
        named.stderr,
        "Error: ctl: -n NAME needs $XDG_RUNTIME_DIR or $HOME, and neither is set (nor is " +
          "pid_app.ctl in /run/appserve/*): name the master with --control-socket PATH or " +
          "-p PIDFILE instead\n",
      );
      // A master with a socket, or with none asked for (off), has nothing to say of it.
      for (const args of [["--control-socket", "off"], ["-p", join(dir.path, "app.pid")]]) {
        const quiet = start(
          target,
          ["--log-level", "debug", ...args, "-b", "127.0.0.1:0", PID_APP],
          {
            env,
          },
        );
        await quiet.ready(1);
        assert.equal((await quiet.stop()).code, 0);
        assert.doesNotMatch(quiet.stderr, /No control socket/, args.join(" "));
      }
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "an $XDG_RUNTIME_DIR where no socket can be made: a warning, the master serves; ctl finds none",
  async (target) => {
    const dir = tempDir();
    try {
      // "appserve" there is a file, not a directory.
      writeFileSync(join(dir.path, "appserve"), "");
      const env = { XDG_RUNTIME_DIR: dir.path };
      const server = start(target, ["-b", "127.0.0.1:0", PID_APP], { env });
      const url = await server.ready(1);
      assert.equal((await get(url)).status, 200);
      assert.match(
        server.stderr,
        /\[WARNING\] Cannot make the directory ".*\/appserve": File exists; serving without a control socket/,
      );
      assert.ok(!hasStackTrace(server.stderr), server.stderr);
      const none = await run(client(target), ["ctl", "status"], { env: { XDG_RUNTIME_DIR: "/" } });
      assert.equal(none.code, 2, none.stderr);
      assert.match(
        none.stderr,
        /ctl: Name the master: .* \(no control socket in \/appserve or \/run\/appserve\/\*\)/,
      );
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

// A root master given -u: root's $XDG_RUNTIME_DIR and home are closed to the user, so the socket
// goes to /run/appserve/UID, the user's (as root, the test makes and reads it).
e2e(
  "as root with -u nobody and neither --pid nor --control-socket: the socket is /run/appserve/65534/NAME.ctl, nobody's; ctl as nobody or as root reaches it, and USR2's new master's too",
  async (target) => {
    const dir = tempDir();
    // One name on the box: other runs' masters of nobody share the folder.
    const name = `ctlroot${process.pid}${target.name}`;
    const socket = join("/run/appserve", "65534", `${name}.ctl`);
    // Root's runtime directory, where the socket went before: it holds none now.
    const env = { XDG_RUNTIME_DIR: dir.path };
    const server = start(target, ["-u", "nobody", "-n", name, "-b", "127.0.0.1:0", PID_APP], {
      env,
    });
    let next = 0;
    try {
      await server.ready(1);
      await eventually(() => existsSync(socket), "the socket in /run/appserve/65534");
      const [file, folder, top] = [socket, join(socket, ".."), "/run/appserve"].map((p) =>
        statSync(p)
      );
      assert.deepEqual([file.uid, file.mode & 0o777], [65534, 0o600]);
      assert.deepEqual([folder.uid, folder.mode & 0o777], [65534, 0o700]);
      assert.deepEqual([top.uid, top.mode & 0o777], [0, 0o755]);
      assert.ok(!existsSync(join(dir.path, "appserve", `${name}.ctl`)));
      // nobody, with no runtime directory and a home that does not exist, as a system user has.
      const nobody = asNobody(client(target), dir.path);
      const home = { XDG_RUNTIME_DIR: "", HOME: "/nonexistent" };
      const askers: [string, Target, Record<string, string>][] = [
        ["nobody", nobody, home],
        ["root", client(target), env],
      ];
      for (const [who, as, envOf] of askers) {
        const result = await run(as, ["ctl", "-n", name, "--json", "status"], { env: envOf });
        assert.equal(result.code, 0, `${who}: ${result.stderr}`);
        assert.equal((JSON.parse(result.stdout) as Status).master, server.pid, who);
      }
      // USR2: the new master, nobody from the start, listens at NAME.ctl.2 in the same folder,
      // and at NAME.ctl once the old one is gone.
      server.signal("SIGUSR2");
      next = Number((await server.waitFor(/Started new master with pid: (\d+)/))[1]);
      await eventually(() => existsSync(`${socket}.2`), "the new master's socket");
      const asked = await run(client(target), [
        "ctl",
        "--control-socket",
        `${socket}.2`,
        "--json",
        "status",
      ]);
      assert.equal(asked.code, 0, asked.stderr);
      assert.equal((JSON.parse(asked.stdout) as Status).master, next);
      // The new master holds the old one's stdout and stderr: its exit, not their close.
      server.signal("SIGTERM");
      await eventually(() => !alive(server.pid), "the old master stops");
      await eventually(() => !existsSync(`${socket}.2`), "the new master promoted");
      const promoted = await run(nobody, ["ctl", "-n", name, "--json", "status"], { env: home });
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.equal((JSON.parse(promoted.stdout) as Status).master, next);
      assert.doesNotMatch(server.stderr, /control socket|Cannot make/i);
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master stops");
      // The master, nobody by then, removed its socket.
      assert.ok(!existsSync(socket), "the socket removed at exit");
    } finally {
      if (next && alive(next)) process.kill(next, "SIGKILL");
      await server.stop();
      dir.remove();
    }
  },
);

// A master that is the -u user already (not root) cannot make /run/appserve/UID (root's folder):
// its socket stays where a master without -u puts it, $HOME/.appserve, with no warning.
e2e(
  "not root, -u naming itself: the socket is in $HOME/.appserve, not /run/appserve/UID; ctl status reaches it",
  async (target) => {
    const dir = tempDir();
    const uid = 23456; // this test's own: no other test makes /run/appserve/23456
    rmSync(join("/run/appserve", String(uid)), { recursive: true, force: true });
    const home = join(dir.path, "home");
    mkdirSync(home);
    chownSync(home, uid, uid);
    const env = { XDG_RUNTIME_DIR: "", HOME: home };
    const name = `ctlself${process.pid}${target.name}`;
    const user = asNobody(target, dir.path, uid);
    const server = start(user, [
      "-u",
      String(uid),
      "-g",
      String(uid),
      "-n",
      name,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ], {
      env,
    });
    try {
      const url = await server.ready(1);
      assert.equal((await get(url)).status, 200);
      const socket = join(home, ".appserve", `${name}.ctl`);
      await eventually(() => existsSync(socket), "the socket in $HOME/.appserve");
      const result = await run(asNobody(client(target), dir.path, uid), [
        "ctl",
        "-n",
        name,
        "--json",
        "status",
      ], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.equal((JSON.parse(result.stdout) as Status).master, server.pid);
      assert.doesNotMatch(server.stderr, /control socket|Cannot make/i);
    } finally {
      await server.stop();
      dir.remove();
    }
  },
);

/**
 * Three requests to `url`, then `appserve ctl ARGS --json status`: its workers counted all three
 * (the probes may add more). The status, for more checks.
 */
async function statusCountsThree(
  target: Target,
  url: string,
  args: string[],
  env?: Record<string, string>,
): Promise<Status> {
  for (let i = 0; i < 3; i++) assert.equal((await get(url)).status, 200);
  const result = await run(client(target), ["ctl", ...args, "--json", "status"], { env });
  assert.equal(result.code, 0, result.stderr);
  const status = JSON.parse(result.stdout) as Status;
  assert.ok(status.workers.reduce((n, w) => n + w.requests, 0) >= 3, result.stdout);
  return status;
}

// The workers count their requests for `status` when the master has a control socket: they must
// find the same one, /run/appserve/UID, without the runtime directory or home a service may lack.
e2e(
  "as root with -u nobody, without $XDG_RUNTIME_DIR or $HOME: ctl status counts the requests served",
  async (target) => {
    const name = `ctlcount${process.pid}${target.name}`;
    const env = { XDG_RUNTIME_DIR: "", HOME: "", ...CACHE };
    const server = start(target, ["-u", "nobody", "-n", name, "-b", "127.0.0.1:0", PID_APP], {
      env,
    });
    try {
      const url = await server.ready(1);
      const status = await statusCountsThree(target, url, ["-n", name], env);
      assert.equal(status.master, server.pid);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  },
);

// Workers count for `status` when their master has a control socket, as it tells them: not their
// own guess of its path, from an environment -e changes or a configuration HUP changes.
e2e(
  "ctl status counts the requests of workers whose -e or reloaded configuration names no socket",
  async (target) => {
    const dir = tempDir();
    try {
      // -e: the workers' XDG_RUNTIME_DIR and HOME (relative: no folder) are not the master's.
      const name = `ctlenv${process.pid}${target.name}`;
      const env = { XDG_RUNTIME_DIR: dir.path, ...CACHE };
      const raw = ["-e", "XDG_RUNTIME_DIR=run", "-e", "HOME=home"];
      const server = start(target, [...raw, "-n", name, "-b", "127.0.0.1:0", PID_APP], { env });
      try {
        await statusCountsThree(target, await server.ready(1), ["-n", name], env);
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
      // HUP to control_socket = "off": the master keeps the socket it opened (a WARNING says so),
      // and counts on.
      const socket = join(dir.path, "app.ctl");
      const conf = join(dir.path, "conf.toml");
      writeFileSync(conf, `control_socket = "${socket}"\nbind = ["127.0.0.1:0"]\n`);
      const reloaded = start(target, ["-c", conf, PID_APP]);
      try {
        const url = await reloaded.ready(1);
        const before = childPids(reloaded.pid);
        writeFileSync(conf, `control_socket = "off"\nbind = ["127.0.0.1:0"]\n`);
        reloaded.signal("SIGHUP");
        await reloaded.waitFor(
          new RegExp(
            `\\[WARNING\\] control_socket changed to off: a reload keeps the control socket at ` +
              `${socket.replaceAll(".", "\\.")}; restart appserve to apply it`,
          ),
        );
        await eventually(() => {
          const now = childPids(reloaded.pid);
          return now.length === 1 && !before.includes(now[0]);
        }, "the HUP's worker");
        await statusCountsThree(target, url, ["--control-socket", socket]);
      } finally {
        assert.equal((await reloaded.stop()).code, 0);
      }
    } finally {
      dir.remove();
    }
  },
);

// Root's ctl looks in every user's folder at once: two users' masters of one NAME are both found,
// and ctl picks neither, with or without -n, but names them and the way to pick one.
e2e(
  "as root, two users' masters of the same NAME in /run/appserve: ctl names both sockets and --control-socket, exit 2",
  async (target) => {
    const name = `ctltwin${process.pid}${target.name}`;
    const env = { XDG_RUNTIME_DIR: "", HOME: "", ...CACHE };
    const users = [["-u", "nobody"], ["-u", "12345", "-g", "12345"]];
    const sockets = ["65534", "12345"].map((uid) => join("/run/appserve", uid, `${name}.ctl`));
    const servers = users.map((user) =>
      start(target, [...user, "-n", name, "-b", "127.0.0.1:0", PID_APP], { env })
    );
    try {
      for (const server of servers) await server.ready(1);
      for (const socket of sockets) await eventually(() => existsSync(socket), socket);
      const either = sockets.map((s) => s.replace(/[.]/g, "[.]"));
      const both = `\\(.*(${either[0]}|${either[1]}).*(${either[0]}|${either[1]}).*\\)`;
      for (const args of [["ctl", "status"], ["ctl", "-n", name, "status"]]) {
        const result = await run(client(target), args, { env });
        assertOneLineError(
          result,
          2,
          new RegExp(`^Error: ctl: Several masters .*${both}: name one with --control-socket PATH`),
        );
        assert.ok(sockets.every((s) => result.stderr.includes(s)), result.stderr);
      }
      // Named by its path, each is reached.
      for (const [i, socket] of sockets.entries()) {
        const args = ["ctl", "--control-socket", socket, "--json", "status"];
        const result = await run(client(target), args, { env });
        assert.equal(result.code, 0, result.stderr);
        assert.equal((JSON.parse(result.stdout) as Status).master, servers[i].pid);
      }
    } finally {
      for (const server of servers) assert.equal((await server.stop()).code, 0);
    }
  },
);
