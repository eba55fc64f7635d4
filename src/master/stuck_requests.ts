// What the master says about the requests of a worker it kills for --timeout, read from the
// worker's in-flight table on the scoreboard (the worker's event loop is stuck and says
// nothing): the CRITICAL lines that name them, and the access-log line each never got.

import type { RemoteAddr } from "../fetch_handler.ts";
import { describeInflight, type InflightRequest } from "../ipc/inflight.ts";
import type { Logger } from "../log/logger.ts";

/** The status of a killed request's access line (why 504: see docs/architecture.md). */
export const KILLED_STATUS = 504;

/** WORKER TIMEOUT and one line per request in flight, for the CRITICAL level. */
export function timeoutLines(
  pid: number,
  workerClass: string,
  inflight: { requests: InflightRequest[]; more: number } | undefined,
  now: number,
): string[] {
  const head = `WORKER TIMEOUT (pid:${pid})`;
  if (inflight === undefined) return [head];
  const count = inflight.requests.length + inflight.more;
  const lines = [
    `${head} ${workerClass} worker, ${
      count === 0 ? "no request" : count === 1 ? "1 request" : `${count} requests`
    } in flight`,
  ];
  for (const request of inflight.requests) {
    lines.push(`In flight on worker (pid:${pid}): ${describeInflight(request, now)}`);
  }
  if (inflight.more) lines.push(`In flight on worker (pid:${pid}): ${inflight.more} more`);
  return lines;
}

/** The client of an entry (`1.2.3.4:5`, `[::1]:5`, `unix`) as the access log's peer. */
function remoteOf(client: string): RemoteAddr {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(client);
  if (m) return { transport: "tcp", hostname: m[1], port: Number(m[2]) };
  return { transport: "unix", hostname: "", port: 0 };
}

function requestOf(method: string, target: string): Request {
  const url = `http://localhost${target.startsWith("/") ? target : "/"}`;
  try {
    return new Request(url, { method });
  } catch {
    // CONNECT, TRACE and TRACK cannot be made into a Request; the access line needs only these.
    return { method, url, headers: new Headers() } as unknown as Request;
  }
}

/** Writes the access-log line of each request a killed worker had in flight. */
export function logKilledRequests(log: Logger, requests: InflightRequest[], now: number): void {
  for (const request of requests) {
    log.access({
      request: requestOf(request.method, request.target),
      response: new Response(null, { status: KILLED_STATUS }),
      details: {
        remote: remoteOf(request.client),
        protocol: "HTTP/1.1",
        target: request.target,
        bodyBytes: 0,
      },
      durationMs: Math.max(0, now - request.start),
      end: new Date(now),
    });
  }
}
