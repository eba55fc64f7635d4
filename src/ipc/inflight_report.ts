// What is said about the requests of a stuck worker or gthread thread, read from its in-flight
// table (its event loop is stuck and says nothing): the CRITICAL lines that name them (WORKER
// TIMEOUT in the master, THREAD TIMEOUT in the worker process), and the access-log line each
// never got from the stuck side. A worker cutting off its requests at the graceful timeout says
// the same of them, from the same tables.

import type { RemoteAddr } from "../fetch_handler.ts";
import { describeInflight, type InflightRequest } from "./inflight.ts";
import type { Logger } from "../log/logger.ts";
import { countRequest } from "./request_metrics.ts";

/** The status of a killed request's access line (why 504: see docs/architecture.md). */
export const KILLED_STATUS = 504;
/** The status of the access line of a request whose worker died under it (nginx's for it). */
export const DIED_STATUS = 502;

/**
 * `head` (`WORKER TIMEOUT (pid:N)`), what is stuck and its requests in flight, then one line
 * per request, each naming `where` (`worker (pid:N)`): for the CRITICAL level.
 */
export function timeoutLines(
  head: string,
  where: string,
  inflight: { requests: InflightRequest[]; more: number } | undefined,
  now: number,
  what: string,
): string[] {
  if (inflight === undefined) return [head];
  const count = inflight.requests.length + inflight.more;
  const lines = [
    `${head} ${what}, ${
      count === 0 ? "no request" : count === 1 ? "1 request" : `${count} requests`
    } in flight`,
  ];
  return [...lines, ...requestLines(`In flight on ${where}`, inflight, now)];
}

/**
 * One line per request of `inflight`, `lead: GET /path from 1.2.3.4:5 for 2.0 s`, then
 * `lead: N more` for those without an entry.
 */
export function requestLines(
  lead: string,
  inflight: { requests: InflightRequest[]; more: number },
  now: number,
): string[] {
  const lines = inflight.requests.map((request) => `${lead}: ${describeInflight(request, now)}`);
  if (inflight.more) lines.push(`${lead}: ${inflight.more} more`);
  return lines;
}

/**
 * A client as an entry names it: `1.2.3.4:5`, `[::1]:5`, `unix`, or without a port when none is
 * known (port 0: a client named by X-Forwarded-For). remoteOf() reads it back.
 */
export function clientOf(remote: RemoteAddr): string {
  if (remote.transport === "unix") return "unix";
  const host = remote.hostname.includes(":") ? `[${remote.hostname}]` : remote.hostname;
  return remote.port ? `${host}:${remote.port}` : host;
}

/** The client of an entry (as clientOf() names it) as the access log's peer. */
function remoteOf(client: string): RemoteAddr {
  if (client === "unix") return { transport: "unix", hostname: "", port: 0 };
  const m = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d+))?$/.exec(client);
  if (m) return { transport: "tcp", hostname: m[1] ?? m[2], port: Number(m[3] ?? 0) };
  return { transport: "unix", hostname: "", port: 0 };
}

/**
 * The header fields the entry kept of `request` (InflightFields), as received; its user as the
 * Authorization that names it, without the password the entry never kept.
 */
function headersOf(request: InflightRequest): [string, string][] {
  const headers = request.headers ?? [];
  if (request.user === undefined) return headers;
  return [...headers, ["authorization", `Basic ${btoa(`${request.user}:`)}`]];
}

function requestOf(method: string, target: string, fields: [string, string][]): Request {
  const url = `http://localhost${target.startsWith("/") ? target : "/"}`;
  let headers: Headers;
  try {
    headers = new Headers(fields);
  } catch {
    // A value the table cut mid-way may not be one Headers takes; the line reads rawHeaders.
    headers = new Headers();
  }
  try {
    const request = new Request(url, { method, headers });
    // Bun's Request makes a method it does not know GET; the line says the one the client sent.
    if (request.method === method) return request;
  } catch {
    // CONNECT, TRACE and TRACK cannot be made into a Request.
  }
  // The access line needs only these.
  return { method, url, headers } as unknown as Request;
}

/**
 * Writes the access-log line of each request a stuck worker or thread had in flight, with the
 * status it got (`statuses[i]`, else KILLED_STATUS), the body bytes of the reply written for it
 * (`bodyBytes[i]`, else none), and what its entry kept of its headers, user and protocol (the
 * master, the gthread process and a worker at the graceful deadline alike). `pid`: the worker
 * that had them, when another process writes (`%(p)s`).
 */
export function logInflightAccess(
  log: Logger,
  requests: InflightRequest[],
  now: number,
  statuses: number[] = [],
  pid?: number,
  bodyBytes: number[] = [],
): void {
  requests.forEach((request, i) => {
    const headers = headersOf(request);
    log.access({
      request: request.request ?? requestOf(request.method, request.target, headers),
      response: new Response(null, { status: statuses[i] ?? KILLED_STATUS }),
      details: {
        remote: remoteOf(request.client),
        // A table that keeps no protocol: the format shows none, and HTTP/1.1 is the likely one.
        protocol: request.lineUnknown ? "-" : request.protocol ?? "HTTP/1.1",
        target: request.target,
        bodyBytes: bodyBytes[i] ?? 0,
        rawHeaders: headers,
      },
      durationMs: Math.max(0, now - request.start),
      end: new Date(now),
      ...(pid === undefined ? {} : { pid }),
    });
  });
}

/**
 * What a worker (or gthread thread) says of the requests it cuts off when `graceSeconds` of
 * graceful stop ran out: a WARNING each, named as WORKER TIMEOUT names them (those past the
 * table counted), and an access line each, `overflow` (those it only counts) included, with the
 * body bytes of the 504 the cut writes for it (`sent`: Connection.cut). Each is counted into
 * `counters` (--metrics-bind), if given, as its access line says: no server reports it done.
 * One whose response was under way (`sent` -1) gets its WARNING only: the cut ends it mid-body,
 * and its connection logs and counts the status and bytes its client got.
 */
export function logCutOff(
  log: Logger,
  where: string,
  inflight: { requests: InflightRequest[]; more: number },
  graceSeconds: number,
  overflow: InflightRequest[] = [],
  sent: (request: InflightRequest) => number = () => 0,
  counters?: Float64Array,
): void {
  const now = Date.now();
  for (const line of requestLines(cutOffLead(where, graceSeconds), inflight, now)) {
    log.warning(line);
  }
  const requests: InflightRequest[] = [];
  const bytes: number[] = [];
  for (const request of [...inflight.requests, ...overflow]) {
    const n = sent(request);
    if (n < 0) continue;
    requests.push(request);
    bytes.push(n);
  }
  countInflight(counters, requests, now, []);
  logInflightAccess(log, requests, now, [], undefined, bytes);
}

/**
 * Counts `requests` into `counters` (a worker's, or a gthread thread's), if given, each as
 * answered with `statuses[i]` (else KILLED_STATUS) at `now`: those whose access line
 * logInflightAccess() writes, which no server counts.
 */
export function countInflight(
  counters: Float64Array | undefined,
  requests: InflightRequest[],
  now: number,
  statuses: number[],
): void {
  if (!counters) return;
  requests.forEach((request, i) =>
    countRequest(
      counters,
      request.method,
      statuses[i] ?? KILLED_STATUS,
      Math.max(0, now - request.start) / 1000,
    )
  );
}

/**
 * The WARNING line of each WebSocket session still open when `graceSeconds` of graceful stop ran
 * out (`sessions.openLines()`: the hub's words for them), led as a request's.
 */
export function logCutOffSessions(
  log: Logger,
  where: string,
  graceSeconds: number,
  sessions: { openLines(): string[] } | undefined,
): void {
  for (const line of sessions?.openLines() ?? []) {
    log.warning(`${cutOffLead(where, graceSeconds)}: ${line}`);
  }
}

/** How each line that names a request cut off at the graceful timeout begins. */
export function cutOffLead(where: string, graceSeconds: number): string {
  return `Cut off at the graceful timeout (${graceSeconds} s) on ${where}`;
}
