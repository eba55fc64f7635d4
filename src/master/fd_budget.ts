// The master's start-up check of the fd limit against what a worker may hold: a worker that
// runs out of fds stops accepting until some close (src/net/accept_gate.ts), which an
// operator should hear about before it happens, not from the first WARNING under load.

import type { Config } from "../config/settings.ts";
import { workerClass } from "../worker/registry.ts";

/** fds a worker keeps besides its client connections: listeners, logs, the app's own files. */
const OWN_FDS = 64;

/** What the master warns at start when `limit` (ulimit -n) is short; undefined when it is not. */
export function fdShortage(config: Config, limit: number): string | undefined {
  const need = workerClass(config).connections(config) + OWN_FDS;
  if (limit >= need) return undefined;
  return `ulimit -n is ${limit}, but a worker may need ${need} fds ` +
    `(--worker-connections ${config.worker_connections} and ${OWN_FDS} of its own): ` +
    "raise the limit (ulimit -n, systemd's LimitNOFILE=) or lower --worker-connections";
}
