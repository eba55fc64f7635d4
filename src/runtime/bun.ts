/// <reference types="npm:bun-types@1.4.4" />
// Bun's side of the runtime seam: FFI through bun:ffi, the native server
// through Bun.serve, and re-execution of the bun binary or the compiled file.

import { CString, dlopen, FFIType, type Pointer, ptr, read, toArrayBuffer } from "bun:ffi";
import { Socket } from "node:net";
import process from "node:process";
import { closeSync, openSync, statSync } from "node:fs";
import {
  type FetchHandler,
  type ServeInfo,
  ServerMembers,
  type WebSocketHandlers,
  type WebSocketUpgrader,
} from "../fetch_handler.ts";
import type { Libc, NativeServeOptions, NativeServer, Runtime, SelfCommand } from "./types.ts";
import { CLI_ENTRY, THREAD_ENTRY, WORKER_ENTRY } from "./_paths.ts";
import { F_SETFD, FD_CLOEXEC, LIBC_PATH, LIBC_SYMBOLS, libcOver, once } from "./_libc_symbols.ts";
import { writeProcessTitle } from "./_process_title.ts";
import { explainAppError, prepareImports } from "./_bun_imports.ts";
import { explainMissingPackage } from "./_bun_missing_package.ts";
import { decodedBody, noteRawFetches } from "./_bun_decoded_body.ts";
import { headAnswer } from "./_bun_head.ts";
import { bunfigEnv, loadDotenv } from "./_bun_autoload.ts";
import { bunfigPreload, bunOptionsPreload } from "./_bun_thread_preload.ts";
import { whichProgram } from "./executables.ts";
import { ConfigError } from "../errors.ts";
import { addressSpaceLimitKb } from "../address_space.ts";
import {
  fileBody,
  fileFailure,
  impliedType,
  knownLength,
  rememberBodies,
  rememberedBody,
  withPartRange,
} from "./_bun_static_body.ts";
import { doneAfter, HEAD_WAIT, idleAfter } from "./_bun_idle.ts";
import { ownListeningFds, shutOwnListeners } from "./_own_listeners.ts";
import { KeptSends, sayClose } from "./_say_close.ts";

const FFI_TYPES: Record<string, FFIType> = {
  i32: FFIType.i32,
  u32: FFIType.u32,
  u64: FFIType.u64,
  buffer: FFIType.ptr,
  pointer: FFIType.ptr,
};

// A compiled executable's own modules live under Bun's virtual /$bunfs/ root.
const COMPILED = import.meta.url.includes("$bunfs") || import.meta.url.includes("%7EBUN");

function loadLibc(): Libc {
  const spec = Object.fromEntries(
    Object.entries(LIBC_SYMBOLS).map(([name, def]) => [name, {
      args: def.parameters.map((p) => FFI_TYPES[p]),
      returns: FFI_TYPES[def.result],
    }]),
  );
  // deno-lint-ignore no-explicit-any
  let s: any;
  try {
    s = dlopen(LIBC_PATH, spec).symbols;
  } catch (error) {
    if (!/requires the JIT/.test((error as Error).message)) throw error;
    // Bun turns its JIT off when it cannot reserve address space (a low `ulimit -v`).
    const limit = addressSpaceLimitKb();
    throw new ConfigError(
      `Cannot load libc: bun:ffi needs Bun's JIT, which is off because the address-space limit ` +
        `(ulimit -v) is too low${limit ? ` (${limit} kB)` : ""}: raise or remove it`,
    );
  }
  return libcOver(s, {
    errno: () => read.i32(s.__errno_location(), 0),
    strerror: (e) => new CString(s.strerror(e)).toString(),
    memory: (address, length) => new Uint8Array(toArrayBuffer(address as Pointer, 0, length)),
    addressOf: (bytes) => BigInt(ptr(bytes)),
  });
}

// The peer address is looked up only when asked for, and once: Bun's requestIP() costs about
// 0.6 µs a call, and proxy trust, the in-flight table and the access line all ask.
class BunServeInfo extends ServerMembers implements ServeInfo {
  #server: Bun.Server<unknown>;
  #request: Request;
  #ip: Bun.SocketAddress | null | undefined;
  #remote: ServeInfo["remoteAddr"] | undefined;
  #completed: Promise<void> | undefined;
  #complete: (() => void) | undefined;
  #done = false;
  constructor(server: Bun.Server<unknown>, request: Request) {
    super();
    this.#server = server;
    this.#request = request;
  }
  get remoteAddr(): ServeInfo["remoteAddr"] {
    if (this.#remote === undefined) {
      const ip = this.requestIP();
      this.#remote = { transport: "tcp", hostname: ip?.address ?? "", port: ip?.port ?? 0 };
    }
    return this.#remote;
  }
  requestIP() {
    if (this.#ip === undefined) this.#ip = this.#server.requestIP(this.#request);
    return this.#ip;
  }
  // Bun's server knows only the requests it made: the app's may be appserve's copy (a tapped
  // body), so these take the one Bun.serve handed over, as requestIP() does.
  upgrade(_request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean {
    return this.#server.upgrade(this.#request, (options ?? {}) as { data: unknown });
  }
  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean) {
    return this.#server.publish(topic, data as string, compress);
  }
  timeout(_request: Request, seconds: number): void {
    this.#server.timeout(this.#request, seconds);
  }
  get port(): number {
    return this.#server.port ?? 0;
  }
  get hostname(): string {
    return this.#server.hostname ?? "localhost";
  }
  get url(): URL {
    return this.#server.url;
  }
  /** Deno's `info.completed`, which Bun's server has not: made when first asked for. */
  get completed(): Promise<void> {
    return this.#completed ??= this.#done
      ? Promise.resolve()
      : new Promise<void>((resolve) => (this.#complete = resolve));
  }
  /** Whether the app asked for `completed` and waits for it still. */
  get awaited(): boolean {
    return this.#complete !== undefined;
  }
  /** The request is done: its response handed over whole, its stream ended, or it failed. */
  settle(): void {
    this.#done = true;
    const complete = this.#complete;
    this.#complete = undefined;
    complete?.();
  }
}

type Ws = Bun.ServerWebSocket<unknown>;

// The app's handlers, wrapped so the open sockets are known: Bun's stop(false) waits for as long
// as one stays open, so a graceful stop sends them 1001 itself.
function trackedHandlers(
  app: WebSocketHandlers,
  open: Set<Ws>,
  limits: NativeServeOptions["websocketLimits"],
): Bun.WebSocketHandler<unknown> {
  return {
    ...(limits
      ? {
        maxPayloadLength: limits.maxMessage,
        // Bun takes at most 960 seconds.
        idleTimeout: Math.min(limits.idleTimeout, 960),
        backpressureLimit: limits.sendLimit,
      }
      : {}),
    open(ws) {
      open.add(ws);
      return app.open?.(ws) as void;
    },
    message: (ws, message) => app.message?.(ws, message as string | Uint8Array) as void,
    close(ws, code, reason) {
      open.delete(ws);
      return app.close?.(ws, code, reason) as void;
    },
    drain: (ws) => app.drain?.(ws) as void,
    ping: (ws, data) => app.ping?.(ws, data) as void,
    pong: (ws, data) => app.pong?.(ws, data) as void,
  };
}

const BODY_FACTS = { remembered: rememberedBody, knownLength };

function serveNative(handler: FetchHandler, options: NativeServeOptions): Promise<NativeServer> {
  const open = new Set<Ws>();
  const keepAlive = options.keepAlive;
  // From the graceful stop's start: every answer says close (Bun closes after it, measured).
  let draining = false;
  // shutdown() called: a second call (the cut's) does not wait.
  let shutting = false;
  // An answer left its connection open: the stop lingers for its client's next request. From
  // the stop (not from that answer): a stream handed over long before may end after it.
  let kept = false;
  // Kept-alive answers still going out: their clients send the next request once they have it
  // all, so the linger runs from the last one's end too.
  const sends = new KeptSends();
  // Sockets of the process that listen there already (shared with other processes): not its own.
  const others = ownListeningFds(options.hostname, options.port);
  // deno-lint-ignore no-explicit-any
  const server = (Bun.serve as (o: any) => Bun.Server<unknown>)({
    ...(options.websocket
      ? { websocket: trackedHandlers(options.websocket, open, options.websocketLimits) }
      : {}),
    hostname: options.hostname,
    port: options.port,
    reusePort: true,
    // What a fresh connection waits for its first request; each request sets its own (_bun_idle.ts).
    idleTimeout: HEAD_WAIT,
    // Bun's default refuses bodies over 128 MiB; limit_request_body is appserve's (readBody).
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Never Bun's development error page, which shows source lines: the handler answers errors
    // itself (a 500, logged), and a file body that cannot be sent before it goes here
    // (fileFailure); this is the last resort, for one that fails after all (told, and a 500).
    development: false,
    error: (error: unknown) => {
      options.onSendError?.(error);
      return new Response("Internal Server Error\n", { status: 500 });
    },
    ...(options.tls
      ? {
        tls: {
          cert: options.tls.cert,
          key: options.tls.key,
          ...(options.tls.ca ? { ca: options.tls.ca } : {}),
          ...(options.tls.ciphers ? { ciphers: options.tls.ciphers } : {}),
          requestCert: options.tls.certReqs > 0,
          rejectUnauthorized: options.tls.certReqs === 2,
        },
      }
      : {}),
    fetch(request: Request, srv: Bun.Server<unknown>) {
      // No idle timer while the app works: a slow answer is its timeouts' business, not Bun's.
      srv.timeout(request, 0);
      const info = new BunServeInfo(srv, request);
      const settle = () => info.settle();
      let result;
      try {
        result = handler(request, info);
      } catch (error) {
        settle();
        throw error;
      }
      // Bun closes such connections without saying so; clients (wrk) then count a read error.
      const close = keepAlive <= 0 || request.headers.get("connection")?.toLowerCase() === "close";
      const handOver = (response: Response) => {
        // Nothing after server.upgrade(): the WebSocket has its own idle timer.
        if (!(response instanceof Response)) {
          settle();
          return response;
        }
        if (request.method === "HEAD") response = headAnswer(response, BODY_FACTS);
        // Bun.serve's Content-Range of a plain part of a file, which appserve's reads hid from it.
        response = withPartRange(response, request.method);
        if (close || draining) {
          return doneAfter(sayClose(response), request, BODY_FACTS, settle, info.awaited);
        }
        kept = true;
        return idleAfter(response, request, srv, keepAlive, BODY_FACTS, settle, sends);
      };
      if (result instanceof Response) return handOver(result);
      return result.then(handOver, (error) => {
        settle();
        throw error;
      });
    },
  });
  // Its listener is shut in the kernel, so reconnecting clients go to the siblings: closed at
  // stop(false), it would reset the connections queued on it then, and take new ones that it
  // closes unserved.
  const beginStop = () => {
    if (draining) return;
    draining = true;
    shutListener(options.hostname, options.port, others);
  };
  return Promise.resolve({
    beginStop,
    // stop(false) closes the kept-alive connections idle then (measured, Bun 1.4.4), racing with
    // the request a client may be sending (lost: a read error): those kept alive just before get
    // up to lingerMs to send their next one, which is answered close.
    shutdown: async (lingerMs = 0, deadline = Infinity) => {
      for (const ws of open) ws.close(1001, "server shutting down");
      if (!shutting) {
        shutting = true;
        beginStop();
        // A large body's end is seen as the request's: pendingRequests counts it to its last byte.
        if (kept) await sends.linger(lingerMs, deadline, () => server.pendingRequests > 0);
      }
      return await server.stop(false);
    },
    stopNow: () => void server.stop(true),
    // Bun.serve closes its listening socket within stop() (measured on Bun 1.4.4: refused as
    // soon as it returns), and leaves the connections open to their ends.
    stopAccepting: () => {
      void server.stop(false);
      return Promise.resolve();
    },
  });
}

// Bun's accept loop fails (EINVAL) each time epoll wakes it for a shut listener, which is each
// turn: it spun (about 40% of a core, Bun 1.4.4) until stop(false) closed the socket. So the fd
// then names /dev/null instead: the listener's last reference closes, which takes it out of
// epoll, and stop(false) closes the stand-in. Without FFI (the JIT off) the listener stays open
// to stop(false).
function shutListener(hostname: string, port: number, others: number[]): void {
  let libc: Libc;
  try {
    libc = bunRuntime.libc();
  } catch {
    return;
  }
  const own = shutOwnListeners(libc, hostname, port, others);
  if (own.length === 0) return;
  // Left listening (shut) when /dev/null cannot be opened (no fd free, a chroot): closing the
  // number instead would let stop(false) close whatever file takes it next.
  let stand: number;
  try {
    stand = openSync("/dev/null", "r");
  } catch {
    return;
  }
  for (const fd of own) {
    // dup2 clears close-on-exec: what the app spawns meanwhile does not inherit the stand-in.
    if (libc.dup2(stand, fd) >= 0) libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  closeSync(stand);
}

// The message of the AbortError Bun.serve aborts a request (its signal, its body read) with.
const BUN_CLOSED = "The connection was closed.";

const F_DUPFD_CLOEXEC = 1030;

// Linux keeps a running program's image at /proc/self/exe, whatever its path holds now: a worker of
// the binary started from there runs its master's code after an upgrade renamed another binary
// into place, as a fork would (and as Deno workers, from the bundle the master unpacked, do).
// Bun finds its embedded modules through it too, and shows that file's path, with " (deleted)"
// once replaced, as process.execPath: the path, as the master has it, is what the app sees.
const OWN_IMAGE = "/proc/self/exe";
const DELETED = " (deleted)";
if (COMPILED && process.execPath.endsWith(DELETED)) {
  process.execPath = process.execPath.slice(0, -DELETED.length);
}
const PROGRAM = process.execPath;

// The path this master was started by, as typed (gunicorn re-executes its argv[0]): a symlink the
// upgrade swapped, or a bare name looked up in PATH again, runs the version now installed. Only
// when it led to this very program (not when argv[0] was set to something else).
const STARTED_AS = COMPILED ? startedAs(process.argv0, process.cwd()) : undefined;

function startedAs(typed: string, cwd: string): { typed: string; cwd: string } | undefined {
  const found = typed ? whichProgram(typed, process.env.PATH, cwd) : undefined;
  if (!found) return undefined;
  try {
    const [a, b] = [statSync(found), statSync(PROGRAM)];
    return a.dev === b.dev && a.ino === b.ino ? { typed, cwd } : undefined;
  } catch {
    return undefined;
  }
}

// Inside the executable every entrypoint sits under the bundle root, next to this file's chunk.
const THREAD_URL = COMPILED
  ? new URL("workers/thread_entry.ts", new URL("./", import.meta.url)).href
  : THREAD_ENTRY.href;

// Read once, in the worker process's own directory, as Bun read them for the main thread: the
// bunfig.toml's first, as Bun runs them.
const threadPreload = once(() => [
  ...bunfigPreload(process.cwd()),
  ...bunOptionsPreload(process.cwd()),
]);

function workerSelf(env?: Record<string, string>): SelfCommand {
  if (!COMPILED) return { command: process.execPath, args: [WORKER_ENTRY.pathname] };
  const image = process.platform === "linux" ? { command: OWN_IMAGE, argv0: PROGRAM } : undefined;
  return { ...(image ?? { command: PROGRAM }), args: [], ...(env ? { env } : {}) };
}

function masterSelf(args: string[], env: Record<string, string | undefined>): SelfCommand {
  if (!COMPILED) return { command: process.execPath, args: [CLI_ENTRY.pathname, ...args] };
  // A bare name PATH no longer has is left to fail to start, named.
  const program = STARTED_AS
    ? whichProgram(STARTED_AS.typed, env.PATH, STARTED_AS.cwd) ?? STARTED_AS.typed
    : PROGRAM;
  return { command: program, args };
}

// A runtime plugin's virtual module: user modules get the running program's own
// exports (in the compiled binary there is no mod.ts on disk to resolve to).
function provideModule(specifier: string, exports: Record<string, unknown>): void {
  Bun.plugin({
    name: `appserve:${specifier}`,
    setup(build) {
      build.module(specifier, () => ({ exports, loader: "object" }));
    },
  });
}

export const bunRuntime: Runtime = {
  name: "bun",
  version: Bun.version,
  fdPassing: "stdio",
  tlsControls: true,
  compiled: COMPILED,
  startThread: (name) => {
    const preload = threadPreload();
    return new Worker(THREAD_URL, { type: "module", name, ...(preload.length ? { preload } : {}) });
  },
  // The binary reads no bunfig.toml of its own (_bun_autoload.ts): its workers are told of one.
  workerCommand: () => workerSelf(bunfigEnv(process.cwd())),
  loadProjectEnv: () => COMPILED ? loadDotenv(process.cwd()) : [],
  masterCommand: (argv, env = process.env) => masterSelf(argv, env),
  embeddedFile: async (name) => {
    const file = Bun.embeddedFiles.find((blob) => (blob as File).name === name);
    return file && new Uint8Array(await file.arrayBuffer());
  },
  libc: once(loadLibc),
  // Bun 1.4.4 leaves SIGUSR1 to the program.
  blockInspectorSignal: () => {},
  setProcessTitle: (title) => writeProcessTitle(bunRuntime.libc(), title),
  provideModule,
  prepareImports,
  ownFramesHook: true,
  printedError: (error) => Bun.inspect(error),
  // Bun 1.4.4 drops a file: URL's query string (the module cached first comes back), and keeps
  // a path's, compiled too.
  freshImport: (file, tag) => `${file}?reload=${tag}`,
  explainAppError: (error) => explainAppError(error) ?? explainMissingPackage(error),
  nativeServe: () => ({ owner: Bun, label: "Bun.serve" }),
  routeCookies: (field) => field === null ? new Bun.CookieMap() : new Bun.CookieMap(field),
  staticBody: rememberedBody,
  rememberStaticBodies: () => {
    rememberBodies();
    noteRawFetches();
  },
  impliedType,
  knownLength,
  decodedBody,
  // Bun.serve ignores an app's Content-Length on a stream: chunks, or the length read at once.
  streamLength: "actual",
  fileBody,
  fileFailure,
  // Bun.serve (1.4.4) aborts it only for a client gone (or server.stop(true)).
  requestSignal: { message: BUN_CLOSED, afterResponse: false },
  // Bun.serve (1.4.4) fails the read with the signal's own AbortError, which has no stack.
  bodyCut: (error) =>
    error instanceof DOMException && error.name === "AbortError" && error.message === BUN_CLOSED,
  // Bun.serve (1.4.4) aborts the request's signal when its client leaves mid-body.
  abortsOnBodyCut: true,
  // server.upgrade(request): Bun has no upgrade function of the request's own.
  upgradesThroughServer: true,
  serveNative,
  // Bun has no global upgrade function to replace; the neutral one is appserve's layer's alone.
  installWebSocketUpgrade: (ours: WebSocketUpgrader): WebSocketUpgrader => (request, options) => {
    const upgrade = ours(request, options);
    if (upgrade === undefined) {
      throw new TypeError(
        "upgradeWebSocket(): the request is no WebSocket upgrade appserve offered",
      );
    }
    return upgrade;
  },
  // node:net's Socket({ fd }) reads nothing from a TCP fd under Bun; connect({ fd }) adopts it.
  detachSocket: (socket) => {
    // Close-on-exec, as every fd of appserve's: processes the app starts must not inherit it.
    // deno-lint-ignore no-explicit-any
    const fd = bunRuntime.libc().fcntl((socket as any)._handle.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw new Error("cannot duplicate the socket's fd");
    socket.destroy();
    return fd;
  },
  // deno-lint-ignore no-explicit-any
  socketFd: (socket) => (socket as any)._handle?.fd ?? -1,
  // The socket's own fds: the thread's end closes them.
  closeSocketFds: () => {},
  adoptSocket: (fd) => {
    const socket = new Socket({ allowHalfOpen: true });
    (socket as unknown as { connect(o: { fd: number }): void }).connect({ fd });
    return socket;
  },
  // Bun's spawn closes every fd it is not given.
  keepFromChildren: () => {},
  stopsBusyThreads: true,
  // Bun fires no "unload" in a Worker, but node:process's "exit" (its exit() is the only one).
  onThreadExit: (listener) => void process.on("exit", listener),
};
