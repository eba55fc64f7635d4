// The master's metrics in Prometheus's text exposition format (version 0.0.4): one HELP and TYPE
// line per family, then its samples. Everything comes from the master's own records and the
// scoreboard, never from a worker, so a stuck worker cannot hide its numbers.

import { LATENCY_BUCKETS, readTotals } from "../ipc/request_metrics.ts";

/** What the metrics are made of, as the arbiter sees it at the scrape. */
export interface MetricsSnapshot {
  version: string;
  runtime: string;
  workerRuntime: string;
  /** The number of workers asked for (--workers, TTIN/TTOU). */
  configured: number;
  workers: { pid: number; ageSeconds: number; rss: number | undefined }[];
  /** Request counters summed over every worker, the gone ones included. */
  counters: Float64Array;
  inFlight: number;
  restarts: Record<string, number>;
}

/** Escapes a label value (backslash, double quote, newline), as the format asks. */
function label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
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
  const totals = readTotals(s.counters);
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
