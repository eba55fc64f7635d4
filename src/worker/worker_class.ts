// The one interface every worker class implements, and what a worker process
// gives it. lifecycle.ts does what every worker does (gunicorn's
// Worker.init_process()); a class does only what sets it apart (its run()).
//
// A worker process runs its class through these steps, in this order:
//   new C(context)  no side effect
//   boot()          load what the class serves with: the app, or threads that load it
//   serve(gate)     accept on the worker's listeners; then beat() on every heartbeat,
//                   reopen() on USR1
//   drain(ms)       graceful stop (SIGTERM, max_requests, a lost pool); may be skipped
//   stop()          the process exits next: end at once what boot() started
//
// To add a class: one file with a class implementing WorkerClass (with the static
// side of WorkerClassType), one line in registry.ts, and its name in the
// worker_class setting's choices.

import type { Config } from "../config/settings.ts";
import type { HookRunner, WorkerInfo } from "../hooks.ts";
import type { HttpServerOptions } from "../http/server.ts";
import type { AppHandler } from "../fetch_handler.ts";
import type { WebSocketHub } from "../http/websocket/hub.ts";
import type { RetireReason, WorkerBoot } from "../ipc/messages.ts";
import type { KilledRequests } from "../ipc/quick_stop_report.ts";
import type { TlsFiles } from "../tls/tls_files.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";
import type { InflightWatch } from "./inflight_watch.ts";

/**
 * How the worker's listeners accept: the worker's connection limit and its share next to its
 * siblings (one Admission for the whole process, set up by the lifecycle), and the fds it has.
 */
export type Gate = NonNullable<HttpServerOptions["gate"]>;

/** What the worker process gives its class. */
export interface WorkerContext {
  readonly config: Config;
  readonly log: Logger;
  readonly runtime: Runtime;
  /** The listeners, reuse-port addresses and age the master gave this worker. */
  readonly boot: WorkerBoot;
  /** The certificate and key the master read for this worker; null without TLS. */
  readonly tls: TlsFiles | null;
  readonly hooks: HookRunner;
  /** The worker as hooks see it. */
  readonly info: WorkerInfo;
  /** Requests after which the worker retires (max_requests + jitter); Infinity for never. */
  readonly requestLimit: number;
  /**
   * The worker's requests in flight, shown to the master through the scoreboard (WORKER
   * TIMEOUT names them): the HTTP layer's `watch`, and a wrapper for the handler. None when the
   * master gave no scoreboard.
   */
  readonly inflight?: InflightWatch;
  /** The worker's request counters on the scoreboard, when --metrics-bind is set. */
  readonly counters?: Float64Array;
  /** The WebSockets of this process (appserve's HTTP layer); gthread's threads have their own. */
  readonly websockets: WebSocketHub;
  /**
   * Imports the app in this process, with the pre_request and post_request hooks around it;
   * its `websocket` handlers (Bun's shape) come along and are the hub's.
   */
  loadApp(): Promise<AppHandler>;
  /**
   * What loading the app warned about (in this process or a thread): for the master, which logs
   * each once per start or reload, not once per worker and thread.
   */
  appWarning(message: string): void;
  /** A request starts: counted toward requestLimit. */
  requestStarted(): void;
  /**
   * The class counted requestLimit itself (gthread's threads; `max_requests`, the default), or
   * its listener stopped for good (`fds`: the class logged why, no "Autorestarting" line): the
   * worker tells the master, which starts its replacement. After max_requests it drains on the
   * SIGTERM that comes once that has booted; after `fds` the class calls lost() at once.
   */
  retire(reason?: RetireReason): void;
  /** The class cannot go on serving: the worker drains and exits, and the master replaces it. */
  lost(): void;
}

/** One worker class in one worker process. */
export interface WorkerClass {
  /**
   * Loads what the class serves with: the app (in this process, through
   * `WorkerContext.loadApp()`), or threads that each load their own. A throw means the app
   * cannot load: the worker reports it and exits 4 (an AppLoadError's message is used as is).
   */
  boot(): Promise<void>;
  /**
   * Starts accepting on the worker's listeners (`WorkerContext.boot`) through `gate`, and
   * resolves once it does. A throw means the listeners cannot be served: the worker exits 3.
   */
  serve(gate: Gate): Promise<void>;
  /** The worker's heartbeat, at least once a second while it serves. */
  beat?(): void;
  /** USR1: the worker's own logs are reopened; reopen any the class holds elsewhere (threads). */
  reopen?(): void;
  /**
   * A quick stop, before its hooks: the gate holds for good already; resolve once the class
   * accepts nothing more where the gate does not reach at once (gthread's threads, the native
   * servers' own listeners under --reuse-port), within a bound.
   */
  stopAccepting?(): Promise<void>;
  /**
   * Graceful stop: accept nothing more, let the requests in flight finish within `graceMs`, then
   * close what is still open, calling `beforeCut` first (the lifecycle names the requests cut off
   * from `WorkerContext.inflight`; gthread's threads name theirs themselves, and ignore it).
   */
  drain(graceMs: number, beforeCut?: () => void): Promise<void>;
  /**
   * The process exits next (after drain() or without it): end at once what boot() started
   * (gthread first lets its threads send their statsd batch, within a bound). `quick`: at a quick
   * stop (INT, QUIT), first each response under way is ended with the access line and count of
   * what its client got, its in-flight entry marked as logged (InflightRequest.logged).
   */
  stop(quick?: boolean): void | Promise<void>;
  /**
   * After stop() at a quick stop: the requests still in flight in tables of the class's own
   * (gthread's threads'), as stop() left them, for the worker to name (the process's own table
   * it reads itself).
   */
  inflight?(): KilledRequests[];
}

/** A worker class as the registry holds it: its constructor, and what the master must know. */
export interface WorkerClassType {
  /** Side-effect free: nothing happens before boot(). */
  new (context: WorkerContext): WorkerClass;
  /**
   * Connections one worker process holds at once; more wait in the listen queue, where a
   * sibling may take them (gunicorn's meaning). The master sizes its fd warning by it.
   */
  connections(config: Config): number;
}
