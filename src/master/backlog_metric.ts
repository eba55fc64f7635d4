// gunicorn's --enable-backlog-metric: the master's loop sends the listen queues' sum as
// gunicorn.backlog about once a tick, as gunicorn sends it once an arbiter turn (events wake
// appserve's loop more often; the slack keeps ticks in). Nothing when no queue was measured.

import type { ArbiterContext } from "./arbiter_context.ts";
import type { QueueSources } from "./listen_queues.ts";
import type { Backlog } from "./prometheus_text.ts";

type Context = Pick<ArbiterContext, "config" | "runtime" | "listeners" | "reusePort" | "log">;

export class BacklogMetric {
  readonly #tickMs: number;
  #sentAt = -Infinity;

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
  }

  /** Sends gunicorn.backlog when it is on and a tick has passed since the last one. */
  maybeSend(ctx: Context, workers: { backlog(sources: QueueSources): Backlog[] }): void {
    const { config, runtime, listeners, reusePort, log } = ctx;
    if (!config.enable_backlog_metric || !config.statsd_host) return;
    const now = performance.now();
    if (now - this.#sentAt < this.#tickMs * 0.9) return;
    this.#sentAt = now;
    const queues = workers.backlog({ listeners, reusePort, libc: runtime.libc() });
    if (queues.length > 0) log.backlog(queues.reduce((sum, q) => sum + q.queued, 0));
  }
}
