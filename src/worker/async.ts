// The async worker class: requests run concurrently on the runtime's event
// loop, up to worker_connections at once, on the inherited sockets (appserve's
// HTTP/1.1 layer) or, in reuse-port mode, on the runtime's native server.

import process from "node:process";
import type { Config } from "../config/settings.ts";
import {
  addUnparsed,
  createHttpServer,
  CUT_OFF_WRITE_MS,
  type HttpServerOptions,
  type UnparsedConnections,
} from "../http/server.ts";
import { logQuickStopUnparsed } from "../ipc/quick_stop_report.ts";
import { countRequest } from "../ipc/request_metrics.ts";
import { clientOf, cutOffLead } from "../ipc/inflight_report.ts";
import { describeInflight } from "../ipc/inflight.ts";
import type { FetchHandler, RequestDetails } from "../http/types.ts";
import type { AppHandler, WebSocketHandlers } from "../fetch_handler.ts";
import type { WebSocketHub } from "../http/websocket/hub.ts";
import { WEBSOCKET_SEND_LIMIT, webSocketAppError } from "./websockets.ts";
import {
  bridgeNativeWebSockets,
  nativeSessionLog,
  type SessionBegin,
} from "./native_websockets.ts";
import { tlsAcceptor } from "../http/tls_accept.ts";
import type { Logger } from "../log/logger.ts";
import { closeWithin, withDeadline } from "./close_within.ts";
import { ConcurrencyLimit, type Lasting } from "./concurrency.ts";
import { NativeSessionSlots, whenSessionOver } from "./native_session_slots.ts";
import { accessLogger, httpOptions } from "./http_options.ts";
import { logAppError } from "./app_error.ts";
import { guardedNative } from "./native_app_error.ts";
import { clientLeftMidBody } from "./failure_answer.ts";
import { bodyErrorsLogged } from "./native_body_error.ts";
import { readBody } from "./native_body_read.ts";
import { trustForwarded } from "./native_forwarded.ts";
import { nativeStoppedText } from "./native_stopped.ts";
import { NativeCutOff } from "./native_cut_off.ts";
import { StreamEnds } from "./native_stream_ends.ts";
import { type BodyFacts, countedBody, knownBodyBytes } from "./native_body_bytes.ts";
import type { Gate, WorkerClass, WorkerContext } from "./worker_class.ts";

// A native server's graceful stop answers each request `Connection: close` and closes the idle
// kept-alive connections after this long (NativeServer.shutdown): nginx and gunicorn close them
// at once, which loses the request a client is sending just then; a client busy at the stop sends
// its next one within its round trip, and one idle longer is closed as they would.
const LINGER_MS = 1000;

/** A running server of this worker; stop() is graceful within the given ms (closeWithin()). */
interface Serving {
  stop(graceMs: number, beforeCut?: () => void): Promise<void>;
  /**
   * A quick stop: the responses under way get the access lines of what their clients got, and
   * the connections with no request read yet are closed and counted (none on a native server,
   * whose connections are its own).
   */
  quick(): UnparsedConnections | void;
  /** A native server's own listener stops accepting (the shared socket's is the worker's gate). */
  stopAccepting?(): Promise<void>;
}

/** How an event-loop worker runs requests (the sync class is this one, narrowed). */
export interface EventLoopMode {
  /** Requests run at once; more wait their turn. */
  concurrency: number;
  /** Whether connections are kept alive between requests. */
  keepAlive: boolean;
}

export class AsyncWorker implements WorkerClass {
  static connections(config: Config): number {
    return config.worker_connections;
  }

  readonly #context: WorkerContext;
  readonly #mode: EventLoopMode;
  #app: AppHandler | undefined;
  #websocket: WebSocketHandlers | undefined;
  #servings: Serving[] = [];

  constructor(context: WorkerContext, mode?: EventLoopMode) {
    this.#context = context;
    this.#mode = mode ?? { concurrency: context.config.worker_connections, keepAlive: true };
  }

  async boot(): Promise<void> {
    this.#app = await this.#context.loadApp();
    this.#websocket = this.#app.websocket;
  }

  async serve(gate: Gate): Promise<void> {
    if (!this.#app) throw new Error("serve() before boot()");
    // The app comes with its --request-timeout (lifecycle.ts, inside the request hooks). One cap
    // for every listener of the worker, native ones included.
    const limit = new ConcurrencyLimit(this.#mode.concurrency);
    const started = (handler: FetchHandler): FetchHandler => (request, info) => {
      this.#context.requestStarted();
      return handler(request, info);
    };
    this.#servings = await serveListeners(this.#app, {
      context: this.#context,
      keepAlive: this.#mode.keepAlive,
      gate,
      websocket: this.#websocket,
      limited: (handler, lasting) => started(limit.wrap(handler, lasting)),
    });
  }

  async drain(graceMs: number, beforeCut?: () => void): Promise<void> {
    await Promise.all(this.#servings.map((s) => s.stop(graceMs, beforeCut)));
  }

  async stopAccepting(): Promise<void> {
    await Promise.all(this.#servings.map((s) => s.stopAccepting?.()));
  }

  stop(quick = false): void {
    if (!quick) return;
    const dropped: UnparsedConnections = { connections: 0, partial: 0 };
    for (const serving of this.#servings) addUnparsed(dropped, serving.quick());
    logQuickStopUnparsed(this.#context.log, `worker (pid:${process.pid})`, dropped);
  }
}

// The native servers report no write completion: log when the app has answered, with the body
// size known then, or, for a stream, when the server has read it to its end (countedBody); one
// the worker cuts off is named at WARNING (`log`) as the in-flight table names a request. A
// WebSocket upgraded by Deno's native upgrade is counted and logged when its session ends (`begin`).
function logged(
  handler: FetchHandler,
  log: Logger,
  access: Logger | undefined,
  hub: WebSocketHub,
  begin: SessionBegin,
  facts: BodyFacts,
  streaming: Set<(cut?: string) => void>,
  cutOff: NativeCutOff,
  /** Whether a stream cut off is named here (no in-flight table names it). */
  nameCut: boolean,
): FetchHandler {
  return async (request, info) => {
    const start = performance.now();
    const cutBefore = cutOff.over;
    // Deno's request info is gone once its socket was upgraded: the peer is read before.
    const remote = request.headers.has("upgrade") ? info.remoteAddr : null;
    const response = await handler(request, info);
    // Cut off meanwhile: its client got the 504 of the line the cut wrote.
    if (cutOff.over !== cutBefore) return response;
    // Upgraded by Bun's server.upgrade(): the bridge logs the session.
    if (!(response instanceof Response)) return response;
    if (response.status === 101) {
      const native = hub.nativeSocket(response);
      if (native !== undefined) {
        // Ended once, where its place in the cap ends too: a socket that never opens never closes.
        whenSessionOver(native, begin(request, remote!, start, native.bytes));
        return response;
      }
    }
    if (access === undefined) return response;
    const write = (bodyBytes: number, cut?: string) => {
      const url = new URL(request.url);
      const target = url.pathname + url.search;
      const durationMs = performance.now() - start;
      if (cut !== undefined && nameCut) {
        const now = Date.now();
        const client = clientOf(info.remoteAddr);
        const named = { method: request.method, target, client, start: now - durationMs };
        log.warning(`${cut}: ${describeInflight({ ...named, entry: -1 }, now)}`);
      }
      const details: RequestDetails = {
        remote: info.remoteAddr,
        protocol: "HTTP/1.1",
        target,
        bodyBytes,
      };
      access.access({ request, response, details, durationMs, end: new Date() });
    };
    const known = knownBodyBytes(request, response, facts);
    if (known >= 0) write(known);
    // A stream, a body fetch() decoded included (bodyErrorsLogged tapped it without its mark).
    else return countedBody(response, write, streaming);
    return response;
  };
}

/** `options` with each finished request counted into `counters` (--metrics-bind), if given. */
export function withRequestCounters(
  options: HttpServerOptions,
  counters?: Float64Array,
): HttpServerOptions {
  const done = options.onRequestDone;
  if (!counters) return options;
  return {
    ...options,
    onRequestDone: (request, response, durationMs, details) => {
      // A WebSocket session's 101 comes at its end: its lifetime is not a request's latency.
      const seconds = response.status === 101 ? 0 : durationMs / 1000;
      countRequest(counters, request.method, response.status, seconds);
      done?.(request, response, durationMs, details);
    },
  };
}

// The native servers report no write completion: a request is counted when the app has
// answered (one cut off meanwhile, with the cut). Not an async function, for the reason
// guardedNative() is not.
function counted(
  handler: FetchHandler,
  counters: Float64Array | undefined,
  cutOff: NativeCutOff,
): FetchHandler {
  if (!counters) return handler;
  return (request, info) => {
    const start = performance.now();
    const cutBefore = cutOff.over;
    const count = (response: Response) => {
      if (cutOff.over !== cutBefore) return response;
      const seconds = (performance.now() - start) / 1000;
      // Nothing after Bun's server.upgrade(): the session is counted as 101 by the bridge's log.
      if (response instanceof Response) {
        countRequest(counters, request.method, response.status, seconds);
      }
      return response;
    };
    const result = handler(request, info);
    return result instanceof Response ? count(result) : Promise.resolve(result).then(count);
  };
}

/** Starts serving every listener of this worker. */
async function serveListeners(
  handler: FetchHandler,
  { context, keepAlive, gate, websocket, limited }: {
    context: WorkerContext;
    keepAlive: boolean;
    gate: Gate;
    /** The app's `websocket` handlers (Bun's shape), for the native server. */
    websocket?: WebSocketHandlers;
    /** `handler` within the worker's concurrency cap; `lasting` keeps a place past the answer. */
    limited(handler: FetchHandler, lasting?: Lasting): FetchHandler;
  },
): Promise<Serving[]> {
  const { config, log, runtime, boot, inflight } = context;
  const servings: Serving[] = [];
  // Read by the master, never by the worker: files broken on disk since cannot stop it.
  const tls = context.tls;
  const access = accessLogger(config, log);
  const explain = runtime.explainAppError;
  const options = {
    ...withRequestCounters(
      httpOptions(config, log, {
        keepAlive,
        access,
        tls: await tlsAcceptor(tls),
        explain,
        staticBody: runtime.staticBody,
        impliedType: runtime.impliedType,
        knownLength: runtime.knownLength,
        decodedBody: runtime.decodedBody,
        streamLength: runtime.streamLength,
        fileBody: runtime.fileBody,
        requestSignal: runtime.requestSignal,
        websocket: context.websockets,
      }),
      context.counters,
    ),
    gate,
    watch: context.inflight,
  };
  const app = limited(handler);
  const shared = inflight ? inflight.wrap(app) : app;
  for (const listener of boot.listeners) {
    const server = createHttpServer(shared, options);
    await server.listen({ fd: listener.fd });
    servings.push({
      stop: (ms, beforeCut) => closeWithin(server, ms, beforeCut),
      quick: () => {
        server.cutUnderWay();
        return server.dropUnparsed();
      },
    });
  }
  // Bun's native server: the neutral upgradeWebSocket becomes Bun's server.upgrade().
  const hub = context.websockets;
  // Native sessions are counted (statsd, --metrics-bind) and, with an access log, logged.
  const sessions = access !== undefined || context.counters !== undefined ||
    Boolean(config.statsd_host);
  const begin = sessions ? nativeSessionLog(access, hub) : undefined;
  // The native servers accept every connection: an open WebSocket keeps its request's place in
  // the cap instead, until it closes (docs/websockets.md, "Worker classes").
  const slots = new NativeSessionSlots(hub);
  const bridged = runtime.upgradesThroughServer && boot.reusePort.length > 0
    ? bridgeNativeWebSockets(handler, {
      hub,
      app: websocket,
      limit: hub.sendLimit,
      begin: (request, remote, startedMs, bytes) => {
        const ended = slots.opened(request);
        const logEnd = begin?.(request, remote, startedMs, bytes);
        return () => {
          ended();
          logEnd?.();
        };
      },
      count: access !== undefined,
      appError: webSocketAppError(log),
    })
    : { handler, websocket };
  // Outside the bridge: a Bun session opens there, after the app answered.
  const cutOff = new NativeCutOff();
  const native = {
    handler: limited(cutOff.gate(bridged.handler), slots.lasting),
    websocket: bridged.websocket,
  };
  for (const address of boot.reusePort) {
    // The access lines of bodies still streaming, written if the worker cuts them off.
    const streaming = new Set<(cut?: string) => void>();
    // The streams still being sent, which keep their in-flight entries until they end.
    const ends = new StreamEnds();
    // One tap on a body, for the limit and the judge of an app's 500 for a body the client broke
    // (clientLeftMidBody), where the signal tells that client gone.
    const bodyRead = readBody(native.handler, {
      limit: config.limit_request_body,
      warn: (message) => log.warning(`Invalid request: ${message}`),
      judge: runtime.abortsOnBodyCut ? clientLeftMidBody(log) : undefined,
    });
    // Inside the access log, which then sees the 500 or 400 the client gets for a failure.
    const guarded = bodyErrorsLogged(
      guardedNative(bodyRead, log, runtime),
      log,
      runtime,
      ends,
    );
    // Outside the stream tap, so the table sees the stream it answered with.
    const answered = inflight ? inflight.wrapAlone(guarded, ends) : guarded;
    // Outermost, so the access log sees the client a trusted proxy named, and no field
    // header_map drops (as the parser leaves them out before anything reads them). Its 400s are
    // the parser's: warned about, with no access line, so not counted either (the counts are
    // taken inside it, as the access log's).
    const app = trustForwarded(
      counted(
        begin
          ? logged(answered, log, access, hub, begin, runtime, streaming, cutOff, !inflight)
          : answered,
        context.counters,
        cutOff,
      ),
      options.forwarded!,
      (m) => log.warning(m),
      { scheme: options.scheme, headerMap: config.header_map },
    );
    const server = await runtime.serveNative(
      cutOff.wrap(app),
      {
        hostname: address.host,
        port: address.port,
        tls: tls ?? undefined,
        keepAlive: options.keepAlive,
        websocket: native.websocket,
        websocketLimits: {
          maxMessage: config.websocket_max_message,
          idleTimeout: config.websocket_idle_timeout,
          sendLimit: WEBSOCKET_SEND_LIMIT,
        },
        // A file body that failed after all (its check found it sendable): Bun.serve answers 500.
        onSendError: (error) =>
          logAppError(log, `Error sending a response (${runtime.nativeServe().label})`, error),
        onWarning: (text) => log.warning(text),
        // Its replacement is started now (retire), and it drains at once (lost): it accepts
        // nothing more, so waiting for the replacement's boot gains nothing, and under fd churn
        // the workers waiting so held the master's fds until it could start none (nothing
        // listened, for good). Replaced only at its exit, the port went unserved for its drain.
        onStopped: (error) => {
          const where = `${address.host}:${address.port}`;
          log.error(nativeStoppedText(error, where, runtime.nativeServe().label));
          context.retire("fds");
          context.lost();
        },
      },
    );
    const cut = async (ms: number, beforeCut?: () => void) => {
      beforeCut?.();
      // The table names the requests still with the app and the streams still being sent
      // (beforeCut); each stream the access log counts gets its line as it is ended here. The
      // native server names nothing else it is still sending: with none of them named, the
      // listener is, so no cut goes unsaid. Its WebSocket sessions were named (beforeCut, the
      // hub's lines): the listener would be a second line for them.
      const where = `${runtime.nativeServe().label} at ${address.host}:${address.port}`;
      const lead = cutOffLead(where, ms / 1000);
      const named = (inflight ? ends.size : streaming.size) + hub.openLines().length;
      if (named === 0) log.warning(`${lead}: what it had not finished sending`);
      for (const end of streaming) end(lead);
      // Deno.serve cannot be stopped at once (stopNow): the streams take no byte past their lines.
      ends.cutAll();
      // Their 504s get a moment to go out, as on the shared socket (HttpServer.closeNow).
      if (cutOff.cut() > 0) await withDeadline(server.shutdown(), CUT_OFF_WRITE_MS, () => {});
      server.stopNow();
    };
    servings.push({
      stopAccepting: () => server.stopAccepting(),
      // Each stream under way gets its line with the bytes the server took from it (as for a
      // client gone), and the quick stop names it as logged; then it is cut off, so its client
      // gets no byte more than that line says (as the shared socket destroys its connection).
      // The server is not stopped: Deno.serve cannot be, and an answer the app gives meanwhile
      // still goes out, with its line.
      quick: () => {
        for (const end of streaming) end();
        inflight?.streamsLogged();
        ends.cutAll();
      },
      stop: async (ms, beforeCut) => {
        const end = performance.now() + ms;
        // Nothing new is accepted, and every answer says close, while the WebSockets close.
        server.beginStop();
        // Deno.serve's sockets get 1001 from appserve and their close handshakes are waited for
        // first: its shutdown() would drop them at once (none on Bun: its server says 1001).
        let late = false;
        await withDeadline(hub.nativeGoingAway(), ms, () => late = true);
        if (late) {
          // The handshakes did not all come: shutdown() drops what is left, now.
          await cut(ms, beforeCut);
          return await withDeadline(server.shutdown(), 0, () => {});
        }
        let cutting: Promise<void> | undefined;
        // The kept-alive connections' time to send their next request before the idle ones are
        // closed: at most half of what is left, so the answers still have the rest.
        const linger = Math.min(LINGER_MS, Math.max(0, end - performance.now()) / 2);
        await withDeadline(
          server.shutdown(linger, end),
          Math.max(0, end - performance.now()),
          () => cutting = cut(ms, beforeCut),
        );
        await cutting;
      },
    });
  }
  return servings;
}
