// A worker's request counters, kept in its scoreboard slot next to its in-flight table, so the
// master can serve Prometheus metrics for every worker without asking any (a stuck worker
// cannot hide its numbers): requests by method and status class, a latency histogram, the
// log lines its syslog and OTel senders dropped, and its WebSocket sessions opened and closed. Float64 counters: exact up to 2^53, written by
// one process, read by the master; they only grow (each writer adds what it newly counted).

/** Methods counted by name; any other is "other". */
export const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"];
/** Status classes, by the status's first digit. */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/** Upper bounds of the latency histogram's buckets, in seconds (+Inf is the count). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The log senders whose dropped lines are counted (--log-syslog, --log-otel). */
export const LOG_SENDERS = ["syslog", "otel"] as const;

/** Lines a process's log senders dropped since it started (Logger.dropped). */
export type DroppedLines = Record<typeof LOG_SENDERS[number], number>;
/** WebSocket sessions a process (or thread) opened and closed since it started. */
export const WEBSOCKET_EVENTS = ["opened", "closed"] as const;
export type WebSocketSessions = Record<typeof WEBSOCKET_EVENTS[number], number>;

const REQUESTS = 0;
const HISTOGRAM = METHODS.length * STATUS_CLASSES.length;
const SUM = HISTOGRAM + LATENCY_BUCKETS.length + 1;
const DROPPED = SUM + 1;
const WEBSOCKETS = DROPPED + LOG_SENDERS.length;
/** Counters of one worker. */
export const METRIC_COUNTERS = WEBSOCKETS + WEBSOCKET_EVENTS.length;
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

// Adds what a running total (`now`) grew by since `last` (updated here) into counters from `at`.
function addSince<K extends string>(
  counters: Float64Array,
  at: number,
  keys: readonly K[],
  now: Record<K, number>,
  last: Record<K, number>,
): void {
  keys.forEach((key, i) => {
    counters[at + i] += now[key] - last[key];
    last[key] = now[key];
  });
}

/**
 * Adds the lines dropped since the last call into `counters`: `now` is a process's running total
 * (Logger.dropped), `last` what was added before (updated here).
 */
export function countDropped(counters: Float64Array, now: DroppedLines, last: DroppedLines): void {
  addSince(counters, DROPPED, LOG_SENDERS, now, last);
}

/** As countDropped, for the WebSocket sessions opened and closed (Logger.websocketSessions). */
export function countWebSockets(
  counters: Float64Array,
  now: WebSocketSessions,
  last: WebSocketSessions,
): void {
  addSince(counters, WEBSOCKETS, WEBSOCKET_EVENTS, now, last);
}

/** The WebSocket sessions open by `counters` (a worker's): opened, less those closed. */
export function openWebSockets(counters: Float64Array): number {
  return counters[WEBSOCKETS] - counters[WEBSOCKETS + 1];
}

/** Counts `sessions` more WebSocket sessions closed into `counters` (those a lost thread took). */
export function closeWebSockets(counters: Float64Array, sessions: number): void {
  counters[WEBSOCKETS + 1] += sessions;
}

/** What the counters say, summed over workers. */
export interface RequestTotals {
  /** [method, status class, count] for each non-zero pair. */
  requests: [string, string, number][];
  /** Per bucket (LATENCY_BUCKETS, then +Inf), not cumulative. */
  buckets: number[];
  sum: number;
  count: number;
  dropped: DroppedLines;
  websockets: WebSocketSessions;
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
  const count = buckets.reduce((a, b) => a + b, 0);
  const dropped = { syslog: counters[DROPPED], otel: counters[DROPPED + 1] };
  const websockets = { opened: counters[WEBSOCKETS], closed: counters[WEBSOCKETS + 1] };
  return { requests, buckets, sum: counters[SUM], count, dropped, websockets };
}
