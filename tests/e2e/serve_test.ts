// The spine end to end: real masters, real workers, real sockets and signals.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  pidOf,
  run,
  sentWithLength,
  type Server,
  start,
  startOneWorker,
  startSocketActivated,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { rawConnect, rawExchange } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** Distinct worker pids seen over fresh connections within `ms` (workers may still be booting). */
async function spread(url: string, want: number, ms = 10_000): Promise<Set<number>> {
  const pids = new Set<number>();
  const deadline = Date.now() + ms;
  while (pids.size < want && Date.now() < deadline) pids.add(pidOf(await get(url)));
  return pids;
}

/**
 * The Content-Type of a Response made from a string, as the workers' runtime serves it natively:
 * Bun.serve's spelling, or the Fetch spec's that Deno puts in the headers.
 */
function textType(target: Target): string {
  return target.workers === "bun" ? "text/plain;charset=utf-8" : "text/plain;charset=UTF-8";
}

async function stopClean(server: Server): Promise<void> {
  const workers = childPids(server.pid);
  const result = await server.stop();
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /\[INFO\] Shutting down: Master/);
  for (const pid of workers) assert.ok(!alive(pid), `worker ${pid} outlived the master`);
}

e2e("serves over TCP and spreads requests over every worker", async (target) => {
  const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready();
  await eventually(
    () => server.all(/Booting worker with pid: \d+/g).length === 2,
    "2 workers booted",
  );
  const pids = await spread(url, 2);
  assert.equal(pids.size, 2, `answers came from ${[...pids]}`);
  const peer = await get(`${url}/peer`);
  assert.equal(peer.body, "127.0.0.1 127.0.0.1\n");
  assert.equal(peer.headers["content-type"], textType(target), "as under --reuse-port");
  await sentWithLength(`${url}/bytes`);
  assert.deepEqual(new Set(childPids(server.pid)), pids);
  assert.match(
    server.stderr,
    /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] Starting appserve 0\.1\.0$/m,
  );
  assert.match(
    server.stderr,
    new RegExp(`\\[INFO\\] Listening at: http://127\\.0\\.0\\.1:\\d+ \\(${server.pid}\\)`),
  );
  assert.match(server.stderr, /\[INFO\] Using worker: async/);
  await stopClean(server);
});

e2e("serves on a unix socket and removes the socket file on exit", async (target) => {
  const dir = tempDir();
  const socketPath = join(dir.path, "app.sock");
  try {
    const server = start(target, [
      "-w",
      "2",
      "--bind",
      `unix:${socketPath}`,
      "-e",
      "APPSERVE_FIXTURE_ENV=from-e",
      PID_APP,
    ]);
    await server.waitFor(new RegExp(`Listening at: unix:${socketPath} \\(${server.pid}\\)`));
    const answer = await getWhenReady("http://localhost/", { socketPath });
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^hello pid \d+/);
    const echo = await get("http://localhost/echo?x=1", {
      socketPath,
      method: "POST",
      body: "payload",
    });
    assert.deepEqual(JSON.parse(echo.body), {
      method: "POST",
      url: "http://localhost/echo?x=1",
      body: "payload",
      header: null,
      env: "from-e",
    });
    // -e sets the variable in the workers only.
    assert.doesNotMatch(
      readFileSync(`/proc/${server.pid}/environ`, "latin1"),
      /APPSERVE_FIXTURE_ENV/,
    );
    await stopClean(server);
    assert.ok(!existsSync(socketPath), "socket file left behind");
  } finally {
    dir.remove();
  }
});

e2e("takes gunicorn's tcp://HOST:PORT and unix://PATH binds", async (target) => {
  const dir = tempDir();
  const socketPath = join(dir.path, "app.sock");
  try {
    const port = await freePort();
    const server = start(target, [
      ...["-b", `tcp://127.0.0.1:${port}`, "-b", `unix://${socketPath}`, PID_APP],
    ]);
    await server.waitFor(
      new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port},unix:${socketPath} \\(`),
    );
    assert.equal((await getWhenReady(`http://127.0.0.1:${port}/`)).status, 200);
    assert.equal((await get("http://localhost/", { socketPath })).status, 200);
    await stopClean(server);
    assert.ok(!existsSync(socketPath), "socket file left behind");
  } finally {
    dir.remove();
  }
});

e2e("replaces a worker killed with SIGKILL and keeps serving", async (target) => {
  const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP]);
  // Both must have booted (and logged so): the test counts "Booting worker" lines.
  const url = await server.allAnswering(2);
  const [victim] = childPids(server.pid);
  process.kill(victim, "SIGKILL");
  await server.waitFor(
    new RegExp(`\\[ERROR\\] Worker \\(pid:${victim}\\) was sent SIGKILL! Perhaps out of memory\\?`),
  );
  await eventually(
    () => server.all(/Booting worker with pid: \d+/g).length === 3,
    "a replacement booted",
  );
  await eventually(
    () => childPids(server.pid).length === 2 && !childPids(server.pid).includes(victim),
    "2 workers again",
  );
  const pids = await spread(url, 2);
  assert.ok(!pids.has(victim));
  assert.equal(pids.size, 2);
  await stopClean(server);
});

e2e("SIGTERM lets an in-flight request finish, then exits 0", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready();
  const slow = get(`${url}/slow?ms=1500`);
  await new Promise((r) => setTimeout(r, 300));
  server.signal("SIGTERM");
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.match(answer.body, /^slow done pid/);
  const result = await server.exited;
  assert.equal(result.code, 0);
  assert.match(result.stderr, /\[INFO\] Handling signal: term/);
  assert.match(result.stderr, /\[INFO\] Worker exiting \(pid: \d+\)/);
});

e2e(
  "an exception in the app gives 500, an ERROR line with the request and stack, and the worker lives on",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.url();
    const before = pidOf(await getWhenReady(url));
    const boom = await get(`${url}/boom?q=1`);
    assert.equal(boom.status, 500);
    await server.waitFor(
      /\[ERROR\] Error handling request GET \/boom\?q=1\nError: boom from the app\n\s+at /,
    );
    assert.equal(pidOf(await get(url)), before);
    await stopClean(server);
  },
);

e2e("TTIN adds a worker and TTOU removes the oldest, never below one", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  await getWhenReady(await server.url());
  const [first] = childPids(server.pid);
  server.signal("SIGTTIN");
  await eventually(() => childPids(server.pid).length === 2, "2 workers after TTIN");
  server.signal("SIGTTOU");
  await eventually(
    () => !alive(first) && childPids(server.pid).length === 1,
    "the oldest retired after TTOU",
  );
  server.signal("SIGTTOU");
  await server.waitFor(/Handling signal: ttou[\s\S]*Handling signal: ttou/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(childPids(server.pid).length, 1);
  await stopClean(server);
});

e2e("loads apps by module name, export, dotted attribute and factory call", async (target) => {
  const cwd = join(FIXTURES, "apps");
  const forms: [string, RegExp][] = [
    ["shapes:app", /^named app/],
    ["shapes:api.v1", /^api\.v1/],
    ["shapes.ts:handler", /^function handler/],
    ['shapes.ts:createApp({"greeting":"hey"})', /^hey pid/],
    ["hono_app:app", /^hono pid/],
  ];
  for (const [spec, expected] of forms) {
    const server = start(target, ["-b", "127.0.0.1:0", spec], { cwd });
    const answer = await getWhenReady(await server.url());
    assert.match(answer.body, expected, spec);
    await stopClean(server);
  }
});

// itty-router's AutoRouter answers every property: a `then` that never settled hung the boot.
e2e("serves an app that answers every property, then too (itty-router's AutoRouter)", async (t) => {
  const cwd = join(FIXTURES, "apps");
  const forms: [string, RegExp][] = [
    ["thenable_app", /^router pid/],
    ["thenable_app:make()", /^made pid/],
    ["thenable_app:handler", /^function pid/],
  ];
  for (const [spec, expected] of forms) {
    const check = await run(t, ["--check-config", spec], { cwd });
    assert.equal(check.code, 0, `${spec}: ${check.stderr}`);
    const server = start(t, ["-b", "127.0.0.1:0", spec], { cwd });
    const answer = await getWhenReady(await server.url());
    assert.match(answer.body, expected, spec);
    await stopClean(server);
  }
  // A handler returning such an app instead of a Response: a 500 and a line, not a request
  // waiting forever on its `then`.
  const server = start(t, ["-b", "127.0.0.1:0", "thenable_app:perRequest"], { cwd });
  const url = await server.url();
  const answer = getWhenReady(url);
  await server.waitFor(/app handler returned an app \(an object with a fetch method\)/);
  assert.equal((await answer).status, 500);
  await stopClean(server);
});

e2e("--reuse-port serves TCP from per-worker native listeners", async (target) => {
  const probe = start(target, ["-b", "127.0.0.1:0", PID_APP]);
  const port = new URL(await probe.url()).port;
  await probe.stop();
  const server = start(target, ["-w", "2", "--reuse-port", "-b", `127.0.0.1:${port}`, PID_APP]);
  const url = await server.url();
  assert.equal(new URL(url).port, port);
  await eventually(() => childPids(server.pid).length === 2, "2 workers");
  assert.match((await getWhenReady(url)).body, /^hello pid \d+/);
  const pids = await spread(url, 2);
  assert.equal(pids.size, 2);
  assert.equal((await get(`${url}/boom`)).status, 500);
  const peer = await get(`${url}/peer`);
  assert.equal(peer.body, "127.0.0.1 127.0.0.1\n");
  assert.equal(peer.headers["content-type"], textType(target), "as on the shared socket");
  await stopClean(server);
});

e2e(
  "serves an inherited listening descriptor given as fd://3 (systemd-socket-activate)",
  async (target) => {
    const port = await freePort();
    const activator = startSocketActivated(target, port, ["-w", "2", "-b", "fd://3", PID_APP]);
    try {
      await activator.waitFor(/Listening on 127\.0\.0\.1:\d+ as 3\./);
      // The first connection makes systemd-socket-activate start appserve.
      const answer = await getWhenReady(`http://127.0.0.1:${port}/`);
      assert.match(answer.body, /^hello pid \d+/);
      await activator.waitFor(
        new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} \\(fd 3\\) \\(\\d+\\)`),
      );
    } finally {
      const result = await activator.stop();
      assert.match(result.stderr, /Shutting down: Master/);
    }
  },
);

e2e(
  "--reuse-port: a request without a usable Host reaches the app with one (HTTP/1.0) or gets a short error, never the runtime's error page",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      "-w",
      "1",
      "--reuse-port",
      "-b",
      `127.0.0.1:${port}`,
      join(FIXTURES, "apps", "client_app.ts"),
    ]);
    await getWhenReady(await server.url());
    // HTTP/1.0 without a Host: Bun's request.url is the bare path; the app gets a whole URL.
    const bare = await rawExchange(port, "GET /e?x=1 HTTP/1.0\r\n\r\n");
    assert.equal(bare.status, 200, bare.text);
    const body = bare.text.slice(bare.text.indexOf("\r\n\r\n") + 4);
    assert.match(JSON.parse(body).url, /^http:\/\/[^/]+\/e\?x=1$/);
    // A Host the URL parser refuses: Bun passes it on escaped, Deno as it came, and the app's own
    // new URL() throws: an app error like any other (logged, a plain 500), never Bun's page.
    const spaced = await rawExchange(
      port,
      "GET /e HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
    );
    assert.ok([200, 400, 500].includes(spaced.status), spaced.text.slice(0, 300));
    assert.ok(spaced.text.length < 400, spaced.text.slice(0, 600));
    assert.doesNotMatch(spaced.text, /appserve\b.*\.ts|<html/i);
    assert.equal((await getWhenReady(await server.url())).status, 200);
    await stopClean(server);
    if (spaced.status === 500) {
      assert.match(server.stderr, /\[ERROR\] Error handling request GET http:\/\/a b\/e\n/);
    }
    assert.doesNotMatch(server.stderr, /Uncaught|error: /);
  },
);

const TIMEOUT_SETUPS: [string, string[]][] = [
  ["", []],
  [" (gthread)", ["-k", "gthread", "--threads", "2"]],
  [" (--reuse-port)", ["--reuse-port"]],
  // A connection closed after its response: Bun's server is told no idle timer to set.
  [" (--reuse-port, --keep-alive 0)", ["--reuse-port", "--keep-alive", "0"]],
];
for (const [name, args] of TIMEOUT_SETUPS) {
  e2e(
    `server.timeout(request, seconds), Bun's, can be called by the app${name}`,
    async (target) => {
      const server = await startOneWorker(
        target,
        join(FIXTURES, "apps", "server_timeout_app.ts"),
        args,
      );
      const answer = await getWhenReady(await server.url());
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.body, "timeout called\n");
      await stopClean(server);
    },
  );
}

// The app's request has a tapped body under Bun workers on --reuse-port (clientLeftMidBody), a
// copy Bun's server ignored: server.timeout() did nothing for a POST, and a stalled upload went on.
e2e("server.timeout(request, seconds) applies to a POST under --reuse-port", async (target) => {
  if (target.workers !== "bun") return;
  const server = await startOneWorker(
    target,
    join(FIXTURES, "apps", "server_timeout_app.ts"),
    ["--reuse-port"],
  );
  const url = new URL(await server.url());
  await getWhenReady(url.href);
  const socket = await rawConnect(Number(url.port));
  socket.on("error", () => {});
  let closed = false;
  socket.on("close", () => closed = true);
  // 2 of the 10 bytes, then nothing: the app's one second of idleness cuts the connection.
  socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
  await eventually(() => closed, "Bun's server closing the stalled upload");
  await server.stop();
});

// One thread: the app's record lives in each thread's own module.
const COMPLETED_SETUPS: [string, string[]][] = [
  ["", []],
  [" (gthread)", ["-k", "gthread", "--threads", "1"]],
  [" (--reuse-port)", ["--reuse-port"]],
  // A connection closed after its response: Bun's server is told no idle timer to set.
  [" (--reuse-port, --keep-alive 0)", ["--reuse-port", "--keep-alive", "0"]],
];
for (const [name, args] of COMPLETED_SETUPS) {
  e2e(
    `info.completed, Deno's, settles once the response has gone out${name}`,
    async (target) => {
      const server = await startOneWorker(target, join(FIXTURES, "apps", "completed_app.ts"), args);
      const url = await server.url();
      // Under Bun's own server (--reuse-port, Bun workers), which has none, it is appserve's.
      const first = await getWhenReady(`${url}/stream`);
      assert.equal(first.status, 200, first.body);
      assert.equal(first.body, "part one\npart two\n");
      await get(`${url}/stream`);
      await eventually(
        async () =>
          (await get(`${url}/log`)).body === "completed-after-body,completed-after-body\n",
        "completed twice, each after its body",
      );
      await stopClean(server);
    },
  );
}
