// Every message between master and worker processes, as one union. Workers
// write them to fd 3; the master reads them from the child's stdio[3].

export type WorkerMessage =
  /** The worker loaded the app and accepts connections. */
  | { t: "ready" }
  /** The event loop is alive (heartbeat). */
  | { t: "beat" }
  /** The worker reached max_requests and drains: start its replacement now. */
  | { t: "retiring" }
  /** The worker cannot load the app and exits 4: why, for the master to report at start-up. */
  | { t: "failed"; message: string };

/** What a worker process receives at start, in APPSERVE_WORKER_BOOT. */
export interface WorkerBoot {
  /** The resolved configuration, exactly as the master resolved it. */
  config: Record<string, unknown>;
  /** The listening fds this worker inherited (same numbers as in the master). */
  listeners: { fd: number }[];
  /** TCP addresses this worker binds itself with SO_REUSEPORT (reuse-port mode). */
  reusePort: { host: string; port: number }[];
  /** Spawn counter, for logs. */
  age: number;
  /** The scoreboard's fd (src/ipc/scoreboard.ts) and this worker's slot in it, when there is one. */
  scoreboard?: { fd: number; slot: number };
}

/** The fd at which a worker finds its channel to the master. */
export const CHANNEL_FD = 3;
