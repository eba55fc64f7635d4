// The one interface behind which Deno and Bun differ. Everything outside
// src/runtime/ talks to the runtime only through this shape.

import type { Server, Socket } from "node:net";
import type {
  FetchHandler,
  WebSocketHandlers,
  WebSocketUpgrade,
  WebSocketUpgrader,
} from "../fetch_handler.ts";

/** The libc calls the master needs to own listening sockets (via FFI). */
/** Linux's number for SIGUSR1, as Libc's signal calls take it (Runtime.blockInspectorSignal). */
export const SIGUSR1 = 10;

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array): number;
  bind(fd: number, addr: Uint8Array): number;
  connect(fd: number, addr: Uint8Array): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getpeername(fd: number, addr: Uint8Array, len: Uint8Array): number;
  close(fd: number): number;
  fcntl(fd: number, command: number, arg: number): number;
  /** Sets the supplementary groups (glibc applies it to every thread of the process). */
  setgroups(gids: number[]): number;
  setgid(gid: number): number;
  setuid(uid: number): number;
  /** Sets the file-mode creation mask; returns the previous one. */
  umask(mask: number): number;
  /** Makes `target` a copy of `fd` (--capture-output points stdout/stderr at the error log). */
  dup2(fd: number, target: number): number;
  /** A new fd for what `fd` refers to. */
  dup(fd: number): number;
  /** write(2): bytes written, or -1. */
  write(fd: number, bytes: Uint8Array): number;
  /** recv(2) into `buffer`: bytes received, or -1. */
  recv(fd: number, buffer: Uint8Array, flags: number): number;
  /** shutdown(2); how: 0 read, 1 write, 2 both. */
  shutdown(fd: number, how: number): number;
  /** The address of a global variable of this process (dlsym RTLD_DEFAULT), or 0. */
  symbolAddress(name: string): number;
  /** strdup(3): a copy, on libc's heap, of the C string at `address`; 0 when out of memory. */
  copyString(address: number): number;
  /** prctl(PR_SET_NAME): the calling thread's name (the process's, in the main thread). */
  setThreadName(name: string): number;
  /** Whether a listening socket has a connection waiting (poll(2) without waiting). */
  readable(fd: number): boolean;
  /** An anonymous shared-memory file of `length` zero bytes (memfd_create), close-on-exec, or -1. */
  memfd(name: string, length: number): number;
  /**
   * Blocks signal `signo` in the calling thread (sigprocmask); returns what restores the mask.
   * A process started meanwhile inherits the block.
   */
  blockSignal(signo: number): () => void;
  /** execv(3): this process becomes `path` with `argv`; returns (-1) only when that failed. */
  execv(path: string, argv: string[]): number;
  /** Takes signal `signo` if it is pending, blocked (sigtimedwait without waiting). */
  takeSignal(signo: number): boolean;
  /** Collects child `pid` if it has ended (waitpid with WNOHANG); true when it was collected. */
  reap(pid: number): boolean;
  /** `length` bytes of `fd` mapped shared (mmap MAP_SHARED), or null when the map fails. */
  mapShared(fd: number, length: number): Uint8Array | null;
  /** `length` bytes of this process's memory at `address`, writable in place. */
  memory(address: number, length: number): Uint8Array;
  /** Where `bytes` are in this process's memory: the address memory() takes back. */
  addressOf(bytes: Uint8Array): number;
  /** errno of the last failed call, read right after it. */
  errno(): number;
  strerror(errno: number): string;
}

/** A request's cookies as a Bun route's handler gets them (`req.cookies`). */
export interface RouteCookies {
  /** The Set-Cookie field values the changes made to it call for, in the order made. */
  toSetCookieHeaders(): string[];
}

/** A server started by the runtime's own native HTTP stack (reuse-port mode). */
export interface NativeServer {
  /**
   * A graceful stop's start, at once: the listener is shut (new connections go to the siblings)
   * and every response from the call on, whenever its request began, says `Connection: close`.
   * Called before a wait (Deno's WebSocket close handshakes) so nothing new lands meanwhile;
   * shutdown() calls it too.
   */
  beginStop(): void;
  /**
   * Graceful: begins the stop, finishes in-flight requests, sends close code 1001 to open
   * WebSockets; resolves once they are closed. Before the idle kept-alive connections are closed,
   * their clients get `lingerMs` to send their next request (answered close): closing one at once
   * races with a request its client is sending, which is then lost. An answer kept alive and still
   * being sent then gets its `lingerMs` from its end, at most half what is left before `deadline`
   * (a performance.now() time). No wait when no answer ever kept its connection alive (every
   * request said `Connection: close`, --keep-alive 0).
   */
  shutdown(lingerMs?: number, deadline?: number): Promise<void>;
  /** Closes everything still open now (the graceful timeout ran out). */
  stopNow(): void;
  /**
   * Stops accepting, for good, and resolves once the listening socket is closed (a client that
   * connects then is refused, or taken by a sibling's): a quick stop's hooks run while nothing is
   * accepted. The connections open are left as they are; shutdown() and stopNow() still end them.
   */
  stopAccepting(): Promise<void>;
}

export interface NativeServeOptions {
  hostname: string;
  port: number;
  /** The app's `websocket` handlers (Bun's shape), for Bun.serve. */
  websocket?: WebSocketHandlers;
  /**
   * Seconds an idle kept-alive connection stays open (keepalive); 0 closes it after each
   * response. Bun.serve's timer; Deno.serve has none, and honours only the 0.
   */
  keepAlive: number;
  /** WebSocket settings of the native server. */
  websocketLimits?: { maxMessage: number; idleTimeout: number; sendLimit: number };
  /**
   * Serve HTTPS with these PEM texts; certReqs as gunicorn's cert_reqs (0, 1, 2); ciphers an
   * OpenSSL list, empty for the defaults.
   */
  tls?: { cert: string; key: string; ca: string; certReqs: 0 | 1 | 2; ciphers: string };
  /**
   * The server stopped accepting by itself, for good, and why (Deno.serve after an accept error
   * such as EMFILE: its listener is closed, its connections are still served). Not after
   * shutdown().
   */
  onStopped?(error: unknown): void;
  /**
   * The native server failed to send a response the app made (Bun.serve's `error`: a file body
   * that could not be read after all); it answers 500 itself.
   */
  onSendError?(error: unknown): void;
  /**
   * A warning of the native server's own, one line of text, which it would print on stderr
   * outside the log format (Deno.serve's about request.signal's "legacy behavior").
   */
  onWarning?(text: string): void;
}

/**
 * What a response stream fails with once appserve has logged why (the app's error): the native
 * server cuts the reply and says nothing more.
 */
export class BodyErrorLogged extends Error {
  constructor() {
    super("the response body failed (logged)");
    this.name = "BodyErrorLogged";
  }
}

/** What the native upgrade (Deno.serve's requests, under --reuse-port) gets from appserve. */
export interface NativeUpgradeOptions {
  /** Seconds without a pong before the socket closes, unless the app passes its own. */
  idleTimeout: number;
  /**
   * Told of each native upgrade (the access log follows the session); `left`: the client had
   * left by then, and the socket never opens.
   */
  upgraded(upgrade: WebSocketUpgrade, request: Request, left: boolean): void;
  /** What to answer instead of the native upgrade (a bad handshake), or undefined. */
  refuse(request: Request): WebSocketUpgrade | undefined;
}

/** A Response's body that is a file or a part of one, as Runtime.fileBody gives it. */
export interface FileBody {
  /**
   * The number of bytes the body would send now (the file's size, read now), or -1 (also for a
   * part of a file, which has no Range of its own).
   */
  length(): number;
  /** A body of bytes `start` to `end` (excluded) of the file. */
  slice(start: number, end: number): BodyInit;
  /**
   * The head's lines the runtime's server adds to a GET's answer of this file when its
   * Content-Type is `type` (Bun.serve: `content-disposition: filename="NAME"`), or "".
   */
  fields(type: string): string;
}

/** How the native server's `request.signal` behaves (Runtime.requestSignal). */
export interface RequestSignalBehaviour {
  /** The message of the AbortError (a DOMException) it aborts with. */
  readonly message: string;
  /** Whether it aborts once a response went out whole too, not only for a client gone. */
  readonly afterResponse: boolean;
}

/** How to start another process of this same program. */
export interface SelfCommand {
  command: string;
  /** Its argv[0], when not `command` (the binary's worker: its master's path, not /proc/self/exe). */
  argv0?: string;
  /** Arguments that make the new process run `entry` ("worker" or "master"). */
  args: string[];
  /** Variables it needs on top of the environment it is given (Bun's worker: the bunfig.toml). */
  env?: Record<string, string>;
}

export interface Runtime {
  readonly name: "deno" | "bun";
  /**
   * Deno (2.9.2 on) opens a V8 inspector on 127.0.0.1:9229 when it gets SIGUSR1, whatever the
   * program listens to: this starts the program again in this process (execv, same pid and
   * argv) with the signal blocked, which the master then takes itself (`Libc.takeSignal`).
   * Does nothing where that is not needed (Bun) or done already.
   */
  blockInspectorSignal(): void;
  readonly version: string;
  /**
   * Whether the runtime's TLS honours the settings that narrow it: client certificates
   * (cert_reqs) and ciphers. Deno's node:tls and Deno.serve ignore both.
   */
  readonly tlsControls: boolean;
  /** True inside a single-file executable. */
  readonly compiled: boolean;
  /**
   * How a child process gets the listening sockets. "inherit": at the same fd
   * numbers, because Deno's spawn clears O_NONBLOCK on fds given in `stdio`
   * (a flag every process sharing the socket sees). "stdio": mapped to fds
   * after the stdio entries, because Bun's spawn closes every other fd.
   */
  readonly fdPassing: "inherit" | "stdio";
  /**
   * Command line that starts a worker process of this program, in the working directory: the
   * code this master runs, even once an upgrade has put another program at its path (only USR2
   * takes that up).
   */
  workerCommand(): SelfCommand;
  /**
   * In a worker process, before the app is imported: sets the variables of the working
   * directory's .env files that its runtime's own launcher would have set and this program did
   * not (the binary's Bun workers: as `bun run` loads them, the environment winning; nothing
   * elsewhere: `bun` loaded them already, Deno loads none). Returns the files read.
   */
  loadProjectEnv(): string[];
  /**
   * Starts a gthread thread of this program (a Web Worker of its thread entry) named `name`: under
   * Bun with the working directory's bunfig.toml `preload`, which Bun runs in a process's main
   * thread only.
   */
  startThread(name: string): Worker;
  /**
   * Command line that starts a new master (USR2 re-exec, the daemon) with these CLI args: the
   * program as now on disk at the path this master was started by (a bare name looked up again in
   * `env`'s PATH), as gunicorn re-executes its argv[0].
   */
  masterCommand(argv: string[], env?: Record<string, string | undefined>): SelfCommand;
  /** A file embedded in the compiled executable (the Deno worker bundle), by name. */
  embeddedFile(name: string): Promise<Uint8Array | undefined>;
  /** The libc bindings, opened once per process. */
  libc(): Libc;
  /** Sets what `ps` shows for this process (gunicorn's setproctitle). */
  setProcessTitle(title: string): void;
  /**
   * Makes `import ... from "<specifier>"` in user modules (a --logger-class)
   * resolve to `exports`, this very module instance, so classes stay identical.
   */
  provideModule(specifier: string, exports: Record<string, unknown>): void;
  /**
   * Readies this process or thread to import the app at `appFile` and what it imports, the
   * way its project expects: Bun resolves Deno's `npm:` specifiers and the deno.json import
   * map there, and fails at once on what only Deno loads. Call once, before the import;
   * throws an Error when the project's deno.json is broken.
   */
  prepareImports(appFile: string): void;
  /**
   * Whether Error.prepareStackTrace decides the stacks the app prints itself, so that a hook
   * leaving out appserve's frames keeps them out (src/app/own_frames.ts).
   */
  ownFramesHook: boolean;
  /**
   * What the console prints for an error whose stack was not read yet, when that is not
   * err.stack (the hook's): Bun's console prints the frames it keeps itself (as Bun.inspect
   * does), and err.stack once it was read. Null under Deno, whose console prints err.stack.
   */
  printedError: ((error: Error) => string) | null;
  /**
   * The specifier that imports the module at `file` (an absolute path) again, as a module of its
   * own apart from earlier imports of it (`tag` tells them apart): HUP's hooks module.
   */
  freshImport(file: string, tag: string): string;
  /**
   * The one-line account of an error from loading or running the app that this runtime
   * knows better than the error's own text (under Bun: the app needs Deno), else undefined.
   */
  explainAppError(error: unknown): string | undefined;
  /**
   * Where this runtime's own server is started from: `Deno.serve` or `Bun.serve`, as the object
   * holding `serve` and its name, so the app's own calls to it can be noticed.
   */
  nativeServe(): { owner: { serve: unknown }; label: string };
  /**
   * The `cookies` a Bun route's handler finds on its request, made from the Cookie field (null
   * when there is none): Bun's own `Bun.CookieMap`, whose changes the server answers with as
   * Set-Cookie. null where the runtime's server has no such thing (Deno).
   */
  routeCookies: ((cookieField: string | null) => RouteCookies) | null;
  /**
   * The body of a Response made from a string or bytes while nothing has read it, without a
   * stream (Deno keeps it so; Bun, strings and small byte bodies, once rememberStaticBodies()
   * ran); null when it has none, it was read, or the runtime does not say. The caller must not
   * assume a null body is empty: it reads `response.body` then.
   */
  staticBody(response: Response): string | Uint8Array | null;
  /**
   * Before the app is imported, in a process or thread whose responses go through appserve's
   * writer: lets staticBody(), knownLength() and decodedBody() see the bodies the app makes (Bun:
   * the global Response becomes a subclass that remembers a string body, Bun.file notes the files
   * it makes and fetch the Responses it did not decode; Deno keeps them anyway).
   */
  rememberStaticBodies(): void;
  /**
   * The Content-Type the runtime's own server writes for `response` when its headers have none:
   * Bun keeps the type of a body out of the headers and Bun.serve adds it as it writes; Deno puts
   * it in them (always null).
   */
  impliedType(response: Response): string | null;
  /**
   * The length of `response`'s body when the runtime knows it without reading it and
   * staticBody() has not the body itself (Bun: larger or shared bytes, a file), else -1: what lets the
   * writer send a Content-Length instead of chunks, and one for HEAD, as Bun.serve does.
   */
  knownLength(response: Response): number;
  /**
   * Whether the runtime's fetch() decoded `response`'s body while its headers kept the upstream's
   * Content-Encoding and Content-Length (Deno: the Response's own mark, as Deno.serve reads it;
   * Bun: a fetched Response with an encoding it decodes, unless fetched with `decompress: false`).
   */
  decodedBody(response: Response): boolean;
  /**
   * What the runtime's server does with an app-set Content-Length on a streamed body:
   * "declared" (Deno.serve: sends it, cuts the body to it, closes when the body falls short),
   * "actual" (Bun.serve: ignores it, sends the body's own length or chunks).
   */
  streamLength: "declared" | "actual";
  /**
   * The file, or part of one, `response`'s body is, unread (Bun: from Bun.file(), as knownLength),
   * so that a Range request is answered from a whole one as the runtime's own server does, and
   * the writer adds the fields that server adds for a file (FileBody.fields); else null. None:
   * the runtime's server answers no Range and adds nothing (Deno).
   */
  fileBody?(response: Response): FileBody | null;
  /**
   * Why the file `response`'s body is (Bun: from Bun.file(), or a part of one) cannot be sent:
   * the error the runtime's server would fail with when it came to send it (a missing file, a
   * directory), found before, so it is answered as a throw from the app is; else null. None: the
   * runtime's file bodies are open already (Deno).
   */
  fileFailure?(response: Response): Error | null;
  /**
   * How the native server's `request.signal` behaves, which appserve's HTTP layer copies: both
   * abort it when the client goes away (a FIN included: a half-close looks the same) while the
   * request is under way; Deno.serve also once a response went out whole.
   */
  readonly requestSignal: RequestSignalBehaviour;
  /**
   * Whether `error` is what the native server's request body read fails with when the client
   * left before sending the body whole: the client's fault, not the app's.
   */
  bodyCut(error: unknown): boolean;
  /**
   * Whether the native server aborts a request's signal when its client leaves before sending the
   * body whole (Bun.serve): what tells an app's 500 for a body read the client broke from the
   * app's own fault (src/worker/failure_answer.ts, clientLeftMidBody). Deno.serve (2.9.6) leaves
   * the signal alone then, and warns when a Request made from its own reads it.
   */
  readonly abortsOnBodyCut: boolean;
  /**
   * Whether the native server upgrades a request to a WebSocket only through its own server
   * object (Bun.serve's server.upgrade(), with the app's `websocket` handlers), so appserve's
   * neutral upgradeWebSocket is carried onto it (src/worker/native_websockets.ts); not where a
   * function of the runtime's own upgrades the request (Deno.upgradeWebSocket).
   */
  readonly upgradesThroughServer: boolean;
  /** Serve with the runtime's native server on its own SO_REUSEPORT listener. */
  serveNative(handler: FetchHandler, options: NativeServeOptions): Promise<NativeServer>;
  /**
   * Readies this process or thread for apps' WebSocket upgrades, before the app is imported:
   * under Deno, `Deno.upgradeWebSocket` becomes `ours` for the requests appserve's HTTP layer
   * offered and stays the native one for the rest (Deno.serve's, under --reuse-port). Returns
   * the runtime-neutral upgrade (mod.ts `upgradeWebSocket`): `ours`, else the native server's.
   */
  installWebSocketUpgrade(
    ours: WebSocketUpgrader,
    native?: NativeUpgradeOptions,
  ): WebSocketUpgrader;
  /**
   * gthread's threads hand connections to each other as fds: `detachSocket`
   * turns a socket accepted with `pauseOnConnect` into an fd of its own (the
   * socket object is done with; when no fd is to be had, it throws and the
   * socket stays as it was), `adoptSocket` makes a node:net Socket of such an
   * fd in whichever thread it lands. `socketFd` is an fd of an open socket that stays
   * valid while the socket is open (the socket's own, or a duplicate closed with
   * it): the worker process answers on it for a thread that hangs.
   */
  detachSocket(socket: Socket): number;
  socketFd(socket: Socket): number;
  /** Closes the duplicates `socketFd` made whose sockets are open: a crashed thread's last act. */
  closeSocketFds(): void;
  adoptSocket(fd: number): Socket;
  /**
   * Makes the fd under a node:net server or socket close-on-exec, so that no process this one
   * starts inherits it: Deno makes node:net's unix sockets without, and its spawn closes no fd.
   */
  keepFromChildren(owner: Server | Socket): void;
  /**
   * Whether `Worker.terminate()` stops a thread that is busy running JavaScript.
   * Deno's does not (the thread spins on), so a hung gthread thread there
   * costs the whole worker process instead of just the thread.
   */
  readonly stopsBusyThreads: boolean;
  /**
   * Calls `listener` with the exit code when code in this thread calls an exit (node:process's
   * `exit()`, Deno's `Deno.exit()`), before the thread ends and while its fds are still open. In
   * a Web Worker either runtime ends only the thread; `Worker.terminate()` calls nothing.
   */
  onThreadExit(listener: (code: number) => void): void;
}
