// Prototype for the bench, not a worker class: one process whose Web Worker
// threads each run appserve's HTTP layer on the same listening socket (node:net
// `listen({fd})` inside a thread), so no request crosses a thread boundary.
// It answers how fast gthread could be if threads served HTTP themselves
// instead of the process handing each request over (see docs/architecture.md,
// "Worker classes"). It has none of a worker's duties (heartbeat, timeouts,
// logging, hooks, graceful stop).
// Usage: thread_http.ts PORT THREADS APP   (prints "ready" once every thread listens)

import process from "node:process";
import { openListeners } from "../../src/net/listeners.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";

const ENTRY = new URL("./thread_http_entry.ts", import.meta.url).href;

const [portArg, threadsArg, app] = process.argv.slice(2);
const port = Number(portArg);
const threads = Number(threadsArg);
if (!Number.isInteger(port) || port < 1 || !Number.isInteger(threads) || threads < 1 || !app) {
  process.stderr.write("thread_http: usage: thread_http.ts PORT THREADS APP\n");
  process.exit(2);
}
const runtime = await detectRuntime();
const [listener] = await openListeners(
  runtime.libc(),
  [{ kind: "tcp", host: "127.0.0.1", port }],
  { backlog: 2048 },
);
let listening = 0;
for (let i = 0; i < threads; i++) {
  const worker = new Worker(ENTRY, { type: "module", name: `thread-http-${i + 1}` });
  worker.onmessage = () => {
    if (++listening === threads) process.stdout.write("ready\n");
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    process.stderr.write(`thread_http: thread ${i + 1}: ${event.message}\n`);
    process.exit(1);
  };
  worker.postMessage({ fd: listener.fd, app, cwd: process.cwd() });
}
const stop = (): void => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
