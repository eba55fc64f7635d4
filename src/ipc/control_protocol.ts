// The control socket's protocol (`appserve ctl` ↔ master): one JSON request line, one JSON
// reply line, then the master closes the connection. Both sides import this file, and where the
// socket is follows from the configuration alone, so ctl finds the master it is pointed at.

import { connect, type Socket } from "node:net";
import { basename, extname, isAbsolute, join } from "node:path";
import process from "node:process";
import { parseAppSpec } from "../app/app_spec.ts";
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
  /** `recycling`: it serves on until its replacement has booted (--max-requests, memory). */
  state: "booting" | "serving" | "recycling" | "retiring";
}

/** The master's answer. */
export type ControlReply =
  | { ok: true; message?: string; master?: number; configured?: number; workers?: WorkerStatus[] }
  | { ok: false; error: string };

/** The longest request line the master reads; anything longer is refused. */
export const MAX_REQUEST_BYTES = 4096;

/** Why askMaster() got no reply: `connected` says whether the socket was reached first. */
export class AskFailure extends Error {
  constructor(
    readonly reason: "error" | "timeout" | "not json",
    readonly connected: boolean,
    readonly error?: NodeJS.ErrnoException,
  ) {
    super(error?.message ?? reason);
  }
}

/**
 * Sends `req` on the control socket at `path` and resolves to the reply the master sends before
 * it closes; an AskFailure when there is none within `timeoutMs`. `opened` sees the socket first
 * (a master keeps it from its children).
 */
export function askMaster(
  path: string,
  req: ControlRequest,
  timeoutMs: number,
  opened?: (socket: Socket) => void,
): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    opened?.(socket);
    let connected = false;
    let text = "";
    const fail = (reason: AskFailure["reason"], cause?: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(new AskFailure(reason, connected, cause));
    };
    socket.setEncoding("utf8");
    socket.setTimeout(timeoutMs, () => fail("timeout"));
    socket.once("connect", () => {
      connected = true;
      socket.write(`${JSON.stringify(req)}\n`);
    });
    socket.on("data", (chunk: string) => (text += chunk));
    socket.once("end", () => {
      let reply: ControlReply;
      try {
        reply = JSON.parse(text) as ControlReply;
      } catch {
        return fail("not json");
      }
      socket.destroy();
      resolve(reply);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => fail("error", error));
  });
}

/**
 * Where a master given `-u USER` (not root) keeps its default socket: `/run/appserve/UID`, UID being
 * the user's, made by the master as root and handed to the user (mode 0700). Root's own
 * `$XDG_RUNTIME_DIR` and home are closed to the user, who could neither reach the socket with
 * `appserve ctl` nor remove it at exit.
 */
export const SYSTEM_CONTROL_DIR = "/run/appserve";

/**
 * Where a master named by neither --control-socket nor --pid puts its control socket, and what
 * says so: `runAs`, the uid `-u` names, when not root: `/run/appserve/UID`; else
 * `$XDG_RUNTIME_DIR/appserve` (the user's own runtime directory), else `$HOME/.appserve`
 * (gunicorn's `~/.gunicorn`: a shell or container without a login session), or nowhere without
 * either (a relative one is invalid, by the XDG spec and for a home).
 */
export function defaultControlDir(
  env: Record<string, string | undefined> = process.env,
  runAs?: number,
): { dir: string; from: "XDG_RUNTIME_DIR" | "HOME" | "user" } | undefined {
  if (runAs !== undefined && runAs !== 0) {
    return { dir: join(SYSTEM_CONTROL_DIR, String(runAs)), from: "user" };
  }
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) {
    return { dir: join(runtime, "appserve"), from: "XDG_RUNTIME_DIR" };
  }
  const home = env.HOME;
  if (home && isAbsolute(home)) return { dir: join(home, ".appserve"), from: "HOME" };
  return undefined;
}

/** The socket's name in defaultControlDir(): proc_name, else the app's module and export. */
export function controlSocketName(config: Pick<Config, "proc_name" | "app">): string {
  let name = config.proc_name;
  if (!name) {
    try {
      const spec = parseAppSpec(config.app);
      const file = basename(spec.path);
      name = [file.slice(0, file.length - extname(file).length), ...spec.names].join(".");
    } catch {
      name = "appserve";
    }
  }
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

type SocketConfig = Pick<Config, "control_socket" | "pidfile" | "proc_name" | "app">;

/**
 * The control socket of a configuration: --control-socket, else PIDFILE.ctl, else NAME.ctl in
 * defaultControlDir() (`runAs`: the uid `-u` names), else none; `off`: none.
 */
export function controlSocketPath(
  config: SocketConfig,
  env: Record<string, string | undefined> = process.env,
  runAs?: number,
): string {
  if (config.control_socket === "off") return "";
  if (config.control_socket) return config.control_socket;
  if (config.pidfile) return `${config.pidfile}.ctl`;
  const dir = defaultControlDir(env, runAs)?.dir;
  return dir ? join(dir, `${controlSocketName(config)}.ctl`) : "";
}

/**
 * Whether the control socket is the default in defaultControlDir(), which nobody asked for by
 * name: another master there is a warning, not a reason to refuse to start.
 */
export function implicitControlSocket(config: SocketConfig): boolean {
  return !config.control_socket && !config.pidfile;
}

/**
 * Why `workers` is no worker count for `scale`, or undefined: `max` is the most the `workers`
 * setting accepts (the client and the master both check, so a request written by hand is too).
 */
export function scaleProblem(workers: unknown, max: number): string | undefined {
  const ok = Number.isInteger(workers) && (workers as number) >= 1 && (workers as number) <= max;
  return ok ? undefined : `expected a whole number from 1 to ${max}`;
}

/**
 * A request line as the master reads it: the request, or why it is refused. `maxWorkers`: the
 * most workers the `workers` setting accepts.
 */
export function parseRequest(line: string, maxWorkers: number): ControlRequest | string {
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
    case "scale": {
      const problem = scaleProblem(r.workers, maxWorkers);
      if (problem) return `Cannot scale to ${JSON.stringify(r.workers)}: ${problem}`;
      return { verb: "scale", workers: r.workers as number };
    }
    default:
      return `Unknown verb ${JSON.stringify(r.verb)}`;
  }
}
