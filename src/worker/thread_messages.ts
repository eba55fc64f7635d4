// What a gthread worker process and its threads say to each other: rare
// events only. Connections travel as fds; what happens on them every request
// is shown through shared memory instead (thread_slots.ts).

/** Process → thread. */
export type ToThread =
  | {
    t: "start";
    /** The worker's frozen config, as the process received it. */
    config: Record<string, unknown>;
    /** The worker's age (hooks' `worker.age`). */
    age: number;
    slots: SharedArrayBuffer;
    /** Requests served by every thread together, and the count that retires the worker. */
    served: SharedArrayBuffer;
    limit: number;
    /** Date.now() when the pool started: the slots' clock. */
    origin: number;
  }
  /** A connection accepted on listener `listener`: the thread owns `fd` from now on. */
  | { t: "conn"; fd: number; listener: number; unix: boolean }
  | { t: "drain"; graceMs: number }
  | { t: "reopen" };

/** Thread → process. */
export type FromThread =
  | { t: "loaded" }
  | { t: "load-failed"; message: string }
  /** The requests of all threads reached max_requests. */
  | { t: "retire" }
  | { t: "drained" };
