// What a worker says of the requests its quick stop (INT, QUIT) kills: the process ends with them
// in flight, and nothing else would name them (the master names only those of a worker it has to
// SIGKILL). A WARNING each, as a cut-off at the graceful timeout names them, and the access line
// each never gets, from the same in-flight tables.

import type { InflightRequest } from "./inflight.ts";
import { countInflight, logInflightAccess, requestLines } from "./inflight_report.ts";
import type { Logger } from "../log/logger.ts";
import type { UnparsedConnections } from "../http/server.ts";

/** Requests in flight in one table: the worker's own, or a gthread thread's. */
export interface KilledRequests {
  /** `worker (pid:N)` or `thread N (pid:N)`. */
  where: string;
  /** The table's entries, and how many requests it had no entry for. */
  inflight: { requests: InflightRequest[]; more: number };
  /** Those it had no entry for, as the worker keeps them (InflightWatch.overflow()), if it does. */
  overflow?: InflightRequest[];
}

/** How each line that names a request killed by a quick stop begins. */
export function quickStopLead(where: string): string {
  return `Killed by the quick stop on ${where}`;
}

/** A connection accepted past the worker's limit, waiting unread for room (Admission.wait). */
export interface UnreadConnection {
  /** As clientOf() names it. */
  client: string;
  /** Date.now() when it was parked. */
  since: number;
}

/** The WARNING of each of `unread` a quick stop drops: no request was read, so no access line. */
export function logQuickStopUnread(log: Logger, where: string, unread: UnreadConnection[]): void {
  const now = Date.now();
  for (const { client, since } of unread) {
    log.warning(
      `${quickStopLead(where)}: a connection from ${client} for ` +
        `${((now - since) / 1000).toFixed(1)} s, accepted and waiting for room, its request unread`,
    );
  }
}

/**
 * The WARNING, if any, of the connections a quick stop closed before a request was read from them
 * (HttpServer.dropUnparsed): their clients may have sent one, so they are counted, in one line
 * (a flood of idle connections makes no flood of lines).
 */
export function logQuickStopUnparsed(
  log: Logger,
  where: string,
  { connections, partial }: UnparsedConnections,
): void {
  if (connections === 0) return;
  const some = connections === 1 ? "a connection" : `${connections} connections`;
  const part = partial === 0
    ? ""
    : connections === 1
    ? " (part of one received)"
    : ` (${partial} with part of one received)`;
  log.warning(`${quickStopLead(where)}: ${some} with no request read yet${part}`);
}

/**
 * The WARNING and the access line (504, no body: the status a killed request's line has, see
 * docs/architecture.md) of each request of `killed`, each counted into `counters` if given. One
 * whose response was under way gets its WARNING only: its connection logged and counted the
 * status and bytes its client got as the quick stop ended it (InflightRequest.logged).
 */
export function logQuickStopKilled(
  log: Logger,
  killed: KilledRequests[],
  counters?: Float64Array,
): void {
  const now = Date.now();
  for (const { where, inflight, overflow = [] } of killed) {
    for (const line of requestLines(quickStopLead(where), inflight, now)) log.warning(line);
    const requests = [...inflight.requests, ...overflow].filter((request) => !request.logged);
    countInflight(counters, requests, now, []);
    logInflightAccess(log, requests, now);
  }
}
