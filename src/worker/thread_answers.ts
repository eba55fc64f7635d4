// What is written for a gthread thread's requests that the thread cannot answer itself: by the
// worker process for a thread that hangs (its requests and unread connections claimed from its
// slots) or never took a connection handed to it, and by a thread on its way out (a crash, the app's exit call). Each
// client gets a plain reply, and each request its access line, the one the thread would have
// written: whoever answers a request logs it (thread_slots.ts decides who answers).

import type { Config } from "../config/settings.ts";
import { readProxyHeader } from "../http/proxy_protocol.ts";
import type { ProxyMode } from "../http/types.ts";
import type { InflightRequest, InflightTable } from "../ipc/inflight.ts";
import {
  clientOf,
  countInflight,
  cutOffLead,
  logInflightAccess,
  requestLines,
} from "../ipc/inflight_report.ts";
import type { Logger } from "../log/logger.ts";
import { decodeSockaddr } from "../net/sockaddr.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "../net/socket_constants.ts";
import type { Libc } from "../runtime/types.ts";
import { type TlsConfig, tlsEnabled } from "../tls/tls_files.ts";
import { answerClaimed, type Claimed, type ClaimStatus } from "./thread_slots.ts";

export interface ClaimedAnswerOptions {
  libc: Libc;
  log: Logger;
  /** The thread's in-flight table, which names its requests. */
  table: InflightTable;
  /** The status each request is answered with. */
  status(claimed: Claimed): ClaimStatus;
  /** The connections are TLS (--certfile): shut down without a plain reply (answerClaimed). */
  tls: boolean;
  /**
   * They are cut off at a graceful stop's deadline: each is named at WARNING first, as a thread
   * that can still speak names its own (logCutOff).
   */
  cutOff?: { where: string; graceSeconds: number };
  /** The request counters (--metrics-bind) the requests are counted into, as answered. */
  counters?: Float64Array;
}

/**
 * Answers each claimed request on its fd and writes its access line, oldest first: named from the
 * thread's in-flight table, or, for one past the table's entries, as `- - -` from its client.
 */
export function answerClaimedRequests(claimed: Claimed[], options: ClaimedAnswerOptions): void {
  const { libc, log, table, cutOff } = options;
  const now = Date.now();
  // In the order claimed, which is the order they are answered in.
  const answered = claimed.map((c) => {
    const named = table.at(c.entry);
    const request = named ?? unnamed(libc, c.fd, now - c.age);
    // A HEAD gets the head alone, named or not: its slot says which it is, or, claimed before it
    // said (null), the table's entry if it had one.
    const head = c.head ?? (named ? named.method === "HEAD" : null);
    return { claimed: c, named, request, status: options.status(c), head, bodyBytes: 0 };
  });
  const oldestFirst = [...answered].sort((a, b) => a.request.start - b.request.start);
  if (cutOff !== undefined) {
    const requests = oldestFirst.flatMap((a) => a.named ?? []);
    const inflight = { requests, more: oldestFirst.length - requests.length };
    const lead = cutOffLead(cutOff.where, cutOff.graceSeconds);
    for (const line of requestLines(lead, inflight, now)) log.warning(line);
  }
  for (const a of answered) {
    a.bodyBytes = answerClaimed(libc, a.claimed.fd, a.status, options.tls, a.head);
  }
  const requests = oldestFirst.map((a) => a.request);
  const statuses = oldestFirst.map((a) => a.status);
  countInflight(options.counters, requests, now, statuses);
  logInflightAccess(
    log,
    requests,
    now,
    statuses,
    undefined,
    oldestFirst.map((a) => a.bodyBytes),
  );
}

export interface UnadoptedAnswerOptions {
  libc: Libc;
  log: Logger;
  /** The proxy_protocol setting: a PROXY header before the request names its client. */
  proxyProtocol: ProxyMode;
  /**
   * The connection is TLS (--certfile): closed without a reply (its first bytes are a TLS
   * handshake, which no thread took up), and with no access line (no request can be read).
   */
  tls: boolean;
}

/**
 * The options of answerUnadopted() and answerParked() for a worker of `config`, made here once
 * for the worker process and its threads alike.
 */
export function unreadAnswerOptions(
  libc: Libc,
  log: Logger,
  config: Pick<Config, "proxy_protocol"> & TlsConfig,
): UnadoptedAnswerOptions {
  return { libc, log, proxyProtocol: config.proxy_protocol, tls: tlsEnabled(config) };
}

// recv(2) flag: return what is there, never wait.
const MSG_DONTWAIT = 0x40;

/**
 * A connection handed to a thread that will never take it (src/worker/thread_board.ts): answered
 * 503 and closed. The request waiting on it, read from its first bytes, gets its access line; a
 * connection that sent no request line yet gets none.
 */
export function answerUnadopted(fd: number, options: UnadoptedAnswerOptions): void {
  answerUnread(fd, options, true);
}

/**
 * A connection a thread's server keeps unread for want of room (parked), when the thread hangs,
 * crashes or is cut off at a graceful stop's deadline: answered as one handed to it, but not
 * closed: its fd is the thread's socket's, which closes it.
 */
export function answerParked(fd: number, options: UnadoptedAnswerOptions): void {
  answerUnread(fd, options, false);
}

function answerUnread(fd: number, options: UnadoptedAnswerOptions, close: boolean): void {
  const { libc, log, tls } = options;
  const bytes = new Uint8Array(8192);
  const got = tls ? 0 : libc.recv(fd, bytes, MSG_DONTWAIT);
  const request = got > 0
    ? waitingRequest(bytes.subarray(0, got), options.proxyProtocol, () => peerOf(libc, fd))
    : undefined;
  const sent = answerClaimed(libc, fd, 503, tls, request?.method === "HEAD");
  if (close) libc.close(fd);
  if (request !== undefined) {
    logInflightAccess(log, [request], request.start, [503], undefined, [sent]);
  }
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]$/;

/** The request whose head starts `bytes` (after a PROXY header, if any), or undefined. */
export function waitingRequest(
  bytes: Uint8Array,
  proxyProtocol: ProxyMode,
  peer: () => string,
): InflightRequest | undefined {
  let from = 0;
  let client: string | undefined;
  try {
    const header = readProxyHeader(bytes, proxyProtocol);
    if (header.kind === "more") return undefined;
    if (header.kind === "header") {
      from = header.length;
      if (header.remote !== null) client = clientOf(header.remote);
    }
  } catch {
    return undefined;
  }
  const end = bytes.indexOf(10, from);
  if (end < 0) return undefined;
  const line = String.fromCharCode(...bytes.subarray(from, end)).replace(/\r$/, "");
  const m = REQUEST_LINE.exec(line);
  if (!m) return undefined;
  return { method: m[1], target: m[2], client: client ?? peer(), start: Date.now(), entry: -1 };
}

/**
 * A claimed request the in-flight table has no entry for: only its client is known (its head
 * was read by the thread, and no byte of it is left on the connection).
 */
function unnamed(libc: Libc, fd: number, start: number): InflightRequest {
  return {
    method: "-",
    target: "-",
    client: peerOf(libc, fd),
    start,
    entry: -1,
    lineUnknown: true,
  };
}

/** The client of a connection as an in-flight entry names it: `host:port`, `[v6]:port`, `unix`. */
function peerOf(libc: Libc, fd: number): string {
  const sa = new Uint8Array(128);
  const len = new Uint32Array([sa.length]);
  if (libc.getpeername(fd, sa, new Uint8Array(len.buffer)) !== 0) return "-";
  const peer = decodeSockaddr(sa, len[0]);
  if (peer.family === AF_UNIX) return "unix";
  if (peer.family !== AF_INET && peer.family !== AF_INET6) return "-";
  return clientOf({ transport: "tcp", hostname: peer.host, port: peer.port });
}
