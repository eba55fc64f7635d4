// The master's metrics in Prometheus's text exposition format (version 0.0.4): one HELP and TYPE
// line per family, then its samples. Everything comes from the master's own records and the
// scoreboard, never from a worker, so a stuck worker cannot hide its numbers.

import { type DroppedLines, LATENCY_BUCKETS, readTotals } from "../ipc/request_metrics.ts";

/** Connections waiting in a listening socket's accept queue. */
export interface Backlog {
  /** The address, as `Listening at:` names it. */
  listener: string;
  /** The worker whose own socket it is (reuse-port mode); none for the master's sockets. */
  pid?: number;
  queued: number;
}

/** One worker, as the scrape shows it. */
export interface WorkerRow {
  pid: number;
  ageSeconds: number;
  rss: number | undefined;
  /** Connections open, as the worker last wrote them (none before it did). */
  connections: number | undefined;
  /** Requests it answered (none without its counters). */
  requests: number | undefined;
}

/** What the metrics are made of, as the arbiter sees it at the scrape. */
export interface MetricsSnapshot {
  version: string;
  runtime: string;
  workerRuntime: string;
  /** The number of workers asked for (--workers, TTIN/TTOU). */
  configured: number;
  workers: WorkerRow[];
  /** Request counters summed over every worker, the gone ones included. */
  counters: Float64Array;
  inFlight: number;
  /** WebSocket sessions the live workers have open. */
  websockets: number;
  restarts: Record<string, number>;
  /** The TCP listeners' accept queues (reuse-port: each worker's socket). */
  backlog: Backlog[];
  /** Log lines the syslog and OTel senders dropped, master and workers (gone ones too). */
  dropped: DroppedLines;
}

/** Escapes a label value (backslash, double quote, newline), as the format asks. */
function label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function connections(out: string[], workers: WorkerRow[]): void {
  family(out, "appserve_connections", "gauge", "Connections the workers have open.");
  out.push(`appserve_connections ${workers.reduce((n, w) => n + (w.connections ?? 0), 0)}`);
  family(out, "appserve_worker_connections", "gauge", "Connections each worker has open.");
  for (const w of workers) {
    if (w.connections !== undefined) {
      out.push(`appserve_worker_connections{pid="${w.pid}"} ${w.connections}`);
    }
  }
  family(out, "appserve_worker_requests_total", "counter", "Requests each worker answered.");
  for (const w of workers) {
    if (w.requests !== undefined) {
      out.push(`appserve_worker_requests_total{pid="${w.pid}"} ${w.requests}`);
    }
  }
}

// Summed per address; with reuse-port, each worker's socket too.
function backlog(out: string[], queues: Backlog[]): void {
  const name = "appserve_listen_backlog";
  family(out, name, "gauge", "Connections waiting to be accepted, per listener (TCP or unix).");
  const sums = new Map<string, number>();
  for (const q of queues) sums.set(q.listener, (sums.get(q.listener) ?? 0) + q.queued);
  for (const [listener, n] of sums) out.push(`${name}{listener="${label(listener)}"} ${n}`);
  // One sample per listener and worker, summed should a worker have two sockets under one
  // address (a host name, or an address given twice).
  const own = new Map<string, Backlog>();
  for (const q of queues) {
    if (q.pid === undefined) continue;
    const key = `${q.pid} ${q.listener}`;
    own.set(key, { ...q, queued: (own.get(key)?.queued ?? 0) + q.queued });
  }
  if (own.size === 0) return;
  const help = "Connections waiting to be accepted, per worker's own socket (reuse-port).";
  family(out, "appserve_worker_listen_backlog", "gauge", help);
  for (const q of own.values()) {
    out.push(
      `appserve_worker_listen_backlog{listener="${label(q.listener)}",pid="${q.pid}"} ${q.queued}`,
    );
  }
}

/** The scrape's body. */
export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  family(out, "appserve_build_info", "gauge", "appserve's version and runtimes (always 1).");
  out.push(
    `appserve_build_info{version="${label(s.version)}",runtime="${label(s.runtime)}",` +
      `worker_runtime="${label(s.workerRuntime)}"} 1`,
  );
  family(out, "appserve_workers", "gauge", "Worker processes running.");
  out.push(`appserve_workers ${s.workers.length}`);
  family(out, "appserve_workers_configured", "gauge", "Worker processes asked for.");
  out.push(`appserve_workers_configured ${s.configured}`);
  family(out, "appserve_worker_rss_bytes", "gauge", "Resident memory of each worker.");
  for (const w of s.workers) {
    if (w.rss !== undefined) out.push(`appserve_worker_rss_bytes{pid="${w.pid}"} ${w.rss}`);
  }
  family(out, "appserve_worker_age_seconds", "gauge", "Seconds since each worker started.");
  for (const w of s.workers) {
    out.push(`appserve_worker_age_seconds{pid="${w.pid}"} ${w.ageSeconds.toFixed(3)}`);
  }
  family(out, "appserve_worker_restarts_total", "counter", "Workers replaced, by reason.");
  for (const [reason, n] of Object.entries(s.restarts)) {
    out.push(`appserve_worker_restarts_total{reason="${reason}"} ${n}`);
  }
  family(out, "appserve_requests_in_flight", "gauge", "Requests the workers' apps have now.");
  out.push(`appserve_requests_in_flight ${s.inFlight}`);
  connections(out, s.workers);
  backlog(out, s.backlog);
  family(out, "appserve_log_dropped_total", "counter", "Log lines a log sender dropped.");
  for (const [sender, n] of Object.entries(s.dropped)) {
    out.push(`appserve_log_dropped_total{sender="${sender}"} ${n}`);
  }
  const totals = readTotals(s.counters);
  family(out, "appserve_websockets_open", "gauge", "WebSocket sessions the workers have open.");
  out.push(`appserve_websockets_open ${s.websockets}`);
  const upgrades = "appserve_websocket_upgrades_total";
  family(out, upgrades, "counter", "WebSocket sessions opened (upgrades answered 101).");
  out.push(`${upgrades} ${totals.websockets.opened}`);
  family(out, "appserve_requests_total", "counter", "Requests answered, by method and status.");
  for (const [method, status, n] of totals.requests) {
    out.push(`appserve_requests_total{method="${method}",status="${status}"} ${n}`);
  }
  const name = "appserve_request_duration_seconds";
  family(out, name, "histogram", "From a request's arrival to the end of its response.");
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += totals.buckets[i];
    out.push(`${name}_bucket{le="${le}"} ${cumulative}`);
  });
  out.push(`${name}_bucket{le="+Inf"} ${totals.count}`);
  out.push(`${name}_sum ${totals.sum}`, `${name}_count ${totals.count}`);
  return out.join("\n") + "\n";
}
