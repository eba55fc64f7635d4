// The master's start-up check of the fd limit against what a worker may hold: a worker that
// runs out of fds stops accepting until some close (src/net/accept_gate.ts), which an
// operator should hear about before it happens, not from the first WARNING under load.

import type { Config } from "../config/settings.ts";
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
  const need = workerClass(config).connections(config) * perConnection + OWN_FDS;
  if (limit >= need) return undefined;
  const each = perConnection === 2 ? ", two fds each in gthread on Deno," : "";
  return `ulimit -n is ${limit}, but a worker may need ${need} fds ` +
    `(--worker-connections ${config.worker_connections}${each} and ${OWN_FDS} of its own): ` +
    "raise the limit (ulimit -n, systemd's LimitNOFILE=) or lower --worker-connections";
}
