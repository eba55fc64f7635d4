// What the master keeps for --metrics-bind beyond the scoreboard: workers replaced, by reason,
// and the request counters of workers gone (their slots are cleared for the next worker), so
// every total only grows. And the two answers the metrics server asks for.

import { addCounters, METRIC_COUNTERS } from "../ipc/request_metrics.ts";
import { VERSION } from "../version.ts";
import { beatInterval } from "../worker/lifecycle.ts";
import { renderMetrics } from "./prometheus_text.ts";
import type { WorkerHandle } from "./worker_handle.ts";
import { residentBytes } from "./worker_memory.ts";
import type { WorkerSlots } from "./worker_slots.ts";

export class MetricsBook {
  readonly #restarts = { exit: 0, timeout: 0, max_requests: 0, memory: 0, reload: 0 };
  readonly #gone = new Float64Array(METRIC_COUNTERS);

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

  /** Prometheus's text, from the master's records and the scoreboard. */
  render(
    workers: WorkerHandle[],
    slots: WorkerSlots | undefined,
    about: { runtime: string; workerRuntime: string; configured: number },
  ): string {
    const now = performance.now();
    const counters = new Float64Array(this.#gone);
    let inFlight = 0;
    for (const worker of workers) {
      const live = slots?.counters(worker.slot);
      if (live) addCounters(counters, live);
      const table = slots?.inflight(worker.slot);
      if (table) inFlight += table.requests.length + table.more;
    }
    return renderMetrics({
      version: VERSION,
      ...about,
      workers: workers.map((w) => ({
        pid: w.pid,
        ageSeconds: (now - w.startedAt) / 1000,
        rss: residentBytes(w.pid),
      })),
      counters,
      inFlight,
      restarts: { ...this.#restarts },
    });
  }
}

/**
 * /healthz: `wanted` workers are booted, not retiring and heartbeating. Two missed beats count
 * as stuck: well before --timeout kills the worker, a balancer stops sending to this instance.
 */
export function healthy(workers: WorkerHandle[], wanted: number, timeout: number): boolean {
  const staleMs = timeout > 0 ? 2 * beatInterval(timeout) : Infinity;
  const now = performance.now();
  const serving = workers.filter((w) => w.booted && !w.retiring && now - w.lastBeat <= staleMs);
  return wanted > 0 && serving.length >= wanted;
}
