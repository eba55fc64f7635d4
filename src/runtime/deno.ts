// Deno's side of the runtime seam: FFI through Deno.dlopen, the native
// server through Deno.serve, and re-execution through `deno run`.

import { readFileSync } from "node:fs";
import { Socket } from "node:net";
import { pathToFileURL } from "node:url";
import process from "node:process";
import {
  type FetchHandler,
  listenerUrl,
  type ServeInfo,
  ServerMembers,
  type WebSocketUpgrader,
} from "../fetch_handler.ts";
import type {
  Libc,
  NativeServeOptions,
  NativeServer,
  NativeUpgradeOptions,
  Runtime,
  SelfCommand,
} from "./types.ts";
import { BodyErrorLogged, SIGUSR1 } from "./types.ts";
import { tapBody } from "../body_tap.ts";
import { copyable, SignalLazyRequest } from "../request_signal.ts";
import { CLI_ENTRY, THREAD_ENTRY, WORKER_ENTRY } from "./_paths.ts";
import { F_SETFD, FD_CLOEXEC, LIBC_PATH, LIBC_SYMBOLS, libcOver, once } from "./_libc_symbols.ts";
import { writeProcessTitle } from "./_process_title.ts";
import { staticBodyReader } from "./_deno_static_body.ts";
import { decodedBodyReader } from "./_deno_decoded_body.ts";
import { explainUnstable } from "./_deno_unstable.ts";
import { explainLockfile, noteLockProject } from "./_deno_lockfile.ts";
import { ownListeningFds, shutOwnListeners } from "./_own_listeners.ts";
import { AT_ONCE, atOnceLength, KeptSends, sayClose, saysCloseIn } from "./_say_close.ts";

// Found on first use, not at import.
const staticBody = once(staticBodyReader);
const decodedBody = once(decodedBodyReader);

// Flags every re-executed process needs; --unstable-net enables reusePort.
const RUN_FLAGS = ["run", "--allow-all", "--unstable-net", "--quiet"];

// Deno's executable as started: Deno.execPath() reads /proc/self/exe at each call, which once a
// deploy has replaced the file names "PATH (deleted)" for good, so USR2 could never start the
// new one; process.execPath was taken at start.
const EXEC_PATH = process.execPath;

function loadLibc(): Libc {
  const lib = Deno.dlopen(LIBC_PATH, LIBC_SYMBOLS);
  const s = lib.symbols;
  return libcOver(s, {
    errno: () => new Deno.UnsafePointerView(s.__errno_location()!).getInt32(),
    strerror: (e) => Deno.UnsafePointerView.getCString(s.strerror(e)!),
    memory: (address, length) =>
      new Uint8Array(
        Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(address))!, length),
      ),
    addressOf: (bytes) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes))),
  });
}

/** Whether `signo` is blocked in this thread (SigBlk of /proc/self/status). */
function blocked(signo: number): boolean {
  const mask = readFileSync("/proc/self/status", "utf8").match(/^SigBlk:\s*([0-9a-f]+)/m);
  return mask !== null && ((BigInt(`0x${mask[1]}`) >> BigInt(signo - 1)) & 1n) === 1n;
}

// Blocked before the program starts again, so in every thread Deno makes: a signal delivered to
// any thread that lets it through would reach Deno's inspector trigger.
function blockInspectorSignal(): void {
  if (blocked(SIGUSR1)) return;
  const libc = denoRuntime.libc();
  const unblock = libc.blockSignal(SIGUSR1);
  const argv = readFileSync("/proc/self/cmdline", "utf8").split("\0").slice(0, -1);
  libc.execv(EXEC_PATH, argv);
  unblock();
}

/** Bun's server.port, hostname and url, of the listener Deno.serve was given. */
interface Listener {
  port: number;
  hostname: string;
  url: URL;
}

// One small object per request. The peer address is read only when asked for, and once:
// Deno fetches it from the connection with an extra op.
class DenoServeInfo extends ServerMembers implements ServeInfo {
  #info: Deno.ServeHandlerInfo;
  #remote: ServeInfo["remoteAddr"] | undefined;
  #listener: Listener;
  constructor(info: Deno.ServeHandlerInfo, listener: Listener) {
    super();
    this.#info = info;
    this.#listener = listener;
  }
  get port(): number {
    return this.#listener.port;
  }
  get hostname(): string {
    return this.#listener.hostname;
  }
  get url(): URL {
    return this.#listener.url;
  }
  get remoteAddr(): ServeInfo["remoteAddr"] {
    return this.#remote ??= this.#info.remoteAddr as ServeInfo["remoteAddr"];
  }
  requestIP() {
    const { hostname, port } = this.remoteAddr;
    return { address: hostname, family: hostname.includes(":") ? "IPv6" : "IPv4", port };
  }
  // Bun's shape has no native counterpart here; false for what is no upgrade, as Bun answers.
  upgrade(request: Request): boolean {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return false;
    throw new TypeError(
      "server.upgrade() (Bun's WebSocket shape) needs Bun workers under --reuse-port; " +
        'use upgradeWebSocket from "appserve" to run on both',
    );
  }
  publish(): number {
    return 0;
  }
  // Bun's server.timeout(): nothing here times a response out while it is under way.
  timeout(): void {}
  /** Deno's own: settles when the response has been sent (or failed). */
  get completed(): Promise<void> {
    return this.#info.completed;
  }
}

// Deno.serve (2.9.6) warns once per process, with console.warn, when an app that read
// request.signal had it aborted after a response that went out whole (its default "legacy
// behavior", which the shared socket keeps too: Runtime.requestSignal). Not avoidable without
// changing what apps see, so it is told to the worker's log instead of printed raw.
const LEGACY_ABORT_WARNING = "Deno.serve: request.signal aborts on successful responses";
let serveWarnings: ((text: string) => void) | undefined;

function routeServeWarnings(say: (text: string) => void): void {
  if (serveWarnings === undefined) {
    const native = console.warn;
    // Named as the one it wraps; anything but Deno.serve's own line goes to it unchanged.
    console.warn = function warn(this: unknown, ...args: unknown[]): void {
      const first = args[0];
      if (
        args.length === 1 && typeof first === "string" && first.startsWith(LEGACY_ABORT_WARNING)
      ) {
        return serveWarnings!(first);
      }
      return native.apply(this, args);
    };
  }
  serveWarnings = say;
}

/** Whether `response`'s body may still be going out a while after it is handed over. */
function mayStillSend(response: Response): boolean {
  const bytes = staticBody()(response);
  // A stream (read only when there is no static body: reading a static one makes it a stream).
  return bytes === null ? response.body !== null : atOnceLength(bytes) > AT_ONCE;
}

// A stream's chunk: each costs a round of Deno.serve's writes. 64 KB views sent 10 MB bodies 28%
// slower than the static body (wrk -c4, two rounds); 1 MB ones within noise (139-195 req/s before,
// 151-190 after, four rounds), and the socket's buffers hold back more than that anyway.
const VIEW = 1024 * 1024;

/**
 * `response`, its static body (if it has one) handed over as a stream of views of its bytes:
 * Deno.serve settles `completed` for a static body as it takes it, before its client has it all,
 * and for a stream once it has taken the last chunk, which a slow client holds back (Deno 2.9.6).
 */
function toldEnd(response: Response): Response {
  const value = staticBody()(response);
  if (value === null) return response;
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes.subarray(at, at += VIEW));
      if (at >= bytes.length) controller.close();
    },
  });
  const headers = new Headers(response.headers);
  headers.set("content-length", String(bytes.length));
  return new Response(stream, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** Whether the request or its answer says `Connection: close`. */
function closesAfter(request: Request, response: Response): boolean {
  try {
    return saysCloseIn(request.headers) || saysCloseIn(response.headers);
  } catch {
    // The request's headers are gone once Deno.serve has closed it (its client left first).
    return true;
  }
}

function serveNative(handler: FetchHandler, options: NativeServeOptions): Promise<NativeServer> {
  if (options.onWarning) routeServeWarnings(options.onWarning);
  const scheme = options.tls ? "https" : "http";
  const listener = {
    port: options.port,
    hostname: options.hostname,
    url: listenerUrl(scheme, options.hostname, options.port),
  };
  // Deno.serve has no keep-alive setting: under --keep-alive 0 each answer says close, as on the
  // shared socket (Connection.mayKeepAlive), and its client closes (Deno.serve reads on).
  const closeEach = options.keepAlive <= 0;
  return new Promise((resolve, reject) => {
    // From the stop's start (beginStop): every answer says close.
    let stopping = false;
    // shutdown() called: a second call (the cut's) does not wait.
    let shutting = false;
    // An answer left its connection open: the stop lingers for its client's next request. From
    // the stop (not from that answer): a stream handed over long before may end after it.
    let kept = false;
    // Kept-alive answers whose bodies may still be going out (a stream, large bytes): their
    // clients send the next request once they have it all, so the linger runs from the last
    // one's end too. Counted through info.completed, a promise Deno makes only when asked: not
    // for the small bodies that go out at once, so a hello world pays none.
    const sends = new KeptSends();
    // Decided as each answer is handed over, not as its request begins: one begun before the stop
    // and answered after it says close too (else shutdown() would close its connection under the
    // client's next request).
    const handOver = (response: Response, request: Request, info: Deno.ServeHandlerInfo) => {
      if (stopping || closeEach) return sayClose(response);
      // An upgrade keeps no HTTP connection, and its `completed` settles at once or never.
      if (response.status === 101) return response;
      const large = mayStillSend(response);
      if (kept && !large) return response;
      // Their clients send nothing more. (Nor does an HTTP/1.0 client without keep-alive, but
      // Deno.serve's Request does not tell its version: taken as kept.)
      if (closesAfter(request, response)) return response;
      kept = true;
      if (!large) return response;
      const told = request.method === "HEAD" ? response : toldEnd(response);
      sends.track(info.completed);
      return told;
    };
    let acceptStopped = false;
    // Deno.serve's shutdown() fails the request body reads under way ("BadResource: Cannot read
    // body as underlying resource unavailable"), so it waits for the bodies still being read when
    // the stop comes (the caller's deadline cuts them off), not for the app's answers: shutdown()
    // waits for those itself. The listener is shut at the stop's start, and each request begun
    // from then on is answered `Connection: close`: the connections open then each bring at most
    // one more body, so the wait ends (it refilled under keep-alive uploads to the timeout).
    const bodies = new Set<Promise<void>>();
    let shut: Promise<void> | undefined;
    const shutdownNow = (server: Deno.HttpServer) => shut ??= server.shutdown();
    const tracked = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
      let read!: () => void;
      const done = new Promise<void>((resolve) => read = resolve);
      bodies.add(done);
      void done.then(() => bodies.delete(done));
      // Ended, failed or cancelled; or never begun by the time the app answered; or, begun and
      // left unfinished (a sniff of its first chunk), once the answer is sent.
      const body = tapBody(new Response(request.body), { end: read }).body!;
      const tapped = new SignalLazyRequest(request, body);
      let answer: ReturnType<FetchHandler>;
      try {
        answer = handler(tapped, new DenoServeInfo(info, listener));
      } catch (error) {
        read();
        throw error;
      }
      const answered = () => {
        if (!tapped.bodyUsed) read();
        else info.completed.then(read, read);
      };
      if (answer instanceof Response) answered();
      else void Promise.resolve(answer).then(answered, answered);
      return answer;
    };
    // Sockets of the process that listen there already (shared by other processes, which a
    // shutdown(2) would stop too): not this server's.
    const others = ownListeningFds(options.hostname, options.port);
    const shutAccepting = () => {
      acceptStopped = true;
      shutOwnListeners(denoRuntime.libc(), options.hostname, options.port, others);
    };
    const beginStop = () => {
      if (stopping) return;
      stopping = true;
      // New connections go to the siblings (or the new workers) from now on.
      shutAccepting();
    };
    try {
      const server = Deno.serve(
        {
          hostname: options.hostname,
          port: options.port,
          reusePort: true,
          // Reached only by a response stream that failed (the handler answers its own errors):
          // appserve logged the app's error already; anything else is said as Deno would.
          onError: (error) => {
            if (!(error instanceof BodyErrorLogged)) console.error(error);
            return new Response("Internal Server Error", { status: 500 });
          },
          // Deno.serve has no client-certificate options; cert_reqs > 0 is refused at start.
          ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
          // shutdown() sends 1001 to open WebSockets itself (measured, Deno 2.9.6).
          onListen: () =>
            resolve({
              beginStop,
              shutdown: async (lingerMs = 0, deadline = Infinity) => {
                if (!shutting) {
                  shutting = true;
                  beginStop();
                  // shutdown() closes the kept-alive connections idle then, racing with the
                  // request a client may be sending (lost: a read error). Those kept alive just
                  // before get the time to send their next one, which says close.
                  if (kept) await sends.linger(lingerMs, deadline);
                  // Checked again after each wait, shutdown() called in the same turn: no upload
                  // can begin in between.
                  while (bodies.size > 0) await Promise.all([...bodies]);
                }
                return await shutdownNow(server);
              },
              // The responses under way still go out; the uploads waited for fail now.
              stopNow: () => void shutdownNow(server),
              // Deno.serve closes its listener only in shutdown(), a timer turn after it is
              // called, says nothing when it has, and fails the body reads under way. Shut down
              // in the kernel, the listening socket stops listening before this returns (its
              // queue reset); Deno's accept loop then ends (EINVAL, not said as onStopped) and
              // its connections are served on (measured on Deno 2.9.6).
              stopAccepting: () => {
                shutAccepting();
                return Promise.resolve();
              },
            }),
        },
        (request, info) => {
          // Read before: an upgraded request's body can no longer be asked for. A request of a
          // method the Request constructor refuses or rewrites is handed over as Deno.serve made
          // it, untapped, so a stop does not wait for its body.
          const answer = request.body === null || !copyable(request.method)
            ? handler(request, new DenoServeInfo(info, listener))
            : tracked(request, info);
          return answer instanceof Response
            ? handOver(answer, request, info)
            : answer.then((response) => handOver(response, request, info));
        },
      );
      // An accept error (EMFILE) ends Deno.serve's accept loop and closes its listener; only
      // `finished` says so, by rejecting, unhandled otherwise (measured, Deno 2.9.6).
      server.finished.catch((error) => {
        if (!stopping && !acceptStopped) options.onStopped?.(error);
      });
    } catch (error) {
      reject(error);
    }
  });
}

// Deno.upgradeWebSocket is an accessor with a setter and configurable: replacing it is seen by
// every module imported later (and each thread's Deno is its own object).
function installWebSocketUpgrade(
  ours: WebSocketUpgrader,
  nativeOptions?: NativeUpgradeOptions,
): WebSocketUpgrader {
  const native = Deno.upgradeWebSocket;
  const upgrade: WebSocketUpgrader = (request, options) => {
    const mine = ours(request, options);
    if (mine !== undefined) return mine;
    if (nativeOptions === undefined) return native(request, options);
    // Deno.serve takes any Sec-WebSocket-Version and throws without a key; its request is closed
    // once upgraded, so a bad handshake is answered before.
    const refused = nativeOptions.refuse(request);
    if (refused !== undefined) return refused;
    // Deno.serve aborts the signal of a request whose client left, and of every one it upgrades
    // (at once, Deno 2.9.6): read before.
    const left = request.signal.aborted;
    const result = native(request, { idleTimeout: nativeOptions.idleTimeout, ...options });
    nativeOptions.upgraded(result, request, left);
    return result;
  };
  Object.defineProperty(Deno, "upgradeWebSocket", {
    value: upgrade,
    writable: true,
    configurable: true,
    enumerable: true,
  });
  return upgrade;
}

/** The duplicates socketFd() made in this thread whose sockets are still open. */
const socketFds = new Set<number>();

export const denoRuntime: Runtime = {
  name: "deno",
  version: Deno.version.deno,
  fdPassing: "inherit",
  tlsControls: false,
  compiled: false,
  // A worker run from the Deno worker bundle (<dir>/process_entry.js) starts the bundle's own
  // thread entry, its sibling; the source tree's otherwise.
  startThread: (name) => {
    const entry = Deno.mainModule.endsWith("/process_entry.js")
      ? new URL("./thread_entry.js", Deno.mainModule).href
      : THREAD_ENTRY.href;
    return new Worker(entry, { type: "module", name });
  },
  workerCommand: (): SelfCommand => ({
    command: EXEC_PATH,
    args: [...RUN_FLAGS, WORKER_ENTRY.pathname],
  }),
  masterCommand: (argv: string[]): SelfCommand => ({
    command: EXEC_PATH,
    args: [...RUN_FLAGS, CLI_ENTRY.pathname, ...argv],
  }),
  embeddedFile: () => Promise.resolve(undefined),
  libc: once(loadLibc),
  blockInspectorSignal,
  setProcessTitle: (title: string) => writeProcessTitle(denoRuntime.libc(), title),
  // User modules resolve "appserve" through the import map the master made (the shim,
  // workers/appserve_shim.ts) or their own (mod.ts): both read what is stored here.
  provideModule: (specifier, exports) => {
    (globalThis as Record<symbol, unknown>)[Symbol.for(`appserve.module:${specifier}`)] = exports;
  },
  prepareImports: noteLockProject,
  ownFramesHook: true,
  printedError: null,
  // A query string makes another module of the same file.
  freshImport: (file, tag) => `${pathToFileURL(file).href}?reload=${tag}`,
  // As `deno serve`: no .env unless asked for (--deno-flags="-A --env-file").
  loadProjectEnv: () => [],
  explainAppError: (error) => explainUnstable(error) ?? explainLockfile(error),
  nativeServe: () => ({ owner: Deno, label: "Deno.serve" }),
  // Deno.serve has no routes, so no request cookies: Bun's are for apps written for Bun.
  routeCookies: null,
  staticBody: (response) => staticBody()(response),
  rememberStaticBodies: () => {},
  impliedType: () => null,
  // Deno's static body covers bytes of any size; a Blob's stream comes whole in one chunk.
  knownLength: () => -1,
  decodedBody: (response) => decodedBody()(response),
  // Deno.serve sends an app's Content-Length on a stream and cuts the body to it.
  streamLength: "declared",
  // Deno.serve (2.9.6) by default also aborts it after a response that went out whole: its
  // "legacy behavior", which it warns about and --unstable-no-legacy-abort turns off.
  requestSignal: { message: "The request has been cancelled.", afterResponse: true },
  // Deno.serve (2.9.6) leaves the signal alone then; a read fails so, whatever the framing
  // ("Cannot read body as ..." from arrayBuffer(), "Cannot read request body as ..." from a reader).
  // A client that closed (FIN) or reset (RST) before its whole body came.
  bodyCut: (error) =>
    (error instanceof Deno.errors.BadResource &&
      /body as underlying resource unavailable$/.test(error.message)) ||
    (error instanceof Deno.errors.Http &&
      /unexpected EOF while reading HTTP\/1 body$/.test(error.message)),
  // Deno.serve (2.9.6): see bodyCut.
  abortsOnBodyCut: false,
  // Deno.upgradeWebSocket(request).
  upgradesThroughServer: false,
  serveNative,
  installWebSocketUpgrade,
  // The TCP handle's fdForIpc() hands out a duplicate of its fd.
  detachSocket: (socket) => {
    // deno-lint-ignore no-explicit-any
    const fd = (socket as any)._handle.fdForIpc();
    if (!(fd >= 0)) throw new Error("cannot duplicate the socket's fd");
    socket.destroy();
    return fd;
  },
  socketFd: (socket) => {
    // Deno shows no fd of a socket, only a duplicate: it is closed with the socket.
    // deno-lint-ignore no-explicit-any
    const fd = (socket as any)._handle?.fdForIpc?.() ?? -1;
    if (!(fd >= 0)) return -1;
    socketFds.add(fd);
    socket.once("close", () => {
      // Not if the thread's crash closed it already: the number may name another fd by now.
      if (socketFds.delete(fd)) denoRuntime.libc().close(fd);
    });
    return fd;
  },
  // The thread's end closes Deno's own handles, not these: each would keep its client waiting.
  closeSocketFds: () => {
    for (const fd of socketFds) denoRuntime.libc().close(fd);
    socketFds.clear();
  },
  adoptSocket: (fd) => new Socket({ fd, readable: true, writable: true, allowHalfOpen: true }),
  // A unix server's or socket's handle shows its own fd (a TCP one's does not: made by Deno's
  // own listen and accept, it is close-on-exec already).
  keepFromChildren: (owner) => {
    // deno-lint-ignore no-explicit-any
    const fd = (owner as any)._handle?.fd;
    if (typeof fd === "number" && fd >= 0) denoRuntime.libc().fcntl(fd, F_SETFD, FD_CLOEXEC);
  },
  stopsBusyThreads: false,
  // Deno.exit() dispatches "unload" first (node:process's exit() ends in it), with the code set.
  onThreadExit: (listener) => addEventListener("unload", () => listener(Deno.exitCode)),
};
