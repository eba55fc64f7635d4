// Entry point of a gthread thread (a Web Worker inside a worker process). It
// imports the app itself, so each thread holds its own instance, accepts on the
// worker's listeners itself and serves its connections: appserve's HTTP layer,
// access log and request hooks run here, one request at a time, as in a
// gunicorn thread. A connection it accepts while a sibling has fewer goes to
// that sibling, as an fd (src/worker/thread_board.ts). Every request is shown
// to the process through shared memory (src/worker/thread_slots.ts) so it can
// answer for this thread if it hangs. A thread that crashes, or that the app
// exits, answers its own requests on its way out and tells the process why.

import type { Socket } from "node:net";
import process from "node:process";
import { setImmediate } from "node:timers";
import * as appserve from "../mod.ts";
import { loadApp } from "../src/app/load_app.ts";
import { appLoadFailure, firstLine } from "../src/errors.ts";
import { HookRunner, withRequestHooks } from "../src/hooks.ts";
import {
  addUnparsed,
  createHttpServer,
  type HttpServer,
  type UnparsedConnections,
} from "../src/http/server.ts";
import { tlsAcceptor } from "../src/http/tls_accept.ts";
import type { FetchHandler } from "../src/http/types.ts";
import { createLogger } from "../src/log/create_logger.ts";
import { withRequestSpans } from "../src/log/request_span.ts";
import type { Logger } from "../src/log/logger.ts";
import { guardStdStreams } from "../src/log/std_streams.ts";
import { detectRuntime } from "../src/runtime/mod.ts";
import type { Runtime } from "../src/runtime/types.ts";
import { type ToPool, type ToThread, versionMismatch } from "../src/ipc/messages.ts";
import { tlsEnabled } from "../src/tls/tls_files.ts";
import { closeWithin } from "../src/worker/close_within.ts";
import { limitConcurrency } from "../src/worker/concurrency.ts";
import { accessLogger, httpOptions } from "../src/worker/http_options.ts";
import { withRequestCounters } from "../src/worker/async.ts";
import { withRequestTimeout } from "../src/worker/request_timeout.ts";
import { failureAnswer } from "../src/worker/failure_answer.ts";
import { logAppError } from "../src/worker/app_error.ts";
import { onUncaught } from "../src/worker/uncaught.ts";
import { callOnListen, listenAddrs } from "../src/worker/on_listen.ts";
import type { AppHandler } from "../src/fetch_handler.ts";
import { SlotReader, SlotWriter } from "../src/worker/thread_slots.ts";
import {
  answerClaimedRequests,
  answerParked,
  answerUnadopted,
  type UnadoptedAnswerOptions,
  unreadAnswerOptions,
} from "../src/worker/thread_answers.ts";
import type { InflightTable } from "../src/ipc/inflight.ts";
import { threadTable } from "../src/worker/thread_inflight.ts";
import { accessInflightFields } from "../src/ipc/inflight_fields.ts";
import { logCutOff, logCutOffSessions } from "../src/ipc/inflight_report.ts";
import {
  countDropped,
  countWebSockets,
  type DroppedLines,
  type WebSocketSessions,
} from "../src/ipc/request_metrics.ts";
import { controlSocketPath } from "../src/ipc/control_protocol.ts";
import { InflightWatch } from "../src/worker/inflight_watch.ts";
import { ThreadBoard } from "../src/worker/thread_board.ts";
import { type Handoff, HandoffWaits } from "../src/worker/handoff_waits.ts";
import { Admission } from "../src/net/admission.ts";
import { libcFds } from "../src/net/accept_gate.ts";
import { installWebSockets, webSocketHub } from "../src/worker/websockets.ts";
import type { WebSocketHub } from "../src/http/websocket/hub.ts";

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
// A thread's process.stdout and stderr are its own streams: a failed write must not end it.
guardStdStreams();
const TICK_MS = 250;

function post(message: ToPool): void {
  scope.postMessage(message);
}

interface Serving {
  runtime: Runtime;
  log: Logger;
  /** One HTTP server per listener of the worker, by the listener's index. */
  servers: Map<number, HttpServer>;
  /** The server of listener `index`, accepting through this thread's admission. */
  make(index: number): HttpServer;
  board: ThreadBoard;
  /** This thread's place on the board. */
  index: number;
  /** This thread's connections: its part of worker_connections. */
  admission: Admission;
  /** Connections handed here that wait for room, here or at a sibling. */
  handoffs: HandoffWaits;
  slots: SlotWriter;
  /** Its slots as the process reads them: who answers what at a drain's deadline. */
  own: SlotReader;
  /** Its requests in flight, and how they are said to be cut off at a drain's deadline. */
  inflight: InflightTable;
  /** What keeps it, and the requests past its entries. */
  watch: InflightWatch;
  /** Its WebSocket sessions (they live on the thread that accepted their connection). */
  websockets: WebSocketHub;
  where: string;
  /** Told to drain: it accepts no more, also on listeners still opening. */
  draining: boolean;
  /** How a connection answered without being served is answered (answerUnadopted()). */
  unread: UnadoptedAnswerOptions;
  /** Its request counters (--metrics-bind), which its cut-off requests are counted into. */
  counters?: Float64Array;
  /** The app's onListen (`deno serve`'s), called when the pool asks (once a worker). */
  onListen: AppHandler["onListen"];
}

// Module-level because this file is the thread: one per thread, set by the pool's "start" message.
let serving: Serving | undefined;
// The thread crashed, or the app exited it: it takes nothing more (the pool answers what it is
// handed meanwhile, as it does for a hung thread).
let ended = false;
// Told to stop accepting (a quick stop): it takes no connection from now on, also on listeners it
// is still opening. The listen under way meanwhile, which the stop waits for before it says so.
let acceptStopped = false;
let opening: Promise<void> | undefined;

async function start(message: Extract<ToThread, { t: "start" }>): Promise<void> {
  // A thread started from a program replaced on disk since its process started.
  const mismatch = versionMismatch(message.version, "worker process");
  if (mismatch) return post({ t: "load-failed", message: mismatch });
  const config = message.config;
  const runtime = await detectRuntime();
  const board = new ThreadBoard(config.threads, config.worker_connections, message.board);
  const index = message.index;
  // Open connections (the admission's count) its HTTP layer has not seen yet: a TLS connection
  // is seen once its handshake's first bytes come, and is new, so pending, until then.
  let open = 0;
  let seen = 0;
  const unseen = () => board.setUnseen(index, Math.max(0, open - seen));
  // Before the hub, which reports its open sockets here.
  const slots = new SlotWriter(
    message.slots,
    message.origin,
    runtime.socketFd,
    {
      pending: (count) => board.setPending(index, count),
      served: (exchanges) => board.served(index, exchanges),
      connections: (count) => {
        seen = count;
        unseen();
      },
    },
  );
  const own = new SlotReader(message.slots, message.origin);
  // Its region of the worker's table, where the master reads it too, or memory of its own.
  const table = threadTable(runtime.libc(), message.inflight);
  // The thread's request counters (--metrics-bind), which the pool sums into the worker's.
  const counting = config.metrics_bind || controlSocketPath(config) || config.statsd_host;
  const counters = counting ? new Float64Array(message.counters) : undefined;
  // The thread's logger, once made: end() writes with it.
  let made: Logger | undefined;
  // An error nobody catches, or the app's exit call, ends this thread, and with it its
  // connections: first the requests it has not begun answering get their 500 here, while their
  // fds are still open, with their access lines; then the pool hears why, and replaces it.
  const end = (why: ToPool, say?: (log: Logger) => void) => {
    // One is said: what fails while the thread ends adds nothing (Deno's exit throws null).
    if (ended) return;
    ended = true;
    // No request comes before the logger is made (the thread listens only after).
    if (made !== undefined) {
      say?.(made);
      const log = made;
      // The request(s) the app was running get the 500; those waiting behind them for the app
      // (limitConcurrency) never reached it and get the 503 a hung thread's waiting ones get.
      answerClaimedRequests(own.claimAll(), {
        libc: runtime.libc(),
        log,
        table,
        status: (c) => (c.inApp ? 500 : 503),
        tls: tlsEnabled(config),
        counters,
      });
      // Those its servers keep parked get the 503 a hung thread's get (not a bare close when the
      // servers close below), while their fds are still open; claimed, as the process claims
      // them: one it claimed meanwhile is its to answer, never both.
      const unread = unreadAnswerOptions(runtime.libc(), log, config);
      own.claimParked((fd) => answerParked(fd, unread));
      log.close().catch(() => {});
    }
    runtime.closeSocketFds();
    // A crashed thread runs on until the pool ends it: it takes nothing more meanwhile, neither a
    // connection nor what its connections would still bring.
    if (serving !== undefined) {
      serving.board.setTaking(serving.index, false);
      for (const server of serving.servers.values()) server.closeNow();
      const unread = serving.unread;
      serving.handoffs.release(({ fd }) => answerUnadopted(fd, unread));
    }
    post(why);
  };
  runtime.onThreadExit((code) => end({ t: "exited", code }));
  let log: Logger;
  let app: FetchHandler;
  let hooks: HookRunner;
  let websockets: WebSocketHub;
  let onListen: AppHandler["onListen"];
  const warnings: string[] = [];
  try {
    log = made = await createLogger(config, { role: "worker", runtime, appserve });
    // Said with its stack in the log.
    onUncaught((what, error) =>
      end(
        { t: "crashed", message: firstLine(error) },
        (log) => logAppError(log, `${what} in gthread thread`, error, runtime.explainAppError),
      )
    );
    hooks = await HookRunner.load(config.hooks, log);
    // A thread's Deno is its own object: the upgrade functions are installed per thread.
    // Its sessions are counted as they open and close, for the master's gauge (summed by the
    // worker process on its heartbeat).
    const sessions: WebSocketSessions = { opened: 0, closed: 0 };
    websockets = webSocketHub(config, log, (open) => {
      slots.websockets(open);
      if (counters) countWebSockets(counters, log.websocketSessions, sessions);
    });
    installWebSockets(runtime, { hub: websockets, config, log });
    runtime.rememberStaticBodies();
    const loaded = await loadApp(config.app, process.cwd(), { runtime });
    // Every thread loads the app: the master says what it warns about, once.
    for (const warning of [loaded.ignored, loaded.ownServer]) {
      if (warning !== undefined) warnings.push(warning);
    }
    websockets.setHandlers(loaded.websocket);
    onListen = loaded.onListen;
    app = loaded;
  } catch (error) {
    post({
      t: "load-failed",
      message: appLoadFailure(error),
    });
    return;
  }
  const served = new Int32Array(message.served);
  const limit = message.limit;
  // The slots tell the requests the app has from those waiting for it (SlotWriter.inApp).
  const handler = slots.queued(limitConcurrency(
    slots.inApp(
      await withRequestSpans(withRequestHooks(
        // Inside the hooks: post_request gets the 504 of a request that timed out.
        withRequestTimeout(app, config.request_timeout, log),
        hooks,
        { pid: process.pid, age: message.age, log },
        failureAnswer(log, runtime),
      )),
    ),
    1,
    // How long a request held the thread's app: what a connection handed here would wait behind.
    (ms) => board.took(index, ms),
  ));
  // Counted when a request starts, across the threads; the one that reaches the limit says so.
  const counted: FetchHandler = (request, info) => {
    if (Atomics.add(served, 0, 1) + 1 === limit) post({ t: "retire" });
    return handler(request, info);
  };
  slots.tick();
  setInterval(() => slots.tick(), TICK_MS);
  // The requests in flight, for THREAD TIMEOUT to name; the access lines waiting for their batch
  // go out before app code that might hang this thread for good.
  const inflight = new InflightWatch(table, {
    inner: slots,
    flush: log.accessEnabled ? () => log.flushAccess() : undefined,
    fields: accessInflightFields(log, config),
  });
  if (counters) {
    const dropped: DroppedLines = { syslog: 0, otel: 0 };
    setInterval(() => countDropped(counters, log.dropped, dropped), 1000);
  }
  const options = {
    ...withRequestCounters(
      httpOptions(config, log, {
        // A thread serves a connection's requests one after another, as gunicorn's gthread does.
        keepAlive: true,
        access: accessLogger(config, log),
        // The process's, from the master: no thread reads the files.
        tls: await tlsAcceptor(message.tls),
        explain: runtime.explainAppError,
        staticBody: runtime.staticBody,
        impliedType: runtime.impliedType,
        knownLength: runtime.knownLength,
        decodedBody: runtime.decodedBody,
        streamLength: runtime.streamLength,
        fileBody: runtime.fileBody,
        requestSignal: runtime.requestSignal,
        websocket: websockets,
      }),
      counters,
    ),
    watch: inflight,
  };
  const admission = new Admission(board.limit(index), {
    publish: (kept, count) => {
      board.setOpen(index, count, kept);
      open = count;
      unseen();
    },
    // The worker process keeps the share next to its siblings (holdForShare()); between
    // threads, connections are handed over as they are accepted.
    excess: () => 0,
    someoneHasFewer: () => false,
  }, () => board.total() >= config.worker_connections);
  const watched = inflight.wrap(counted);
  const fds = libcFds(runtime.libc());
  const report = (level: "warning" | "info", line: string) => log[level](line);
  serving = {
    runtime,
    log,
    servers: new Map(),
    handoffs: new HandoffWaits(admission, serve, slots, unservable),
    make: (listener) =>
      createHttpServer(watched, {
        ...options,
        gate: {
          fds,
          admission,
          report,
          divert: (socket, unix) => divert(socket, unix, listener),
          // The fds are the process's: its threads run out together, and get them back together.
          // Those waiting unread hold one each too (as admission.open + admission.waiting does).
          connections: () => {
            board.setWaiting(index, admission.waiting);
            return board.fds();
          },
          claimWarning: (now, everyMs) => board.claimWarning(now, everyMs),
        },
      }),
    board,
    index,
    admission,
    slots,
    own,
    inflight: table,
    watch: inflight,
    websockets,
    where: `thread ${message.id} (pid:${process.pid})`,
    draining: false,
    unread: unreadAnswerOptions(runtime.libc(), log, config),
    counters,
    onListen,
  };
  // A place may free at a sibling while none does here.
  setInterval(() => serving!.handoffs.size > 0 && handOn(), TICK_MS);
  // What waits here, for the siblings' fd checks.
  setInterval(() => board.setWaiting(index, admission.waiting), TICK_MS);
  post({ t: "loaded", warnings });
}

/** Hands the connections handed here that still wait for room to a sibling that has some. */
function handOn(): void {
  const s = serving!;
  s.handoffs.handOn(
    () => s.board.divert(s.index),
    ({ fd, listener, unix }, to) => post({ t: "handoff", fd, listener, unix, to }),
    (to) => s.board.arrived(to),
  );
}

/** Hands a connection this thread accepted to a sibling with fewer; false to keep it. */
function divert(socket: Socket, unix: boolean, listener: number): boolean {
  const s = serving!;
  const to = s.board.divert(s.index);
  if (to < 0) return false;
  let fd: number;
  try {
    fd = s.runtime.detachSocket(socket);
  } catch {
    // No fd to spare for the hand-off: this thread serves it after all.
    s.board.arrived(to);
    return false;
  }
  post({ t: "handoff", fd, listener, unix, to });
  return true;
}

async function listen(listeners: { fd: number }[], withOnListen: boolean): Promise<void> {
  const s = serving!;
  try {
    for (const [index, listener] of listeners.entries()) {
      // Told to stop accepting first: no listener opens from now on. (One opening meanwhile
      // holds at once for good: its admission stopped.)
      if (acceptStopped) break;
      const server = s.make(index);
      s.servers.set(index, server);
      await server.listen({ fd: listener.fd });
      // Told to drain while this listener opened: it closes with the rest.
      if (s.draining) server.close();
    }
  } catch (error) {
    // Not half listening: the listeners it did open close again.
    for (const server of s.servers.values()) server.closeNow();
    s.servers.clear();
    // Stopped or draining meanwhile: the process is on its way out, and a failure said now would
    // be taken for a boot failure (exit 3) instead of the stop's.
    if (acceptStopped || s.draining) return;
    return post({ t: "listen-failed", message: firstLine(error) });
  }
  // Told to stop accepting before or while its listeners opened (the process is on its way out):
  // it does not serve. Those that opened hold for good, their copies closed (admission.stop()),
  // and the stop says so; "listening" and the app's onListen would tell of a thread serving.
  if (acceptStopped) return;
  if (!s.draining) s.board.setTaking(s.index, true);
  post({ t: "listening" });
  const onListen = s.onListen;
  s.onListen = undefined;
  if (onListen && withOnListen) {
    const addrs = listenAddrs(s.runtime.libc(), { listeners, reusePort: [] });
    callOnListen(onListen, addrs, s.log, s.runtime.explainAppError);
  }
}

function adopt(message: Extract<ToThread, { t: "conn" }>): void {
  const s = serving!;
  // Counted by this thread from here on (open, or waiting in its admission); still counted on
  // the board as well, it would crowd out its own place.
  s.board.arrived(s.index);
  // The process gave up on this thread (it hung), or is about to (it ended): the process
  // answers the connection itself.
  if (ended || !s.slots.adopting(message.n)) return;
  const { fd, listener, unix } = message;
  s.handoffs.take({ fd, listener, unix }, s.draining);
  // Given up on while it was shown waiting: the process's claim may have come before (then it
  // answered none of those shown after), so this thread answers what is still its own.
  if (s.slots.sealed) s.handoffs.release(refuse);
}

/**
 * A handed connection `serve` threw on once a place freed. Its fd is not closed here: past
 * adoptSocket a socket owns it, and a second close could hit the fd reused meanwhile.
 */
function unservable(_handoff: Handoff, error: unknown): void {
  serving!.log.warning(
    `A connection handed to this thread could not be served: ${firstLine(error)}`,
  );
}

/** A handed connection this thread will not serve: a 503, with its access line. */
function refuse({ fd }: Handoff): void {
  answerUnadopted(fd, serving!.unread);
}

/** Serves a connection handed to this thread, now that it has room for it. */
function serve({ fd, listener, unix }: Handoff): void {
  const s = serving!;
  const server = s.servers.get(listener);
  if (server) {
    let socket;
    try {
      socket = s.runtime.adoptSocket(fd);
    } catch (error) {
      // No socket owns the fd yet: closed here, once.
      s.runtime.libc().close(fd);
      s.log.warning(`A connection handed to this thread could not be served: ${firstLine(error)}`);
      return;
    }
    server.adopt(socket, unix);
  } else {
    // Not listening (any more): the process passes connections only to threads that listen.
    answerUnadopted(fd, s.unread);
  }
}

// The ends of WebSocket sessions cut or dropped come an event or two after their sockets closed;
// under the process's wait for a flush (THREAD_FLUSH_MS).
const SESSION_ENDS_MS = 300;

// A hand-off crosses two message ports in milliseconds; one not here by then is not coming.
const HANDOFF_WAIT_MS = 1000;
/** A look for a hand-off this long after the last one found the thread's loop standing still. */
const HANDOFF_LATE_MS = 100;

async function drain(graceMs: number): Promise<void> {
  const s = serving;
  if (s) {
    s.draining = true;
    s.board.setTaking(s.index, false);
    const end = Date.now() + graceMs;
    // What is still in flight at the deadline is cut off: named first, once.
    let said = false;
    const sayCutOff = () => {
      if (said) return;
      said = true;
      // Not those the process answered (and logged) for this thread when it hung.
      const elsewhere = s.own.cutOff();
      const { requests, more } = s.inflight.read();
      const ours = requests.filter((request) => !elsewhere.has(request.entry));
      // Those past the table the process answered are not told apart: then none is logged here.
      const overflow = elsewhere.has(-1) ? [] : s.watch.overflow();
      logCutOff(
        s.log,
        s.where,
        { requests: ours, more },
        graceMs / 1000,
        overflow,
        (request) => s.watch.cutOffBytes(request),
        s.counters,
      );
      logCutOffSessions(s.log, s.where, graceMs / 1000, s.websockets);
    };
    // Those handed here that wait for room are served now, with connection: close.
    s.handoffs.release(serve);
    const closeAll = () =>
      Promise.all(
        [...s.servers.values()].map((server) =>
          closeWithin(server, Math.max(0, end - Date.now()), sayCutOff)
        ),
      );
    await closeAll();
    // A sibling may have handed this thread a connection just before it stopped taking: that one
    // is on its way (counted on the board) and is served, with connection: close, before this
    // thread says it drained (the process ends threads that did).
    const until = Math.min(end, Date.now() + HANDOFF_WAIT_MS);
    let looked = Date.now();
    while (s.board.incoming(s.index) > 0) {
      const now = Date.now();
      // Woken late (the loop stood still: a loaded box), the hand-off may wait behind the timer
      // that woke it: one look more, within the drain's deadline.
      if (now >= end || (now >= until && now - looked < HANDOFF_LATE_MS)) break;
      looked = now;
      await new Promise((resolve) => setTimeout(resolve, 5));
      await closeAll();
    }
    // The sessions the cut ended: their close handlers and access lines, before the thread ends.
    await s.websockets.settled(SESSION_ENDS_MS);
    await s.log.close();
  }
  post({ t: "drained" });
}

/**
 * A quick stop: every gate of this thread holds for good, and once they have closed their servers
 * (a turn after: AcceptGate.hold) the process hears it, so that its worker_int hook runs while no
 * thread accepts.
 */
function stopAccepting(): void {
  acceptStopped = true;
  serving?.admission.stop();
  // A listener opening meanwhile holds on the turn after it opened: said once it did, or once
  // the listen failed (whatever failed, this thread accepts nothing).
  const say = () => setImmediate(() => post({ t: "accepting-stopped" }));
  void (opening ?? Promise.resolve()).then(say, say);
}

scope.onmessage = (event: MessageEvent<ToThread>) => {
  const message = event.data;
  if (message.t === "conn") adopt(message);
  else if (message.t === "share") serving?.admission.holdForShare(message.held);
  else if (message.t === "listen") opening = listen(message.listeners, message.onListen);
  else if (message.t === "start") start(message);
  else if (message.t === "drain") drain(message.graceMs);
  else if (message.t === "stop-accepting") stopAccepting();
  else if (message.t === "flush") {
    // A quick stop: the responses under way end, each with the access line of what its client
    // got; the process names them from the table (as logged) with the rest. The connections with
    // no request read yet are closed and counted, for the process's one line of them.
    const unparsed: UnparsedConnections = { connections: 0, partial: 0 };
    if (message.quick) {
      for (const server of serving?.servers.values() ?? []) {
        server.cutUnderWay();
        addUnparsed(unparsed, server.dropUnparsed());
      }
    }
    // The process exits without a drain: sessions are dropped (1006), each with its access line.
    const dropped = (serving?.websockets.dropAll() ?? 0) > 0
      ? serving!.websockets.settled(SESSION_ENDS_MS)
      : Promise.resolve();
    void dropped.then(() => {
      serving?.log.flushAccess();
      return serving?.log.flushMetrics();
    }).then(() => post({ t: "flushed", unparsed }));
  } else if (message.t === "reopen") {
    serving?.log.reopen().catch((error) =>
      serving?.log.error(`Cannot reopen logs: ${firstLine(error)}`)
    );
  }
};
