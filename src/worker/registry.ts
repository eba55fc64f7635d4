// Worker classes by name: how many requests one worker process runs at once.
// gevent and eventlet are accepted as aliases of async so gunicorn
// configurations keep working.

import type { Config } from "../config/settings.ts";

export interface WorkerClass {
  /** The name logged in "Using worker: ...". */
  name: "async" | "sync" | "gthread";
  /** Requests a worker runs at once; more wait their turn. */
  concurrency(config: Config): number;
  /** Connections a worker holds at once; more wait in the listen queue (gunicorn's meaning). */
  connections(config: Config): number;
  /** Whether connections are kept alive between requests (gunicorn's sync worker never does). */
  keepAlive: boolean;
}

const ASYNC: WorkerClass = {
  name: "async",
  concurrency: (config) => config.worker_connections,
  connections: (config) => config.worker_connections,
  keepAlive: true,
};
// One connection at a time, closed after its response, as gunicorn's sync worker: a kept-alive
// idle client would hold the worker, and a second connection would wait behind the first.
const SYNC: WorkerClass = {
  name: "sync",
  concurrency: () => 1,
  connections: () => 1,
  keepAlive: false,
};
// Each thread runs one request at a time (workers/thread_entry.ts).
const GTHREAD: WorkerClass = {
  name: "gthread",
  concurrency: (config) => config.threads,
  connections: (config) => config.worker_connections,
  keepAlive: true,
};

/** The worker class a configuration selects. */
export function workerClass(config: Config): WorkerClass {
  if (config.worker_class === "sync") return SYNC;
  return config.worker_class === "gthread" ? GTHREAD : ASYNC;
}

/** What the master logs: `async`, `sync`, or `async (alias gevent)`. */
export function workerClassLabel(config: Config): string {
  const chosen = workerClass(config).name;
  return config.worker_class === chosen ? chosen : `${chosen} (alias ${config.worker_class})`;
}
