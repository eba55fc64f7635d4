// Server hooks fire in the right process and order; throwing hooks are contained.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  hasStackTrace,
  ownFrames,
  pidOf,
  run,
  type Server,
  start,
  tempDir,
} from "../_helpers.ts";
import { uploadUnderWay } from "../_upload.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const HOOKS = join(FIXTURES, "hooks", "record_hooks.ts");

function recorded(path: string): { name: string; pid: number }[] {
  return readFileSync(path, "utf8").trim().split("\n").map((line) => {
    const [name, pid] = line.split(" ");
    return { name, pid: Number(pid) };
  });
}

e2e(
  "hooks fire in order for a start, one request and a stop, each in its process",
  async (target) => {
    const dir = tempDir();
    const log = join(dir.path, "hooks.log");
    try {
      const server = start(target, ["-w", "1", "--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], {
        env: { HOOKS_LOG: log },
      });
      const url = await server.url();
      const answer = await getWhenReady(url);
      assert.equal(answer.status, 200);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      const events = recorded(log);
      const names = events.map((e) => e.name).filter((n) =>
        n !== "pre_request" && n !== "post_request"
      );
      assert.deepEqual(names, [
        "on_starting",
        "when_ready",
        "pre_fork",
        "post_fork",
        "post_worker_init",
        "worker_exit",
        "child_exit",
        "on_exit",
      ]);
      const worker = events.find((e) => e.name === "post_fork")!.pid;
      const master = server.pid;
      for (const e of events) {
        const inWorker = [
          "post_fork",
          "post_worker_init",
          "pre_request",
          "post_request",
          "worker_exit",
        ].includes(e.name);
        assert.equal(e.pid, inWorker ? worker : master, `${e.name} ran in ${e.pid}`);
      }
      const request = events.filter((e) => e.name.endsWith("_request")).map((e) => e.name);
      assert.deepEqual(request.slice(0, 2), ["pre_request", "post_request"]);
    } finally {
      dir.remove();
    }
  },
);

// A terminal's Ctrl-C (or `docker run -it`'s) is an INT to the whole process group: each worker
// gets it from the terminal and then the master's QUIT. Its stop runs once, as gunicorn's.
e2e("a process group's INT runs worker_int and worker_exit once in each worker", async (target) => {
  const dir = tempDir();
  const log = join(dir.path, "hooks.log");
  try {
    const args = ["-w", "2", "--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP];
    const server = start(target, args, { env: { HOOKS_LOG: log }, detached: true });
    const url = await server.url();
    assert.equal((await getWhenReady(url)).status, 200);
    await eventually(
      () => recorded(log).filter((e) => e.name === "post_worker_init").length === 2,
      "both workers booted",
    );
    process.kill(-server.pid, "SIGINT");
    const result = await server.exited;
    assert.equal(result.code, 0, result.stderr);
    const events = recorded(log);
    const workers = events.filter((e) => e.name === "post_fork").map((e) => e.pid);
    assert.equal(workers.length, 2, result.stderr);
    for (const pid of workers) {
      for (const name of ["worker_int", "worker_exit"]) {
        const times = events.filter((e) => e.name === name && e.pid === pid).length;
        assert.equal(times, 1, `${name} ran ${times} times in ${pid}:\n${result.stderr}`);
      }
      const exiting = result.stderr.split(`Worker exiting (pid: ${pid})`).length - 1;
      assert.equal(exiting, 1, result.stderr);
    }
  } finally {
    dir.remove();
  }
});

const CLASSES: [string, string[]][] = [
  ["sync", ["-k", "sync"]],
  ["async", ["-k", "async"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
];

// As gunicorn's handle_request: pre_request runs inside the request's try, so its throw fails
// that request (a 500, "Error handling request" with the hook's stack; post_request still runs),
// while a post_request's throw is logged, "Exception in post_request hook", and the answer goes.
for (const [name, args] of CLASSES) {
  e2e(
    `a throwing pre_request fails its request, a post_request's is contained (${name})`,
    async (t) => {
      const dir = tempDir();
      try {
        for (const hook of ["pre_request", "post_request"]) {
          const log = join(dir.path, `${hook}.log`);
          const env = { HOOKS_LOG: log, HOOKS_THROW: hook };
          const server = start(t, [
            "-w",
            "1",
            ...args,
            "--hooks",
            HOOKS,
            "-b",
            "127.0.0.1:0",
            PID_APP,
          ], {
            env,
          });
          try {
            const url = await server.ready(1);
            const answer = await get(`${url}/x?y=1`);
            const head = hook === "pre_request"
              ? "[ERROR] Error handling request GET /x?y=1\n"
              : "[ERROR] Exception in post_request hook\n";
            assert.equal(answer.status, hook === "pre_request" ? 500 : 200, server.stderr);
            await server.waitFor(
              new RegExp(`${RegExp.escape(head)}Error: ${hook} failed on purpose`),
            );
            // The hook's frame, not appserve's that called it (its bundle's, or the binary's).
            const entry = server.stderr.split(head)[1].split(/\n(?=\[\d{4}-)/)[0];
            assert.match(entry, /\n +at .*record_hooks\.ts:\d+:\d+\)?(\n|$)/, entry);
            assert.deepEqual(ownFrames(entry), [], entry);
            // gunicorn's `finally`: post_request runs after a failed pre_request too.
            await eventually(
              () => recorded(log).some((e) => e.name === "post_request"),
              "post_request",
            );
            assert.equal((await get(url)).status, hook === "pre_request" ? 500 : 200);
          } finally {
            assert.equal((await server.stop()).code, 0);
          }
        }
      } finally {
        dir.remove();
      }
    },
  );
}

e2e("a throwing on_starting hook aborts start-up with one clear line", async (target) => {
  const dir = tempDir();
  try {
    const env = { HOOKS_LOG: join(dir.path, "hooks.log"), HOOKS_THROW: "on_starting" };
    const result = await run(target, ["--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], { env });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      "Error: on_starting hook failed: Error: on_starting failed on purpose\n",
    );
    assert.ok(!hasStackTrace(result.stderr));
  } finally {
    dir.remove();
  }
});

e2e("a hooks module that cannot load is a start-up error", async (target) => {
  const result = await run(target, [
    "--hooks",
    join(FIXTURES, "apps", "import_error.ts"),
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^Error: Cannot load hooks module .*import_error\.ts: .*import_error\.ts:2:\d+: Error: this module cannot be imported\n$/,
  );
});

// gunicorn's `worker.log.info(...)` in a hook: each worker hook logs through the worker's logger,
// pre_fork and child_exit through the master's; under gthread the request hooks run in a thread.
for (const workerClass of [["-k", "async"], ["-k", "gthread", "--threads", "2"]]) {
  e2e(`worker.log in every hook given a worker (${workerClass[1]})`, async (target) => {
    const dir = tempDir();
    try {
      const errorLog = join(dir.path, "error.log");
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", ...workerClass, "--hooks", join(FIXTURES, "hooks", "log_hooks.ts")],
        ...["--error-logfile", errorLog, "-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      const url = `http://127.0.0.1:${port}`;
      const worker = pidOf(await getWhenReady(url));
      assert.equal((await get(`${url}/after-ready`)).status, 200);
      // A quick stop: the worker runs worker_int, then worker_exit.
      server.signal("SIGINT");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      const text = readFileSync(errorLog, "utf8");
      const said = (pid: number, name: string, subject: number) =>
        assert.match(
          text,
          new RegExp(`\\[${pid}\\] \\[INFO\\] ${name} hook says: worker ${subject} age 1$`, "m"),
          text,
        );
      said(server.pid, "pre_fork", 0);
      for (const name of ["post_fork", "post_worker_init", "pre_request", "post_request"]) {
        said(worker, name, worker);
      }
      said(worker, "worker_int", worker);
      said(worker, "worker_exit", worker);
      said(server.pid, "child_exit", worker);
      assert.doesNotMatch(text, /Exception in \w+ hook/, text);
    } finally {
      dir.remove();
    }
  });
}

// gunicorn calls post_request in a `finally`: a request the app fails still gets it, with the
// answer the client got (the 500, or --request-timeout's 504), in every worker class.
const FAILED: [string, number][] = [["/throw", 500], ["/reject", 500], ["/none", 500], [
  "/hang",
  504,
]];

for (
  const [name, args] of [
    ["async", ["-k", "async"]],
    ["sync", ["-k", "sync"]],
    ["gthread", ["-k", "gthread", "--threads", "2"]],
    ["async, --reuse-port", ["-k", "async", "--reuse-port"]],
    ["sync, --reuse-port", ["-k", "sync", "--reuse-port"]],
  ] as const
) {
  e2e(`post_request runs when the app fails, with the response sent (${name})`, async (target) => {
    const port = await freePort();
    const server = start(target, [
      ...["-w", "1", ...args, "--hooks", join(FIXTURES, "hooks", "request_hooks.ts")],
      ...["--request-timeout", "1", "-b", `127.0.0.1:${port}`],
      join(FIXTURES, "apps", "failing_app.ts"),
    ]);
    try {
      const url = await server.ready();
      for (const [path, status] of FAILED) {
        assert.equal((await get(url + path)).status, status, path);
        await server.waitFor(new RegExp(`\\[INFO\\] post_request GET ${path} ${status}\\n`));
        assert.match(server.stderr, new RegExp(`\\[INFO\\] pre_request GET ${path}\\n`));
        // Logged once, as without hooks.
        const logged = server.stderr.split(`[ERROR] Error handling request GET ${path}\n`);
        assert.equal(logged.length, status === 500 ? 2 : 1, server.stderr);
      }
      assert.doesNotMatch(server.stderr, /Exception in \w+ hook/);
    } finally {
      await server.stop();
    }
  });
}

// A body the client cut is its fault, with the hooks as without: 400, a WARNING and no ERROR.
for (const [name, args] of [["the shared socket", []], ["--reuse-port", ["--reuse-port"]]]) {
  e2e(`post_request runs for an upload the client cut, on ${name}: 400, no ERROR`, async (t) => {
    const port = await freePort();
    const server = start(t, [
      ...["-w", "1", ...args, "--hooks", join(FIXTURES, "hooks", "request_hooks.ts")],
      ...["-b", `127.0.0.1:${port}`, join(FIXTURES, "apps", "failing_app.ts")],
    ]);
    try {
      const url = new URL(await server.ready());
      const socket = await uploadUnderWay(url);
      socket.destroy();
      await server.waitFor(/\[INFO\] post_request POST \/upload 400\n/);
      assert.match(
        server.stderr,
        /\[WARNING\] Invalid request from ip=127\.0\.0\.1: client closed/,
      );
      assert.doesNotMatch(server.stderr, /\[ERROR\]/);
    } finally {
      await server.stop();
    }
  });
}

// gunicorn's example hook, as written: `server.log.info("Worker spawned (pid: %s)", worker.pid)`.
e2e("a hook logging with gunicorn's %s arguments shows their values", async (target) => {
  const server = start(target, [
    ...["-w", "1", "--hooks", join(FIXTURES, "hooks", "request_hooks.ts")],
    ...["-b", "127.0.0.1:0", PID_APP],
  ]);
  try {
    await server.ready();
    // post_fork runs in the worker: the line's pid and the one it names are the worker's.
    const [, pid] = await server.waitFor(/\[(\d+)\] \[INFO\] Worker spawned \(pid: (\d+)\)\n/);
    assert.match(
      server.stderr,
      new RegExp(`\\[${pid}\\] \\[INFO\\] Worker spawned \\(pid: ${pid}\\)`),
    );
    assert.doesNotMatch(server.stderr, /%s/);
  } finally {
    await server.stop();
  }
});

// A hooks module that logs "hooks TAG: NAME" from its master hooks and post_fork.
function hooksModule(tag: string): string {
  const say = (name: string, arg = "server") =>
    `export const ${name} = (${arg}) => ${arg}.log.info("hooks ${tag}: ${name}");\n`;
  return ["on_reload", "pre_fork", "post_fork", "child_exit", "on_exit"].map((n) => say(n)).join(
    "",
  );
}

// gunicorn's HUP reads the config file again, its hooks too: the master runs the new master
// hooks from then on (on_reload first), new workers the new worker hooks, whether the module
// was edited or the config file names another. One that cannot load keeps the old hooks.
e2e(
  "HUP loads the hooks module again: edited, renamed, or broken (the old ones stay)",
  async (t) => {
    const dir = tempDir();
    let server: Server | undefined;
    try {
      const [first, second] = ["first.ts", "second.ts"].map((f) => join(dir.path, f));
      const toml = join(dir.path, "appserve.toml");
      writeFileSync(first, hooksModule("v1"));
      writeFileSync(toml, `hooks = "${first}"\nworkers = 1\n`);
      const running = server = start(t, ["-c", toml, "-b", "127.0.0.1:0", PID_APP]);
      await running.ready(1);
      await running.waitFor(/\[INFO\] hooks v1: post_fork\n/);
      const hup = async (tag: string) => {
        running.signal("SIGHUP");
        const master = `\\[${running.pid}\\] \\[INFO\\] hooks ${tag}: `;
        await running.waitFor(new RegExp(`${master}on_reload\n(.*\n)*.*${master}pre_fork\n`));
        const [, worker] = await running.waitFor(
          new RegExp(`\\[(\\d+)\\] \\[INFO\\] hooks ${tag}: post_fork\n`),
        );
        assert.notEqual(Number(worker), running.pid);
        // The old worker's exit, told by the new hooks.
        await running.waitFor(new RegExp(`${master}child_exit\n`));
      };
      writeFileSync(first, hooksModule("v2"));
      await hup("v2");
      writeFileSync(second, hooksModule("v3"));
      writeFileSync(toml, `hooks = "${second}"\nworkers = 1\n`);
      await hup("v3");
      writeFileSync(second, 'throw new Error("broken on purpose");\n');
      running.signal("SIGHUP");
      await running.waitFor(
        /\[ERROR\] Reload failed, keeping the running workers: Cannot load hooks module .*second\.ts: .*broken on purpose\n/,
      );
      const result = await running.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`\\[${running.pid}\\] \\[INFO\\] hooks v3: on_exit\n`),
      );
      assert.doesNotMatch(result.stderr, /hooks v[12]: on_exit/);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
      assert.equal(result.stderr.match(/\[ERROR\]/g)?.length, 1, result.stderr);
    } finally {
      await server?.stop();
      dir.remove();
    }
  },
);

// The part of the error log that follows `head`, up to the next log line.
function entryAfter(text: string, head: string): string {
  return (text.split(head)[1] ?? "").split(/\n(?=\[\d{4}-)/)[0];
}

const BOOT_HOOKS: [string, string, string][] = [
  ["post_fork", "HOOKS_THROW", "failed"],
  ["post_worker_init", "HOOKS_REJECT", "rejected"],
];

// gunicorn: a raise in post_fork or post_worker_init is a boot failure (exit 3), and at start
// the server halts: a worker whose DB pool or tracing set-up failed must not serve without it.
for (
  const [name, args] of [["sync", ["-k", "sync"]], ["async", ["-k", "async"]], [
    "gthread",
    ["-k", "gthread", "--threads", "2"],
  ]] as const
) {
  e2e(
    `a failing post_fork or post_worker_init fails the boot: the server halts (${name})`,
    async (t) => {
      for (const [hook, how, said] of BOOT_HOOKS) {
        const dir = tempDir();
        try {
          const log = join(dir.path, "hooks.log");
          const result = await run(t, [
            "-w",
            "1",
            ...args,
            "--hooks",
            HOOKS,
            "-b",
            "127.0.0.1:0",
            PID_APP,
          ], {
            env: { HOOKS_LOG: log, [how]: hook },
          });
          assert.equal(result.code, 3, `${hook}:\n${result.stderr}`);
          // The worker's line: the hook's error with the hook's own frame, none of appserve's.
          const entry = entryAfter(result.stderr, `[ERROR] Exception in ${hook} hook\n`);
          assert.match(
            entry,
            new RegExp(`^Error: ${hook} ${said} on purpose\n +at .*record_hooks\\.ts:\\d+:\\d+`),
            result.stderr,
          );
          assert.deepEqual(ownFrames(entry), [], entry);
          // The master's names the hook and where it failed.
          assert.match(
            result.stderr,
            new RegExp(
              `\\[ERROR\\] Reason: Worker failed to boot: ${hook} hook failed: \\S*record_hooks\\.ts:\\d+:\\d+: Error: ${hook} ${said} on purpose\n`,
            ),
          );
          const names = recorded(log).map((e) => e.name);
          // post_fork failed: the app was not loaded, no post_worker_init; the worker's exit ran.
          if (hook === "post_fork") assert.ok(!names.includes("post_worker_init"), names.join());
          assert.ok(names.includes("worker_exit"), names.join());
          assert.ok(!names.includes("pre_request"), names.join());
        } finally {
          dir.remove();
        }
      }
    },
  );
}

// While other workers serve, a replacement whose post_fork fails is said and tried again later
// (the arbiter's path for any boot failure), and the server serves on.
e2e("a replacement worker whose post_fork fails is named and the others serve on", async (t) => {
  const dir = tempDir();
  try {
    const armed = join(dir.path, "armed");
    const env = {
      HOOKS_LOG: join(dir.path, "hooks.log"),
      HOOKS_THROW: "post_fork",
      HOOKS_ARMED: armed,
    };
    const metrics = await freePort();
    const server = start(t, [
      ...["-w", "2", "--hooks", HOOKS, "--metrics-bind", `127.0.0.1:${metrics}`],
      ...["-b", "127.0.0.1:0", PID_APP],
    ], { env });
    try {
      const url = await server.ready(2);
      // Past the start-up (both workers booted), where a boot failure halts instead.
      await eventually(
        async () =>
          (await get(`http://127.0.0.1:${metrics}/readyz`)).body.startsWith(
            "ready: 2 of 2 workers serve",
          ),
        "both workers booted",
      );
      writeFileSync(armed, "");
      const victim = pidOf(await get(url));
      process.kill(victim, "SIGKILL");
      await server.waitFor(
        /\[ERROR\] Replacement worker \(pid:\d+\) failed to boot, keeping the running workers: post_fork hook failed: \S*record_hooks\.ts:\d+:\d+: Error: post_fork failed on purpose; trying again in /,
      );
      const answer = await get(url);
      assert.equal(answer.status, 200);
      assert.notEqual(pidOf(answer), victim);
    } finally {
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    }
  } finally {
    dir.remove();
  }
});

// gunicorn logs a failing worker_exit as a WARNING, "Exception during worker exit", with the
// traceback; the worker's exit goes on.
e2e(
  "a throwing worker_exit is a WARNING with its stack, and the worker exits as asked",
  async (t) => {
    const dir = tempDir();
    try {
      const env = { HOOKS_LOG: join(dir.path, "hooks.log"), HOOKS_THROW: "worker_exit" };
      const server = start(t, ["-w", "1", "--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], { env });
      await server.ready(1);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      const entry = entryAfter(result.stderr, "[WARNING] Exception during worker exit:\n");
      assert.match(
        entry,
        /^Error: worker_exit failed on purpose\n +at .*record_hooks\.ts:\d+:\d+/,
        result.stderr,
      );
      assert.deepEqual(ownFrames(entry), [], entry);
      assert.doesNotMatch(result.stderr, /\[ERROR\]/);
    } finally {
      dir.remove();
    }
  },
);

// worker_abort's and worker_int's throws are logged and the exit they came for goes on (ABRT's
// exit 1, replaced by the master; INT's quick stop, exit 0).
e2e("a throwing worker_abort or worker_int is logged and the worker exits as asked", async (t) => {
  const dir = tempDir();
  try {
    const env = { HOOKS_LOG: join(dir.path, "hooks.log"), HOOKS_THROW: "worker_abort,worker_int" };
    const server = start(t, ["-w", "1", "--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], { env });
    const url = await server.ready(1);
    const first = pidOf(await get(url));
    process.kill(first, "SIGABRT");
    await server.waitFor(
      new RegExp(
        `\\[${first}\\] \\[ERROR\\] Exception in worker_abort hook\nError: worker_abort failed on purpose\n`,
      ),
    );
    await server.waitFor(new RegExp(`Worker \\(pid:${first}\\) exited with code 1\\.`));
    const second = pidOf(await getWhenReady(url));
    assert.notEqual(second, first);
    server.signal("SIGINT");
    const result = await server.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `\\[${second}\\] \\[ERROR\\] Exception in worker_int hook\nError: worker_int failed on purpose\n`,
      ),
    );
    assert.match(result.stderr, new RegExp(`\\[${second}\\] \\[INFO\\] Worker exiting`));
  } finally {
    dir.remove();
  }
});

// A HUP whose new workers' post_fork fails is a reload that failed, as any boot failure there:
// the running workers stay.
e2e("a HUP whose new post_fork fails keeps the running workers, the hook named", async (t) => {
  const dir = tempDir();
  try {
    const armed = join(dir.path, "armed");
    const env = {
      HOOKS_LOG: join(dir.path, "hooks.log"),
      HOOKS_THROW: "post_fork",
      HOOKS_ARMED: armed,
    };
    const server = start(t, ["-w", "1", "--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], { env });
    try {
      const url = await server.ready(1);
      const first = pidOf(await getWhenReady(url));
      writeFileSync(armed, "");
      server.signal("SIGHUP");
      await server.waitFor(
        /\[ERROR\] Reload failed, keeping the running workers: Worker failed to boot: post_fork hook failed: \S*record_hooks\.ts:\d+:\d+: Error: post_fork failed on purpose\n/,
      );
      assert.equal(pidOf(await get(url)), first);
    } finally {
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    }
  } finally {
    dir.remove();
  }
});
