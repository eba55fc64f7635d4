// What handing a request to a gthread thread costs, in-process, under the
// runtime that runs this script (deno run -A … or bun …): CPU µs per request
// of the whole process (every thread), median of 3 runs, for
//   - the hello-world app called on the main thread (no hand-off at all);
//   - ThreadPool with 2 threads, 64 callers awaiting one request at a time
//     (what the HTTP layer does with 64 keep-alive connections);
//   - a bare message round trip to a Worker that echoes it: one request per
//     message (1 and 8 in flight), and 8 requests per message.
// The message rows show where the pool's time goes: a message costs far more
// than its contents, most of it waking the receiving thread.

import process from "node:process";
import { ThreadPool } from "../../src/worker/gthread.ts";
import type { Logger } from "../../src/log/logger.ts";
import type { ServeInfo } from "../../src/http/types.ts";

const APP = new URL("./worker_classes_app.ts", import.meta.url);
const ENTRY = new URL("../../workers/thread_entry.ts", import.meta.url).href;
const ECHO = new URL("./thread_handoff_echo.ts", import.meta.url).href;
const N = 20000;
const CALLERS = 64;

const HEAD = {
  t: "request",
  seq: 1,
  method: "GET",
  url: "http://127.0.0.1:8000/",
  headers: [["host", "127.0.0.1:8000"], ["user-agent", "wrk"], ["accept", "*/*"]],
  body: null,
  remote: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  family: "IPv4",
};

const info: ServeInfo = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  requestIP: () => ({ address: "127.0.0.1", family: "IPv4", port: 40000 }),
};

function request(): Request {
  // As appserve's HTTP layer builds requests: headers appended one by one.
  const r = new Request("http://127.0.0.1:8000/");
  r.headers.append("host", "127.0.0.1:8000");
  r.headers.append("user-agent", "wrk");
  r.headers.append("accept", "*/*");
  return r;
}

/** CPU µs per request of `count` requests made by `run`. */
async function cpuPer(count: number, run: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  await run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

async function callers(handle: (r: Request) => Response | Promise<Response>): Promise<void> {
  const one = async () => {
    for (let i = 0; i < N / CALLERS; i++) await (await handle(request())).arrayBuffer();
  };
  await Promise.all(Array.from({ length: CALLERS }, one));
}

function roundTrips(worker: Worker, inFlight: number, perMessage: number): Promise<void> {
  const message = perMessage === 1 ? HEAD : Array.from({ length: perMessage }, () => HEAD);
  return new Promise((resolve) => {
    let done = 0;
    let sent = 0;
    worker.onmessage = () => {
      done += perMessage;
      if (done >= N) resolve();
      else if (sent < N) {
        sent += perMessage;
        worker.postMessage(message);
      }
    };
    for (let i = 0; i < inFlight; i++) {
      sent += perMessage;
      worker.postMessage(message);
    }
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function measure(run: () => Promise<void>): Promise<number> {
  await run(); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(await cpuPer(N, run));
  return median(runs);
}

const app = (await import(APP.href)).default as { fetch(r: Request): Promise<Response> };
const log = { critical() {}, error() {}, info() {}, warning() {} } as unknown as Logger;
const pool = await ThreadPool.start({
  entry: ENTRY,
  threads: 2,
  app: APP.pathname,
  cwd: process.cwd(),
  timeoutMs: 30_000,
  log,
  onAppError: () => new Response("Internal Server Error\n", { status: 500 }),
  onLost: () => {
    process.stderr.write("bench: the thread pool lost every thread\n");
    process.exit(1);
  },
});
const echo = new Worker(ECHO, { type: "module" });

const rows: [string, number][] = [
  ["app on the main thread (no hand-off)", await measure(() => callers((r) => app.fetch(r)))],
  ["ThreadPool, 2 threads, 64 callers", await measure(() => callers((r) => pool.handler(r, info)))],
  ["echo round trip, 1 per message, 1 in flight", await measure(() => roundTrips(echo, 1, 1))],
  ["echo round trip, 1 per message, 8 in flight", await measure(() => roundTrips(echo, 8, 1))],
  ["echo round trip, 8 per message, 1 in flight", await measure(() => roundTrips(echo, 1, 8))],
];
pool.close();
echo.terminate();

const runtime = "Bun" in globalThis ? "bun" : "deno";
process.stdout.write(`Hand-off cost under ${runtime}, CPU µs per request (median of 3):\n`);
for (const [label, us] of rows) process.stdout.write(`  ${label.padEnd(46)} ${us.toFixed(1)}\n`);
