// The master's control socket (`appserve ctl`): a unix socket, mode 0600, that takes one JSON
// request per connection (src/ipc/control_protocol.ts) and hands it to the arbiter's loop, which
// answers. A client that sends garbage, too much, or nothing gets an error or is dropped; the
// master serves on either way.

import { existsSync, mkdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { MAX_WORKERS } from "../config/settings.ts";
import { ConfigError, osReason } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import {
  type ControlReply,
  type ControlRequest,
  MAX_REQUEST_BYTES,
  parseRequest,
} from "../ipc/control_protocol.ts";

/** A client silent this long is dropped. */
const IDLE_MS = 5000;

export type ControlHandler = (request: ControlRequest, reply: (r: ControlReply) => void) => void;

/** Whether a master answers on the socket at `path` (false: nothing, or a stale file). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function serveClient(socket: Socket, handle: ControlHandler): void {
  let buffered = "";
  let done = false;
  const reply = (r: ControlReply) => {
    if (done) return;
    done = true;
    socket.end(`${JSON.stringify(r)}\n`);
  };
  socket.setEncoding("utf8");
  socket.setTimeout(IDLE_MS, () => socket.destroy());
  socket.on("error", () => {});
  socket.on("data", (chunk: string) => {
    if (done) return;
    buffered += chunk;
    const end = buffered.indexOf("\n");
    if (end < 0) {
      if (buffered.length > MAX_REQUEST_BYTES) reply({ ok: false, error: "Request too long" });
      return;
    }
    const request = parseRequest(buffered.slice(0, end), MAX_WORKERS);
    if (typeof request === "string") return reply({ ok: false, error: request });
    handle(request, reply);
  });
}

/** The open control socket. */
export class ControlSocket {
  #path: string;
  readonly #server: Server;

  private constructor(path: string, server: Server) {
    this.#path = path;
    this.#server = server;
  }

  /**
   * Listens at `path` (a stale file left by a master that died is replaced); a ConfigError in
   * one line when the directory is missing or not writable, or another master answers there.
   */
  static async open(
    path: string,
    handle: ControlHandler,
    umask: (mask: number) => number,
  ): Promise<ControlSocket> {
    const where = `--control-socket: Cannot listen on "${path}"`;
    if (!existsSync(dirname(path))) throw new ConfigError(`${where}: no such directory`);
    if (existsSync(path)) {
      if (!statSync(path).isSocket()) throw new ConfigError(`${where}: not a socket`);
      if (await answers(path)) throw new ConfigError(`${where}: another master answers there`);
      unlinkSync(path);
    }
    const server = createServer((socket) => serveClient(socket, handle));
    // Only the user the master runs as (and root) may steer it: made 0600 by the bind itself,
    // so no one connects between the bind and a chmod. The umask is the process's: put back.
    const previous = umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, resolve);
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "EACCES" ? "permission denied" : (error as Error).message;
      throw new ConfigError(`${where}: ${why}`);
    } finally {
      umask(previous);
    }
    return new ControlSocket(path, server);
  }

  get path(): string {
    return this.#path;
  }

  /** Moves the socket's file (a USR2 child promoted: PIDFILE.2.ctl becomes PIDFILE.ctl). */
  rename(path: string): void {
    try {
      renameSync(this.#path, path);
      this.#path = path;
    } catch {
      // Keep the old name: ctl still finds it there.
    }
  }

  close(): void {
    this.#server.close();
    try {
      unlinkSync(this.#path);
    } catch {
      // Already gone.
    }
  }
}

/**
 * ControlSocket.open() for the default socket under $XDG_RUNTIME_DIR, which nobody named: its
 * directory is made (mode 0700), and when the socket cannot be had (another master of the same
 * name answers there) the master serves without one, after a warning.
 */
export async function openDefaultControl(
  path: string,
  handle: ControlHandler,
  log: Logger,
  umask: (mask: number) => number,
): Promise<ControlSocket | undefined> {
  const without =
    "serving without a control socket (name one with --control-socket PATH or -n NAME)";
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    log.warning(`Cannot make the directory "${dirname(path)}": ${osReason(error)}; ${without}`);
    return undefined;
  }
  try {
    return await ControlSocket.open(path, handle, umask);
  } catch (error) {
    log.warning(`${(error as Error).message.replace(/^--control-socket: /, "")}; ${without}`);
    return undefined;
  }
}
