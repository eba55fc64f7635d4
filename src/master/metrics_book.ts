// What the master keeps for --metrics-bind beyond the scoreboard: workers replaced, by reason,
// and the request counters of workers gone (their slots are cleared for the next worker), so
// every total only grows. And the two answers the metrics server asks for.

import {
  addCounters,
  type DroppedLines,
  METRIC_COUNTERS,
  readTotals,
} from "../ipc/request_metrics.ts";
import { formatAddress } from "../net/bind.ts";
import {
  listeningSockets,
  socketInodes,
  tcpListenQueue,
  unixListenQueues,
} from "../net/listen_backlog.ts";
import type { Listener } from "../net/listeners.ts";
import type { Libc } from "../runtime/types.ts";
import { VERSION } from "../version.ts";
import { beatInterval } from "../worker/lifecycle.ts";
import { type Backlog, renderMetrics } from "./prometheus_text.ts";
import type { WorkerHandle } from "./worker_handle.ts";
import { residentBytes } from "./worker_memory.ts";
import type { WorkerSlots } from "./worker_slots.ts";

/** What a scrape reads besides the workers' records. */
export interface MetricsSources {
  slots: WorkerSlots | undefined;
  runtime: string;
  workerRuntime: string;
  /** The number of workers asked for. */
  configured: number;
  /** The master's listening sockets, TCP and unix: each has a backlog to show. */
  listeners: Listener[];
  /** Addresses each worker binds itself (reuse-port mode): each worker's socket has a backlog. */
  reusePort: { host: string; port: number }[];
  libc: Libc;
  /** Lines the master's own log senders dropped (its Logger.dropped). */
  dropped: DroppedLines;
}

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
      backlog: backlog(workers, sources),
      dropped,
    });
  }
}

/**
 * The listen queues: the master's TCP listeners through TCP_INFO, the rest (unix ones) through
 * sock_diag; reuse-port sockets, which only workers hold, as /proc/net/tcp shows each worker's.
 */
export function backlog(
  workers: WorkerHandle[],
  sources: Pick<MetricsSources, "listeners" | "reusePort" | "libc">,
): Backlog[] {
  const out: Backlog[] = [];
  const others: Listener[] = [];
  for (const listener of sources.listeners) {
    const queued = tcpListenQueue(sources.libc, listener.fd);
    if (queued !== undefined) out.push({ listener: formatAddress(listener.address), queued });
    else others.push(listener);
  }
  const unix = unixListenQueues(sources.libc, others.map((l) => l.fd));
  for (const listener of others) {
    const queued = unix.get(listener.fd);
    if (queued !== undefined) out.push({ listener: formatAddress(listener.address), queued });
  }
  if (sources.reusePort.length === 0) return out;
  const owners = new Map<number, number>();
  for (const worker of workers) {
    for (const inode of socketInodes(worker.pid)) owners.set(inode, worker.pid);
  }
  const sockets = listeningSockets(new Set(owners.keys()));
  for (const address of sources.reusePort) {
    const listener = formatAddress({ kind: "tcp", ...address });
    for (const socket of sockets) {
      if (socket.port !== address.port) continue;
      out.push({ listener, pid: owners.get(socket.inode), queued: socket.queued });
    }
  }
  return out;
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
