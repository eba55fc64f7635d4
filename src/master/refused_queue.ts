// What a stop refuses unseen: the connections waiting in a master-owned listener's accept queue
// (every worker busy) are reset once the last process holding the socket closes it, at once for a
// graceful stop too (its workers let go of the listeners when told to stop). No access line can
// name them; the master counts them from the kernel as it closes its own copy (gunicorn says
// nothing of them).

import type { Listener } from "../net/listeners.ts";
import type { Libc } from "../runtime/types.ts";
import { ListenQueues } from "./listen_queues.ts";

/**
 * One WARNING line per listener of `listeners` (TCP ones named with `scheme`, as "Listening at:")
 * with connections waiting in its accept queue,
 * read now, before the stop closes them; none when the kernel cannot say. A worker may still take
 * one in the moment before it lets go (it answers a quick stop's QUIT after its worker_int hook).
 */
export function refusedQueueLines(
  libc: Libc,
  listeners: Listener[],
  scheme?: "http" | "https",
): string[] {
  const queues = new ListenQueues().read([], { listeners, reusePort: [], libc, scheme });
  return queues.filter((q) => q.queued > 0).map((q) =>
    `The stop closes ${q.listener} with ` +
    `${q.queued === 1 ? "1 connection" : `${q.queued} connections`} waiting in its accept ` +
    "queue: reset, unless a worker takes them before it lets go of the listener"
  );
}
