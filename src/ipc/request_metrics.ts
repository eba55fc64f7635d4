// A worker's request counters, kept in its scoreboard slot next to its in-flight table, so the
// master can serve Prometheus metrics for every worker without asking any (a stuck worker
// cannot hide its numbers): requests by method and status class, and a latency histogram.
// Float64 counters: exact up to 2^53, written by one process, read by the master.

/** Methods counted by name; any other is "other". */
export const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"];
/** Status classes, by the status's first digit. */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/** Upper bounds of the latency histogram's buckets, in seconds (+Inf is the count). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const REQUESTS = 0;
const HISTOGRAM = METHODS.length * STATUS_CLASSES.length;
const SUM = HISTOGRAM + LATENCY_BUCKETS.length + 1;
/** Counters of one worker. */
export const METRIC_COUNTERS = SUM + 1;
/** Bytes of one worker's counters. */
export const REQUEST_METRICS_BYTES = METRIC_COUNTERS * 8;

function methodIndex(method: string): number {
  switch (method) {
    case "GET":
      return 0;
    case "HEAD":
      return 1;
    case "POST":
      return 2;
    case "PUT":
      return 3;
    case "DELETE":
      return 4;
    case "PATCH":
      return 5;
    case "OPTIONS":
      return 6;
    default:
      return 7;
  }
}

/** Counts one finished request into `counters` (a worker's, in the scoreboard). */
export function countRequest(
  counters: Float64Array,
  method: string,
  status: number,
  seconds: number,
): void {
  const statusClass = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
  counters[REQUESTS + methodIndex(method) * STATUS_CLASSES.length + statusClass]++;
  let bucket = 0;
  while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]) bucket++;
  counters[HISTOGRAM + bucket]++;
  counters[SUM] += seconds;
}

/** What the counters say, summed over workers. */
export interface RequestTotals {
  /** [method, status class, count] for each non-zero pair. */
  requests: [string, string, number][];
  /** Per bucket (LATENCY_BUCKETS, then +Inf), not cumulative. */
  buckets: number[];
  sum: number;
  count: number;
}

/** Adds `from` into `into` (both METRIC_COUNTERS long). */
export function addCounters(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < METRIC_COUNTERS; i++) into[i] += from[i];
}

/** The totals of `counters`. */
export function readTotals(counters: Float64Array): RequestTotals {
  const requests: [string, string, number][] = [];
  METHODS.forEach((method, m) =>
    STATUS_CLASSES.forEach((statusClass, c) => {
      const n = counters[REQUESTS + m * STATUS_CLASSES.length + c];
      if (n > 0) requests.push([method, statusClass, n]);
    })
  );
  const buckets = Array.from(counters.subarray(HISTOGRAM, SUM));
  return { requests, buckets, sum: counters[SUM], count: buckets.reduce((a, b) => a + b, 0) };
}
