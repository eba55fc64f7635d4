// The control socket's protocol (`appserve ctl` ↔ master): one JSON request line, one JSON
// reply line, then the master closes the connection. Both sides import this file, and where the
// socket is follows from the configuration alone, so ctl finds the master it is pointed at.

import type { Config } from "../config/settings.ts";

/** What `appserve ctl` asks. */
export type ControlRequest =
  | { verb: "status" }
  | { verb: "reload" }
  | { verb: "scale"; workers: number }
  | { verb: "add" }
  | { verb: "remove" }
  | { verb: "stop"; quick?: boolean }
  | { verb: "reopen-logs" };

/** One worker in a status reply. */
export interface WorkerStatus {
  pid: number;
  /** Seconds since it started. */
  age: number;
  /** Requests it has answered (counted on the scoreboard). */
  requests: number;
  inFlight: number;
  /** Resident memory in bytes, when /proc tells. */
  rss: number | null;
  state: "booting" | "serving" | "retiring";
}

/** The master's answer. */
export type ControlReply =
  | { ok: true; message?: string; master?: number; configured?: number; workers?: WorkerStatus[] }
  | { ok: false; error: string };

/** The longest request line the master reads; anything longer is refused. */
export const MAX_REQUEST_BYTES = 4096;

/** The control socket of a configuration: --control-socket, else PIDFILE.ctl, else none. */
export function controlSocketPath(config: Pick<Config, "control_socket" | "pidfile">): string {
  if (config.control_socket === "off") return "";
  return config.control_socket || (config.pidfile ? `${config.pidfile}.ctl` : "");
}

/** A request line as the master reads it: the request, or why it is refused. */
export function parseRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "Cannot read the request: not JSON";
  }
  const r = value as Record<string, unknown>;
  if (typeof r !== "object" || r === null || typeof r.verb !== "string") {
    return 'Cannot read the request: expected an object with a "verb"';
  }
  switch (r.verb) {
    case "status":
    case "reload":
    case "add":
    case "remove":
    case "reopen-logs":
      return { verb: r.verb };
    case "stop":
      return { verb: "stop", quick: r.quick === true };
    case "scale":
      if (!Number.isInteger(r.workers) || (r.workers as number) < 1) {
        return `Cannot scale to ${JSON.stringify(r.workers)}: expected a whole number >= 1`;
      }
      return { verb: "scale", workers: r.workers as number };
    default:
      return `Unknown verb ${JSON.stringify(r.verb)}`;
  }
}
