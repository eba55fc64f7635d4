// The master's start-up check of the fd limit against what a worker may hold: a worker that
// runs out of fds stops accepting until some close (src/net/accept_gate.ts), which an
// operator should hear about before it happens, not from the first WARNING under load.

import type { Config } from "../config/settings.ts";
import { LOWEST_PRIVATE_FD } from "../net/listeners.ts";
import { workerClass } from "../worker/registry.ts";

/** fds a worker keeps besides its client connections: listeners, logs, the app's own files. */
const OWN_FDS = 64;

/**
 * What the master warns at start when `limit` (ulimit -n) is short; undefined when it is not.
 * `workers`: the workers' runtime (a gthread thread on Deno holds a second fd per connection,
 * for the process to answer on if the thread hangs: Runtime.socketFd).
 */
export function fdShortage(
  config: Config,
  limit: number,
  workers: "deno" | "bun" = "bun",
): string | undefined {
  const perConnection = config.worker_class === "gthread" && workers === "deno" ? 2 : 1;
  const own = OWN_FDS + threadFds(config, workers);
  const need = workerClass(config).connections(config) * perConnection + own;
  if (limit >= need) return undefined;
  const each = perConnection === 2 ? ", two fds each in gthread on Deno," : "";
  return `ulimit -n is ${limit}, but a worker may need ${need} fds ` +
    `(--worker-connections ${config.worker_connections}${each} and ${own} of its own): ` +
    "raise the limit (ulimit -n, systemd's LimitNOFILE=) or lower --worker-connections";
}

// What the runtimes hold themselves, measured (December 4): a Deno master's spawn holds about
// five fds per worker while it starts one (three once it runs: the worker's stdin and channel
// pipes and its pidfd), a Bun master's three; an idle worker holds 9 fds under Bun, 26–28
// under Deno. Below these the runtime fails in its own words (an uncaught EMFILE, a panic).
const MASTER_FDS_PER_WORKER = { deno: 5, bun: 3 };
const MASTER_SPARE = 2;
const WORKER_OWN = { deno: 30, bun: 12 };
// Each gthread thread adds fds of its own (its event loop, its channel), a little over what an
// idle worker was measured to hold per thread (docs/architecture.md, "Accepting").
const THREAD_OWN = { deno: 8, bun: 6 };

/** The fds a worker's gthread threads hold idle, on top of the worker's own (0: no threads). */
function threadFds(config: Config, workers: "deno" | "bun"): number {
  return config.worker_class === "gthread" ? config.threads * THREAD_OWN[workers] : 0;
}

/**
 * Why appserve cannot run under `limit` (ulimit -n), as one line; undefined when it can.
 * `open`: the fds the master has open before binding (its runtime's own, the logs); it then
 * adds `listeners`, the scoreboard and each worker's; a worker needs its runtime's own.
 */
export function fdLimitTooLow(
  config: Config,
  limit: number,
  runtimes: { master: "deno" | "bun"; workers: "deno" | "bun" },
  open: number,
  listeners: number,
): string | undefined {
  const need = Math.max(
    open + listeners + 1 + MASTER_FDS_PER_WORKER[runtimes.master] * config.workers + MASTER_SPARE,
    // An idle worker and its threads; fewer, and it could never accept (src/net/accept_gate.ts).
    WORKER_OWN[runtimes.workers] + threadFds(config, runtimes.workers),
    // The inherited range's lowest fd and the fds moved there (src/net/listeners.ts).
    LOWEST_PRIVATE_FD + listeners + 1,
  );
  if (limit >= need) return undefined;
  const threads = config.worker_class === "gthread" ? ` of ${config.threads} threads` : "";
  return `The open-files limit (ulimit -n ${limit}) is too low to run ${config.workers} ` +
    `worker${config.workers === 1 ? "" : "s"}${threads}: raise it to at least ${need} ` +
    `(ulimit -n ${need})`;
}
