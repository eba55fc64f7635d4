// What the master keeps for --metrics-bind beyond the scoreboard: workers replaced, by reason,
// and the request counters of workers gone (their slots are cleared for the next worker), so
// every total only grows.

import {
  addCounters,
  type DroppedLines,
  METRIC_COUNTERS,
  readTotals,
} from "../ipc/request_metrics.ts";
import { VERSION } from "../version.ts";
import { ListenQueues, type QueueSources } from "./listen_queues.ts";
import { type Backlog, renderMetrics } from "./prometheus_text.ts";
import type { WorkerHandle } from "./worker_handle.ts";
import { residentBytes } from "./worker_memory.ts";
import type { WorkerSlots } from "./worker_slots.ts";

/** What a scrape reads besides the workers' records. */
export interface MetricsSources extends QueueSources {
  slots: WorkerSlots | undefined;
  runtime: string;
  workerRuntime: string;
  /** The number of workers asked for. */
  configured: number;
  /** Lines the master's own log senders dropped (its Logger.dropped). */
  dropped: DroppedLines;
}

export class MetricsBook {
  readonly #restarts = { exit: 0, timeout: 0, max_requests: 0, memory: 0, fds: 0, reload: 0 };
  readonly #gone = new Float64Array(METRIC_COUNTERS);
  readonly #queues = new ListenQueues();

  /**
   * A worker was reaped, while `generation` is current: why it was replaced (a worker stopped
   * for good, TTOU, was not), and its counters, read before its slot is cleared.
   */
  reaped(worker: WorkerHandle, generation: number, counters: Float64Array | undefined): void {
    const reason = worker.aborted ? "timeout" : worker.retiredFor ??
      (worker.generation !== generation ? "reload" : worker.retiring ? undefined : "exit");
    if (reason) this.#restarts[reason]++;
    if (counters) addCounters(this.#gone, counters);
  }

  /** The listen queues, each listener's (and each reuse-port worker's socket's). */
  backlog(workers: WorkerHandle[], sources: QueueSources): Backlog[] {
    return this.#queues.read(workers, sources);
  }

  /** Prometheus's text, from the master's records and the scoreboard. */
  render(workers: WorkerHandle[], sources: MetricsSources): string {
    const { slots } = sources;
    const now = performance.now();
    const counters = new Float64Array(this.#gone);
    let inFlight = 0;
    // Sessions open now: of the live workers only (a killed worker never counts its closes).
    let websockets = 0;
    const rows = workers.map((w) => {
      const live = slots?.counters(w.slot);
      const totals = live ? readTotals(live) : undefined;
      if (live && totals) {
        addCounters(counters, live);
        websockets += totals.websockets.opened - totals.websockets.closed;
      }
      const table = slots?.inflight(w.slot);
      if (table) inFlight += table.requests.length + table.more;
      return {
        pid: w.pid,
        ageSeconds: (now - w.startedAt) / 1000,
        rss: residentBytes(w.pid),
        connections: slots?.connections(w.slot),
        requests: totals?.count,
      };
    });
    const dropped = readTotals(counters).dropped;
    dropped.syslog += sources.dropped.syslog;
    dropped.otel += sources.dropped.otel;
    return renderMetrics({
      version: VERSION,
      runtime: sources.runtime,
      workerRuntime: sources.workerRuntime,
      configured: sources.configured,
      workers: rows,
      counters,
      inFlight,
      websockets,
      restarts: { ...this.#restarts },
      backlog: this.#queues.read(workers, sources),
      dropped,
    });
  }
}
