// The gthread worker class observed from outside: threads in one worker
// process run CPU-bound requests in parallel, bodies stream across the thread
// boundary, crashed and hung threads are replaced while the process lives on.

import assert from "node:assert/strict";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import {
  childPids,
  countConnections,
  e2e,
  eventually,
  FIXTURES,
  get,
  holdConnections,
  ownFrames,
  run,
  sentWithLength,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { newPki } from "../_tls.ts";

const APP = join(FIXTURES, "apps", "threads_app.ts");
const HOOKS = join(FIXTURES, "hooks", "record_hooks.ts");

interface Timed {
  pid: number;
  thread: string;
  start: number;
  end: number;
}

function gthread(target: Target, extra: string[] = [], env: Record<string, string> = {}) {
  return start(target, ["-w", "1", "--threads", "2", "-b", "127.0.0.1:0", ...extra, APP], { env });
}

async function json<T>(url: string): Promise<T> {
  const answer = await get(url);
  assert.equal(answer.status, 200, answer.body);
  return JSON.parse(answer.body) as T;
}

e2e("gthread runs two CPU-bound requests in parallel in one worker process", async (target) => {
  const server = gthread(target);
  const url = await server.ready(1);
  await server.waitFor(/\[INFO\] Using worker: gthread/);
  const [a, b] = await Promise.all([
    json<Timed>(`${url}/cpu?ms=800`),
    json<Timed>(`${url}/cpu?ms=800`),
  ]);
  assert.equal(a.pid, b.pid, "one worker process");
  assert.notEqual(a.thread, b.thread, "two app instances");
  // Each spun without yielding, so they overlap only if they ran on two threads at once.
  assert.ok(a.start < b.end && b.start < a.end, `no overlap: ${JSON.stringify([a, b])}`);
  await sentWithLength(`${url}/bytes`);
  await server.stop();
});

// Each thread accepts for itself, and a thread may take a whole burst in one wake-up: the one
// that took both hands one over (src/worker/thread_board.ts) rather than run them in turn.
e2e(
  "gthread: two connections opened at once run in parallel, whichever thread took them",
  async (target) => {
    const server = gthread(target);
    const url = await server.ready(1);
    for (let round = 0; round < 8; round++) {
      // Both threads idle again: the previous round's answers may have gone out a little apart.
      await sleep(200);
      const [a, b] = await Promise.all([
        json<Timed>(`${url}/cpu?ms=300`),
        json<Timed>(`${url}/cpu?ms=300`),
      ]);
      assert.notEqual(a.thread, b.thread, `round ${round}: one thread ran both`);
      assert.ok(a.start < b.end && b.start < a.end, `round ${round}: ${JSON.stringify([a, b])}`);
    }
    await server.stop();
  },
);

/** One request over TLS on `socket` (connected, the handshake not begun): its status. */
function tlsStatus(socket: Socket, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, rejectUnauthorized: false }, () => {
      tls.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`);
    });
    let text = "";
    tls.on("data", (d) => (text += d));
    tls.once("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    tls.once("error", reject);
  });
}

// A TLS connection reaches the thread's HTTP layer only once its handshake's first bytes come:
// until then it is new all the same, so a thread that accepted two at once hands one over.
e2e(
  "gthread: two TLS connections accepted together before their handshakes run on two threads",
  async (target) => {
    const dir = tempDir();
    const pki = newPki(join(dir.path, "pki"));
    const arrived = join(dir.path, "arrived");
    const server = gthread(target, ["--certfile", pki.cert, "--keyfile", pki.key], {
      APPSERVE_FIXTURE_MEET: dir.path,
    });
    const port = Number((await server.waitFor(/Listening at: https:\/\/[^ ]+:(\d+)/))[1]);
    await eventually(() => childPids(server.pid).length === 1, "the worker");
    const [worker] = childPids(server.pid);
    // Both threads loaded and serving.
    await eventually(async () => {
      const [socket] = await holdConnections(port, 1);
      return await tlsStatus(socket, "/whoami").catch(() => 0) === 200;
    }, "a TLS answer");
    // Which thread takes a pair is the kernel's choice: enough rounds that one takes both.
    for (let round = 0; round < 8; round++) {
      rmSync(arrived, { force: true });
      await eventually(() => countConnections([worker], port)[0] === 0, "no connection left");
      // Accepted, then the handshakes: the thread that took both saw nothing of them yet.
      const pair = await holdConnections(port, 2);
      await eventually(() => countConnections([worker], port)[0] === 2, "the two accepted");
      // /await answers once /arrive began: a 504 when /arrive waits behind it on its thread.
      const statuses = await Promise.all([
        tlsStatus(pair[0], "/await?ms=5000"),
        tlsStatus(pair[1], "/arrive"),
      ]);
      assert.deepEqual(statuses, [200, 200], `round ${round}: both on one thread`);
    }
    await server.stop();
    dir.remove();
  },
);

e2e(
  "gthread: --worker-connections caps the connections of all threads together",
  async (target) => {
    const server = gthread(target, ["--worker-connections", "3"]);
    const url = await server.ready(1);
    const port = Number(new URL(url).port);
    const [worker] = childPids(server.pid);
    // ready()'s connection gone: a burst that finds it still counted may exceed a thread's part
    // (as a burst may exceed an async worker's limit: it was accepted before the gate held).
    await eventually(
      () => countConnections([worker], port)[0] === 0,
      "ready()'s connection closed",
    );
    const idle = await holdConnections(port, 3);
    // Accepted by the worker (a connection in the listen queue has no process in ss yet): a
    // fourth in the same burst might be taken with them before a gate holds, as in any worker.
    await eventually(
      () => countConnections([worker], port)[0] === 3,
      "the worker accepted the three",
    );
    // One may still be on its way to a sibling thread, which counts it once it arrives (a
    // loaded box may take its time).
    await sleep(1000);
    // A fourth waits in the listen queue until one of them closes.
    let answered = false;
    const waiting = get(`${url}/whoami`).finally(() => answered = true);
    await sleep(1000);
    assert.equal(answered, false, "a fourth connection was served while three were open");
    idle[0].destroy();
    assert.equal((await waiting).status, 200);
    for (const s of idle) s.destroy();
    await server.stop();
  },
);

e2e("gthread: fewer --worker-connections than --threads is said, and it serves", async (target) => {
  const server = gthread(target, ["--threads", "3", "--worker-connections", "2"]);
  const url = await server.ready(1);
  await server.waitFor(
    /\[WARNING\] --worker-connections 2 is split between --threads 3: 1 of them take no connection/,
  );
  assert.equal((await get(`${url}/whoami`)).status, 200);
  await server.stop();
});

e2e("a gthread thread runs one request at a time; the rest wait", async (target) => {
  const server = start(target, ["-w", "1", "-k", "gthread", "-b", "127.0.0.1:0", APP]);
  const url = await server.ready(1);
  await server.waitFor(/\[INFO\] Using worker: gthread/);
  const runs = await Promise.all([1, 2, 3].map(() => json<Timed>(`${url}/sleep?ms=300`)));
  runs.sort((x, y) => x.start - y.start);
  for (let i = 1; i < runs.length; i++) {
    assert.ok(runs[i].start >= runs[i - 1].end, JSON.stringify(runs));
  }
  await server.stop();
});

e2e("gthread: an app error is a 500 and the thread keeps serving", async (target) => {
  const server = start(target, ["-w", "1", "-k", "gthread", "-b", "127.0.0.1:0", APP]);
  const url = await server.ready(1);
  const before = await json<{ pid: number; thread: string }>(`${url}/whoami`);
  const boom = await get(`${url}/boom`);
  assert.equal(boom.status, 500);
  await server.waitFor(/\[ERROR\] Error handling request GET \/boom\nError: boom from the app/);
  const after = await json<{ pid: number; thread: string }>(`${url}/whoami`);
  assert.deepEqual(after, before, "the same thread of the same process answers");
  assert.doesNotMatch(server.stderr, /Replacing thread/);
  await server.stop();
});

e2e("gthread: a crashed thread is replaced, its request gets a 500", async (target) => {
  const server = gthread(target);
  const url = await server.ready(1);
  const { pid } = await json<{ pid: number }>(`${url}/whoami`);
  // Idle connections, on both threads: those of the thread that crashes end with it.
  const port = Number(new URL(url).port);
  const idle = (await holdConnections(port, 4)).map((socket) => {
    const c = { socket, over: false };
    socket.once("close", () => c.over = true);
    return c;
  });
  await eventually(() => countConnections([pid], port)[0] === 4, "the worker accepted the four");
  const crash = await get(`${url}/crash`);
  assert.equal(crash.status, 500);
  await server.waitFor(/\[ERROR\] Thread \d+ crashed: Error: crash outside the request/);
  await server.waitFor(/\[INFO\] Replacing thread \d+/);
  // Under Deno a thread holds a second fd of each connection; closing only Deno's own left these
  // clients waiting for good.
  await eventually(() => idle.some((c) => c.over), "an idle connection of the crashed thread ends");
  for (const c of idle) c.socket.destroy();
  // Both threads serve again (the replacement among them, once loaded), in the same process.
  let threads = new Set<string>();
  for (let i = 0; i < 40 && threads.size < 2; i++) {
    const runs = await Promise.all([
      json<Timed>(`${url}/cpu?ms=200`),
      json<Timed>(`${url}/cpu?ms=200`),
    ]);
    assert.deepEqual(runs.map((r) => r.pid), [pid, pid]);
    threads = new Set(runs.map((r) => r.thread));
  }
  assert.equal(threads.size, 2, "two threads answer again");
  await server.stop();
});

e2e(
  "gthread: --timeout applies per request: a 504, then the thread (Bun) or worker (Deno) is replaced",
  async (target) => {
    // 3 s: on this shared 2-core box a 2 s heartbeat budget is tight for the master itself.
    const server = gthread(target, ["--timeout", "3"]);
    const url = await server.ready(1);
    const { pid } = await json<{ pid: number }>(`${url}/whoami`);
    const spinning = get(`${url}/cpu?ms=600000`);
    // The other thread and the process's heartbeat keep going meanwhile.
    await sleep(500);
    assert.equal((await json<{ pid: number }>(`${url}/whoami`)).pid, pid);
    const answer = await spinning;
    assert.equal(answer.status, 504, `${answer.body}\n${server.stderr}`);
    assert.equal(answer.body, "Gateway Timeout\n");
    await server.waitFor(
      /\[CRITICAL\] THREAD TIMEOUT \(thread \d+ (ran a request|stopped answering)/,
    );
    assert.doesNotMatch(server.stderr, /WORKER TIMEOUT/);
    if (target.workers === "bun") {
      // Bun stops the busy thread: a fresh one takes its place in the same process.
      await server.waitFor(/\[INFO\] Replacing thread \d+/);
      await sleep(4000);
      assert.equal((await json<{ pid: number }>(`${url}/whoami`)).pid, pid, server.stderr);
    } else {
      // Deno's terminate() leaves a busy thread spinning: the process retires instead.
      await server.waitFor(/cannot stop a busy thread: worker exiting to be replaced/);
      await server.waitFor(new RegExp(`Booting worker with pid: (?!${pid}\\b)\\d+`));
      let later = pid;
      for (let i = 0; i < 50 && later === pid; i++) {
        later = await json<{ pid: number }>(`${url}/whoami`).then((r) => r.pid, () => pid);
        if (later === pid) await sleep(200);
      }
      assert.notEqual(later, pid);
    }
    await server.stop();
  },
);

// Eight 1.5 s requests on two threads: the last ones wait about 4.5 s behind the others, longer
// than --timeout, while every thread keeps answering. Waiting is no hang: it used to count from
// the request's start and give the waiting ones 503/504 and the thread (Deno: the worker) away.
e2e(
  "gthread: --timeout does not count the time a request waits behind others on its thread",
  async (target) => {
    const server = gthread(target, ["--timeout", "3"]);
    const url = await server.ready(1);
    const { pid } = await json<{ pid: number }>(`${url}/whoami`);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => get(`${url}/sleep?ms=1500`)),
    );
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200), server.stderr);
    assert.deepEqual(new Set(answers.map((a) => JSON.parse(a.body).pid)), new Set([pid]));
    // A heartbeat or two more: nothing was declared stuck late either.
    await sleep(1500);
    assert.doesNotMatch(server.stderr, /THREAD TIMEOUT|WORKER TIMEOUT|cannot stop a busy thread/);
    assert.equal((await json<{ pid: number }>(`${url}/whoami`)).pid, pid, server.stderr);
    await server.stop();
  },
);

e2e(
  "gthread: server-sent events flow one by one while the app is still sending",
  async (target) => {
    const server = gthread(target);
    const url = await server.ready(1);
    const seen: string[] = [];
    // How many events had come when the first did: counted as it arrives, not when this test's
    // timer next fires (on a loaded box that can be after the next event).
    let firstBatch = 0;
    const done = new Promise<void>((resolve, reject) => {
      httpRequest(`${url}/events?n=4&ms=700`, { agent: false }, (res) => {
        assert.equal(res.headers["content-type"], "text/event-stream");
        let ended = false;
        let buffer = "";
        res.setEncoding("utf8");
        res.on("data", (text: string) => {
          buffer += text;
          const events = buffer.split("\n\n");
          buffer = events.pop()!;
          for (const event of events) {
            // An event arrives while later ones are not made yet.
            if (!ended) seen.push(event);
          }
          if (firstBatch === 0) firstBatch = seen.length;
        });
        res.on("end", () => {
          ended = true;
          resolve();
        });
        res.on("error", reject);
      }).on("error", reject).end();
    });
    // The first event is here long before the last one is made (4 × 700 ms later).
    await eventually(() => firstBatch > 0, "the first event");
    assert.equal(firstBatch, 1, `with the first event: ${JSON.stringify(seen)}`);
    assert.match(seen[0], /^data: 0 /);
    await done;
    assert.deepEqual(seen.map((e) => e.split(" ")[1]), ["0", "1", "2", "3"]);
    await server.stop();
  },
);

e2e(
  "gthread: when no thread can be replaced, the worker exits and a fresh one serves",
  async (t) => {
    const dir = tempDir();
    try {
      const server = gthread(t, ["-k", "gthread", "--threads", "1"], {
        APPSERVE_FIXTURE_IMPORTS: join(dir.path, "imports"),
        APPSERVE_FIXTURE_FAIL_IMPORT: "2",
      });
      const url = await server.ready(1);
      const { pid } = await json<{ pid: number }>(`${url}/whoami`);
      assert.equal((await get(`${url}/crash`)).status, 500);
      await server.waitFor(/\[ERROR\] .*this import is refused/);
      await server.waitFor(/No gthread thread left: worker exiting to be replaced/);
      // The third import (a new worker process) loads again.
      await server.waitFor(new RegExp(`Booting worker with pid: (?!${pid}\\b)\\d+`));
      let answer = await get(`${url}/whoami`).catch(() => null);
      for (let i = 0; i < 50 && answer?.status !== 200; i++) {
        await sleep(200);
        answer = await get(`${url}/whoami`).catch(() => null);
      }
      assert.equal(answer?.status, 200);
      assert.notEqual(JSON.parse(answer!.body).pid, pid);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

e2e("gthread: a graceful stop lets in-flight requests finish", async (target) => {
  const server = gthread(target);
  const url = await server.ready(1);
  const worker = await server.onlyWorker();
  const inFlight = [get(`${url}/cpu?ms=1500`), get(`${url}/sleep?ms=1500`)];
  // Accepted first (a loaded box may take longer than the sleep): one still in the listen queue
  // at the stop is refused, as it should be.
  const port = Number(new URL(url).port);
  await eventually(() => countConnections([worker], port)[0] === 2, "both accepted");
  await sleep(500);
  server.signal("SIGTERM");
  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers.map((a) => a.status), [200, 200]);
  const result = await server.stop();
  assert.equal(result.code, 0, result.stderr);
});

e2e("gthread: max-requests recycles the worker process", async (target) => {
  const server = gthread(target, ["--max-requests", "3"]);
  const url = await server.ready(1);
  // ready() made the first request; two more reach the limit.
  const pids: number[] = [];
  for (let i = 0; i < 2; i++) pids.push((await json<{ pid: number }>(`${url}/whoami`)).pid);
  assert.equal(new Set(pids).size, 1);
  await server.waitFor(/Autorestarting worker after current request/);
  // It serves on until its replacement has booted; then the replacement answers.
  await eventually(
    async () => (await json<{ pid: number }>(`${url}/whoami`)).pid !== pids[0],
    "the replacement answering",
  );
  await server.stop();
});

e2e("gthread: pre_request and post_request run in the worker process", async (target) => {
  const dir = tempDir();
  try {
    const log = join(dir.path, "hooks.log");
    const server = gthread(target, ["--hooks", HOOKS], { HOOKS_LOG: log });
    const url = await server.ready(1);
    const { pid } = await json<{ pid: number }>(`${url}/whoami`);
    const lines = readFileSync(log, "utf8").trim().split("\n").filter((l) =>
      l.includes("_request")
    );
    assert.deepEqual(lines.slice(-2), [`pre_request ${pid}`, `post_request ${pid}`]);
    await server.stop();
  } finally {
    dir.remove();
  }
});

e2e("gthread: an app module that cannot load in a thread exits 4 with one line", async (target) => {
  const result = await run(
    target,
    ["-w", "1", "--threads", "2", "-b", "127.0.0.1:0", "import_error"],
    { cwd: join(FIXTURES, "apps") },
  );
  assert.equal(result.code, 4, result.stderr);
  assert.match(
    result.stderr,
    /\[ERROR\] In a gthread thread: Cannot import import_error: \/\S+\/import_error\.ts:2:\d+: Error: this module cannot be imported\n {4}at \/\S+\/import_error\.ts:2:\d+\n/,
  );
  assert.match(result.stderr, /\[ERROR\] Reason: App failed to load\./);
  assert.deepEqual(ownFrames(result.stderr), [], result.stderr);
});

e2e("--threads 0 is a one-line config error", async (target) => {
  const result = await run(target, ["--threads", "0", APP]);
  assert.equal(result.code, 1);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /threads.*an integer from 1 to 1024/);
});

e2e("--reuse-port with gthread is a one-line config error", async (target) => {
  const result = await run(target, ["--reuse-port", "--threads", "2", "-b", "127.0.0.1:8000", APP]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr.trim(),
    /^Error: .*reuse_port cannot be used with the gthread worker class$/,
  );
});

e2e("gthread over a unix socket: threads write the access log and reopen it on USR1", async (t) => {
  const dir = tempDir();
  const socketPath = join(dir.path, "app.sock");
  const file = join(dir.path, "access.log");
  try {
    const server = start(t, [
      "-w",
      "1",
      "--threads",
      "2",
      "--access-logfile",
      file,
      "--access-logformat",
      '[%(h)s] "%(r)s" %(s)s',
      "-b",
      `unix:${socketPath}`,
      APP,
    ]);
    await server.waitFor(/Booting worker/);
    const ask = (path: string) =>
      get(`http://localhost${path}`, { socketPath }).catch(() => ({ status: 0, body: "" }));
    await eventually(async () => (await ask("/whoami")).status === 200, "an answer");
    await eventually(
      () => readFileSync(file, "utf8").includes('[] "GET /whoami HTTP/1.1" 200'),
      "line",
    );
    renameSync(file, `${file}.1`);
    server.signal("SIGUSR1");
    await eventually(async () => {
      await ask("/after");
      return existsSync(file) && readFileSync(file, "utf8").includes("GET /after");
    }, "a line in the reopened file");
    await server.stop();
  } finally {
    dir.remove();
  }
});

e2e("gthread: a --logger-class writes the threads' access lines", async (t) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  const example = join(FIXTURES, "..", "..", "examples", "json_logger.ts");
  try {
    const server = gthread(t, ["--logger-class", example, "--access-logfile", file]);
    const url = await server.ready(1);
    await get(`${url}/whoami?json=1`);
    await eventually(
      () => readFileSync(file, "utf8").includes('"target":"/whoami?json=1"'),
      "line",
    );
    const line = readFileSync(file, "utf8").trim().split("\n").find((l) => l.includes("json=1"))!;
    assert.equal(JSON.parse(line).status, 200);
    await server.stop();
  } finally {
    dir.remove();
  }
});

// Deno calls onListen once per serve (`deno serve --parallel`: once per process), Bun.serve not
// at all: a worker calls it once, however many threads it replaces.
e2e(
  "gthread: the app's onListen runs once per worker, not again for a replaced thread",
  async (t) => {
    const dir = tempDir();
    try {
      const calls = join(dir.path, "calls.txt");
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { appendFileSync } from "node:fs";\n' +
          "export default {\n" +
          "  fetch(request: Request) {\n" +
          '    if (new URL(request.url).pathname === "/crash") {\n' +
          '      setTimeout(() => { throw new Error("crash outside the request"); }, 0);\n' +
          "    }\n" +
          '    return new Response("ok");\n' +
          "  },\n" +
          `  onListen() { appendFileSync(${JSON.stringify(calls)}, "listen\\n"); },\n` +
          "};\n",
      );
      // One thread: the one replaced is thread 0, the one that calls onListen.
      const server = start(t, ["-k", "gthread", "--threads", "1", "-b", "127.0.0.1:0", "app.ts"], {
        cwd: dir.path,
      });
      const url = await server.ready(1);
      const lines = () =>
        existsSync(calls) ? readFileSync(calls, "utf8").split("\n").length - 1 : 0;
      await eventually(() => lines() === 1, "onListen called");
      await get(`${url}/crash`).catch(() => {});
      await server.waitFor(/\[INFO\] Replacing thread \d+/);
      await eventually(
        async () => (await get(url).catch(() => ({ status: 0 }))).status === 200,
        "a replacement answers",
      );
      await sleep(300); // A second call would come as the replacement listens, before it answers.
      assert.equal(lines(), 1, server.stderr);
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);
