// The master's control socket (`appserve ctl`): a unix socket, mode 0600, that takes one JSON
// request per connection (src/ipc/control_protocol.ts) and hands it to the arbiter's loop, which
// answers. A client that sends garbage, too much, or nothing gets an error or is dropped; the
// master serves on either way.

import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { MAX_WORKERS } from "../config/settings.ts";
import { ConfigError, osReason } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import {
  AskFailure,
  askMaster,
  type ControlReply,
  type ControlRequest,
  MAX_REQUEST_BYTES,
  parseRequest,
  SYSTEM_CONTROL_DIR,
} from "../ipc/control_protocol.ts";

/** A client silent this long is dropped. */
const IDLE_MS = 5000;

export type ControlHandler = (request: ControlRequest, reply: (r: ControlReply) => void) => void;

/** What the control socket needs of the process it serves in. */
export interface ControlHost {
  /** Sets the process's umask; returns the previous one. */
  umask(mask: number): number;
  /**
   * Makes a server's or socket's fd close-on-exec (Runtime.keepFromChildren): a worker or USR2
   * child that inherited the listener kept it listening, and kept a client's connection open.
   */
  keepFromChildren(owner: Server | Socket): void;
}

/** How long a master already at the socket gets to say its pid. */
const OWNER_MS = 2000;

/**
 * Whether a master answers on the socket at `path`: false (nothing, or a stale file), or its pid
 * as its status tells it (0 when it does not say: still starting, or silent).
 */
async function answers(path: string, host: ControlHost): Promise<number | false> {
  try {
    const reply = await askMaster(
      path,
      { verb: "status" },
      OWNER_MS,
      (socket) => host.keepFromChildren(socket),
    );
    return reply.ok && Number.isInteger(reply.master) ? reply.master as number : 0;
  } catch (error) {
    // Not even reached: nothing there, or a stale file. Reached but silent: still starting.
    return error instanceof AskFailure && error.reason === "error" && !error.connected ? false : 0;
  }
}

/** "another master answers there", with its pid when it said it. */
function another(pid: number): string {
  return pid ? `master ${pid} answers there` : "another master answers there";
}

function serveClient(socket: Socket, handle: ControlHandler, host: ControlHost): void {
  host.keepFromChildren(socket);
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

/** Which file a path names now (device and inode), or undefined when there is none. */
function fileId(path: string): string | undefined {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/** The socket is another master's, which answers there (`pid`: 0 when it did not say). */
class OwnedSocket extends ConfigError {
  readonly pid: number;
  constructor(message: string, pid: number) {
    super(message);
    this.pid = pid;
  }
}

/** The open control socket. */
export class ControlSocket {
  #path: string;
  #server: Server;
  /** The socket file this master made, to tell it from one another master made at its path. */
  #file: string | undefined;
  readonly #handle: ControlHandler;
  readonly #host: ControlHost;

  private constructor(path: string, server: Server, handle: ControlHandler, host: ControlHost) {
    this.#path = path;
    this.#server = server;
    this.#file = fileId(path);
    this.#handle = handle;
    this.#host = host;
  }

  /**
   * Listens at `path` (a stale file left by a master that died is replaced); a ConfigError in
   * one line when the directory is missing or not writable, or another master answers there.
   */
  static async open(
    path: string,
    handle: ControlHandler,
    host: ControlHost,
  ): Promise<ControlSocket> {
    const where = `--control-socket: Cannot listen on "${path}"`;
    if (!existsSync(dirname(path))) throw new ConfigError(`${where}: no such directory`);
    if (existsSync(path)) {
      if (!statSync(path).isSocket()) throw new ConfigError(`${where}: not a socket`);
      const owner = await answers(path, host);
      if (owner !== false) throw new OwnedSocket(`${where}: ${another(owner)}`, owner);
      unlinkSync(path);
    }
    const server = createServer((socket) => serveClient(socket, handle, host));
    // Only the user the master runs as (and root) may steer it: made 0600 by the bind itself,
    // so no one connects between the bind and a chmod. The umask is the process's: put back.
    const previous = host.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, resolve);
        // At once: a worker may be started before the listen settles.
        host.keepFromChildren(server);
      });
    } catch (error) {
      // Bun's message ("Failed to listen at PATH") names no reason: the code does, in the
      // words a unix: bind, the pidfile and the logs use (EROFS in a read-only container).
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "EACCES" ? "permission denied" : osReason(error);
      throw new ConfigError(`${where}: ${why}`);
    } finally {
      host.umask(previous);
    }
    return new ControlSocket(path, server, handle, host);
  }

  get path(): string {
    return this.#path;
  }

  /**
   * A USR2 child promoted: listens at `path` (PIDFILE.ctl) afresh, then closes the socket at
   * PIDFILE.ctl.2. Not a rename: every runtime's close() unlinks the path a unix server was
   * bound at, which after a rename is the next USR2 child's PIDFILE.ctl.2. Returns why the
   * socket stays where it is, or undefined.
   */
  async moveTo(path: string): Promise<string | undefined> {
    let next: ControlSocket;
    try {
      next = await ControlSocket.open(path, this.#handle, this.#host);
    } catch (error) {
      return (error as Error).message.replace(/^--control-socket: /, "");
    }
    this.close();
    this.#path = next.#path;
    this.#server = next.#server;
    this.#file = next.#file;
    return undefined;
  }

  /** Stops listening and removes the socket file, unless the file at its path is another's. */
  close(): void {
    if (this.#file !== undefined && fileId(this.#path) === this.#file) {
      // Unlinks the file too (every runtime does, at the path it was bound at).
      this.#server.close();
      try {
        // Should a runtime not: still ours, then.
        if (fileId(this.#path) === this.#file) unlinkSync(this.#path);
      } catch {
        // Gone meanwhile.
      }
      return;
    }
    // Our file is gone or replaced by another master's, which close() would unlink: left open
    // (nobody reaches it without its file) and unreferenced, it goes with this process.
    this.#server.unref();
  }
}

/**
 * The uid whose /run/appserve/UID folder holds the default socket of a `-u` master: a root master
 * makes it and hands it over, and its USR2 child (the user by then) finds it there; a master that
 * is already the user (`-u` naming itself) and finds no such folder of its own cannot make one
 * (/run/appserve is root's) and keeps to $XDG_RUNTIME_DIR or $HOME.
 */
export function controlRunAs(identity: { uid: number } | null | undefined): number | undefined {
  if (!identity) return undefined;
  if (process.getuid?.() === 0) return identity.uid;
  try {
    const folder = lstatSync(join(SYSTEM_CONTROL_DIR, String(identity.uid)));
    return folder.isDirectory() && folder.uid === identity.uid ? identity.uid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * ControlSocket.open() for the default socket (control_protocol.ts's defaultControlDir()), which
 * nobody named: its directory is made (mode 0700), and when the socket cannot be had (another
 * master of the same name answers there) the master serves without one, after a warning. `owner`:
 * the -u user the directory /run/appserve/UID is handed to (made as root, /run/appserve 0755).
 */
export async function openDefaultControl(
  path: string,
  handle: ControlHandler,
  log: Logger,
  host: ControlHost,
  owner: { uid: number; gid: number } | null = null,
): Promise<ControlSocket | undefined> {
  const without =
    "serving without a control socket (name one with --control-socket PATH or -n NAME)";
  const dir = dirname(path);
  try {
    // Searchable by every user (each has a folder of its own in it), whatever the umask. Made
    // once, as root: a USR2 child, the user by then, finds both there.
    if (owner && mkdirSync(dirname(dir), { recursive: true })) chmodSync(dirname(dir), 0o755);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The user's: it reaches the socket, and removes it at exit after the drop.
    if (owner && statSync(dir).uid !== owner.uid) chownSync(dir, owner.uid, owner.gid);
  } catch (error) {
    log.warning(`Cannot make the directory "${dir}": ${osReason(error)}; ${without}`);
    return undefined;
  }
  try {
    return await ControlSocket.open(path, handle, host);
  } catch (error) {
    if (error instanceof OwnedSocket) {
      // Another master of the same name (-n, or the app's module): ctl reaches that one.
      const master = error.pid ? `master ${error.pid}` : "another master";
      log.warning(
        `The control socket "${path}" is ${master}'s: serving without one, and \`appserve ctl\` ` +
          `there reaches ${master}, not this one (give this one -n NAME or --control-socket PATH)`,
      );
      return undefined;
    }
    log.warning(`${(error as Error).message.replace(/^--control-socket: /, "")}; ${without}`);
    return undefined;
  }
}
