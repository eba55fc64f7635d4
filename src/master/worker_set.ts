// The master's workers (gunicorn's WORKERS table and the functions around it): starting one in its
// scoreboard slot, forgetting one that exited (its counters kept for metrics), and what the loop
// looks at on each tick: workers stuck past --timeout (murder_workers), workers over
// --max-worker-memory. The arbiter decides when; this file knows how.

import type { Readable } from "node:stream";
import type { Config } from "../config/settings.ts";
import { AppserveError, osReason } from "../errors.ts";
import type { ToMaster } from "../ipc/messages.ts";
import type { WorkerStatus } from "../ipc/control_protocol.ts";
import {
  DIED_STATUS,
  KILLED_STATUS,
  logInflightAccess,
  requestLines,
  timeoutLines,
} from "../ipc/inflight_report.ts";
import { countRequest, openWebSockets, readTotals } from "../ipc/request_metrics.ts";
import type { Logger } from "../log/logger.ts";
import type { Listener } from "../net/listeners.ts";
import type { Runtime } from "../runtime/types.ts";
import type { QueueSources } from "./listen_queues.ts";
import { MetricsBook, type MetricsSources } from "./metrics_book.ts";
import type { Backlog } from "./prometheus_text.ts";
import { rawEnv, spawnError, spawnWorker } from "./spawn.ts";
import { WorkerHandle } from "./worker_handle.ts";
import type { WorkerLaunch } from "./worker_launch.ts";
import { overLimit, recycleLine, residentBytes } from "./worker_memory.ts";
import { WorkerSlots } from "./worker_slots.ts";

/** A gone worker's requests in flight (WorkerSet.diedInflight), if any. */
type Inflight = ReturnType<WorkerSlots["inflight"]>;

/** Importing an app (TypeScript compile included) may take longer than a short --timeout. */
const MIN_BOOT_TIMEOUT_MS = 60_000;

/** What a new worker is started with, and where its messages and exit go. */
export interface SpawnOptions {
  config: Config;
  runtime: Runtime;
  launch: WorkerLaunch;
  listeners: Listener[];
  reusePort: { host: string; port: number }[];
  age: number;
  generation: number;
  /** The master has a control socket (WorkerBoot.control). */
  control: boolean;
  onMessage(worker: WorkerHandle, message: ToMaster): void;
  onExit(worker: WorkerHandle, code: number | null, signal: string | null): void;
  /** A line about the worker's channel (a malformed message), or its files written again. */
  warn(line: string): void;
}

export class WorkerSet {
  readonly #workers = new Map<number, WorkerHandle>();
  readonly #slots: WorkerSlots | undefined;
  /** Restarts and the counters of workers gone, for --metrics-bind. */
  readonly #book = new MetricsBook();
  #memoryCheckedAt = 0;

  constructor(runtime: Runtime) {
    this.#slots = WorkerSlots.open(runtime.libc());
  }

  get size(): number {
    return this.#workers.size;
  }

  [Symbol.iterator](): IterableIterator<WorkerHandle> {
    return this.#workers.values();
  }

  /** Every worker, as an array (to filter and sort). */
  all(): WorkerHandle[] {
    return [...this.#workers.values()];
  }

  /**
   * Starts a worker with the listeners, a scoreboard slot and its boot. Throws an AppserveError,
   * one line, when the program cannot be started (its file gone mid-deploy, not executable).
   */
  async spawn(o: SpawnOptions): Promise<WorkerHandle> {
    const { config, runtime, listeners } = o;
    // A Deno worker's bundle emptied away by a temp cleaner is written again first.
    for (const line of await o.launch.restore?.() ?? []) o.warn(line);
    const boot = { config, reusePort: o.reusePort, age: o.age, control: o.control };
    const tmp = config.worker_tmp_dir ? { TMPDIR: config.worker_tmp_dir } : {};
    const env = { ...process.env, ...tmp, ...plainOutput(config), ...rawEnv(config.raw_env) };
    const slots = this.#slots;
    const slot = slots?.take() ?? -1;
    const scoreboard = slots && slot >= 0 ? { fd: slots.fd, slot } : undefined;
    const fds = listeners.map((l) => l.fd);
    const { command, cwd, tls } = o.launch;
    const child = spawnWorker(runtime, command, boot, fds, env, cwd, scoreboard, tls);
    const failure = spawnError(child);
    if (child.pid === undefined) {
      slots?.free(slot);
      const reason = osReason(await failure);
      throw new AppserveError(
        `Cannot start a worker process from ${o.launch.command.command}: ${reason}`,
        1,
      );
    }
    const worker = new WorkerHandle(child, child.pid, o.age, o.generation, slot);
    this.#workers.set(worker.pid, worker);
    worker.listen(child.stdio[3] as Readable, (message) => o.onMessage(worker, message), o.warn);
    child.stdin!.on("error", () => {});
    child.on("exit", (code, signal) => o.onExit(worker, code, signal));
    return worker;
  }

  /**
   * A worker exited, while `generation` is current: it is counted for metrics (why it was
   * replaced, its requests) and its slot cleared for the next.
   */
  forget(worker: WorkerHandle, generation: number): void {
    this.#workers.delete(worker.pid);
    this.#book.reaped(worker, generation, this.#slots?.counters(worker.slot));
    this.#slots?.free(worker.slot);
  }

  /** A worker exited while the master stops: nothing is kept. */
  drop(worker: WorkerHandle): void {
    this.#workers.delete(worker.pid);
  }

  /**
   * What a worker that died under its requests (an exit code, or a signal the master did not
   * send, draining or not) had in flight, read before forget() clears its slot. None for other
   * exits: a stuck worker's were named when it was killed, a stopping worker names those it cuts
   * off itself.
   */
  diedInflight(worker: WorkerHandle, code: number | null, signal: string | null): Inflight {
    if (!worker.diedUnasked(code, signal) || worker.aborted || worker.killed) return undefined;
    const inflight = this.#slots?.inflight(worker.slot);
    return inflight && (inflight.requests.length || inflight.more) ? inflight : undefined;
  }

  /**
   * The access lines a gone worker never wrote go to the access log `open` opens (before
   * forget() clears its slot): those it left waiting for their batch in its slot (a worker
   * killed for --timeout, or one that died without closing its log), then one per request in
   * its in-flight table for a worker killed for --timeout (`worker.aborted`, 504) or one that
   * died under them (`died`, from diedInflight(): 502), or with the status and body bytes its
   * client got for one whose response was under way (InflightRequest.sent: a stream whose head
   * went out), but for one marked logged (InflightRequest.logged). Those requests are counted into
   * its metrics too, before forget() adds them to the gone workers'.
   */
  async logLostAccess(
    worker: WorkerHandle,
    { open, log, config }: {
      open: ((config: Config) => Promise<Logger>) | undefined;
      log: Logger;
      config: Config;
    },
    died?: Inflight,
  ): Promise<void> {
    const waiting = this.#slots?.pendingAccess(worker.slot) ?? new Uint8Array();
    // Not one whose line the worker wrote (a response under way a quick stop ended): among those
    // waiting, or written already.
    const requests =
      (worker.aborted ? this.#slots?.inflight(worker.slot)?.requests ?? [] : died?.requests ?? [])
        .filter((request) => !request.logged);
    // One whose response was under way (its head sent: InflightRequest.sent) as its client got it.
    const statuses = requests.map((r) =>
      r.sent?.status ?? (worker.aborted ? KILLED_STATUS : DIED_STATUS)
    );
    const bodyBytes = requests.map((r) => r.sent?.bytes ?? 0);
    const now = Date.now();
    // Counted as answered with that status, as their access lines say (the worker never will).
    const counters = this.#slots?.counters(worker.slot);
    if (counters) {
      requests.forEach((r, i) =>
        countRequest(counters, r.method, statuses[i], (now - r.start) / 1000)
      );
    }
    if ((!waiting.length && !requests.length) || !open) return;
    try {
      const access = await open(config);
      access.writeFormattedAccess(waiting, worker.pid);
      logInflightAccess(access, requests, now, statuses, worker.pid, bodyBytes);
      await access.close();
    } catch (error) {
      log.error(`Cannot write the access log: ${(error as Error).message}`);
    }
  }

  /**
   * A worker still there at the stop's deadline (its event loop stuck, as it never cut off its
   * requests itself): `head` and each request it had in flight (`lead: GET /path ...`) as
   * WARNINGs, then SIGKILL. As for --timeout (`aborted`), its reaping writes their 504 lines.
   */
  killAtDeadline(worker: WorkerHandle, head: string, lead: string, log: Logger): void {
    // Gone already (its exit is queued): nothing was cut off.
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      log.warning(head);
      const inflight = this.#slots?.inflight(worker.slot);
      if (inflight) requestLines(lead, inflight, Date.now()).forEach((l) => log.warning(l));
      worker.aborted = true;
    }
    worker.kill();
  }

  /**
   * gunicorn's murder_workers: a worker silent past `config.timeout` (a booting one gets at least
   * a minute, and is said to be still loading the app) is named with its requests in flight and
   * sent SIGABRT; on the next stale tick, SIGKILL.
   */
  murderStuck(config: Config, log: Logger): void {
    const timeoutMs = config.timeout * 1000;
    if (timeoutMs <= 0) return;
    const now = performance.now();
    for (const worker of this.#workers.values()) {
      const allowed = worker.booted ? timeoutMs : Math.max(timeoutMs, MIN_BOOT_TIMEOUT_MS);
      if (now - worker.lastBeat <= allowed) continue;
      if (!worker.aborted) {
        const head = `WORKER TIMEOUT (pid:${worker.pid})`;
        if (worker.booted) {
          const inflight = this.#slots?.inflight(worker.slot);
          const where = `worker (pid:${worker.pid})`;
          const label = `${config.worker_class} worker`;
          timeoutLines(head, where, inflight, Date.now(), label).forEach((l) => log.critical(l));
        } else {
          log.critical(`${head}: ${stillLoading(allowed, this.#reloadWaitsFor(worker))}`);
        }
        worker.aborted = true;
        worker.signal("SIGABRT");
      } else {
        worker.kill();
      }
    }
  }

  /**
   * Whether a HUP's reload waits for `worker` to boot: it belongs to a newer generation than a
   * worker still serving (the old generation serves until the new one has booted).
   */
  #reloadWaitsFor(worker: WorkerHandle): boolean {
    return this.all().some((w) => w.booted && !w.retiring && w.generation < worker.generation);
  }

  /**
   * --max-worker-memory: a worker over `limitMb` of RSS is marked to retire (replaced first, then
   * stopped), but not one over it since it booted (its replacement would be too); read from
   * /proc at most once per `everyMs`.
   */
  recycleBloated(limitMb: number, log: Logger, everyMs: number): void {
    const now = performance.now();
    if (limitMb <= 0 || now - this.#memoryCheckedAt < everyMs) return;
    this.#memoryCheckedAt = now;
    for (const worker of this.#workers.values()) {
      if (!worker.booted || worker.retiring) continue;
      const rss = residentBytes(worker.pid);
      if (!overLimit(rss, limitMb)) {
        // Under the limit now: past it again, it grew since, as any other (its size at boot is
        // no longer why), and is retired for it.
        if (rss !== undefined) worker.bootedOverLimit = false;
        continue;
      }
      if (worker.bootedOverLimit) continue;
      log.info(recycleLine(worker.pid, rss, limitMb));
      worker.retiring = true;
      worker.recycling = true;
      worker.retiredFor = "memory";
    }
  }

  /** `appserve ctl status`: each worker's pid, age, requests, in flight, RSS and state. */
  status(): WorkerStatus[] {
    const now = performance.now();
    return this.all().map((w) => {
      const counters = this.#slots?.counters(w.slot);
      const table = this.#slots?.inflight(w.slot);
      return {
        pid: w.pid,
        age: Math.round((now - w.startedAt) / 100) / 10,
        requests: counters ? readTotals(counters).count : 0,
        inFlight: table ? table.requests.length + table.more : 0,
        rss: residentBytes(w.pid) ?? null,
        state: w.recycling
          ? "recycling"
          : w.retiring
          ? "retiring"
          : w.booted
          ? "serving"
          : "booting",
      };
    });
  }

  /** The WebSocket sessions the live workers have open; undefined without a scoreboard. */
  websocketsOpen(): number | undefined {
    if (!this.#slots) return undefined;
    let open = 0;
    for (const w of this.all()) {
      const counters = this.#slots.counters(w.slot);
      if (counters) open += openWebSockets(counters);
    }
    return open;
  }

  /**
   * The WebSocket sessions `worker` has open as its scoreboard counts them (read before forget()
   * clears its slot): 0 without one, or when the worker counts none (no --metrics-bind, statsd
   * or control socket).
   */
  sessionsOpen(worker: WorkerHandle): number {
    const counters = this.#slots?.counters(worker.slot);
    return counters ? Math.max(0, openWebSockets(counters)) : 0;
  }

  /**
   * A graceful stop's INFO line before its wait, when `workers` have anything under way: their
   * requests in flight and WebSocket sessions open (those counted: sessionsOpen()), how long they
   * get (`graceSeconds`) and, for a part of the workers, which (`which`: " on the old workers").
   * Undefined when they are idle: no wait to speak of. gthread workers' threads keep their
   * requests in regions of their worker's table (src/worker/thread_inflight.ts), counted too.
   */
  waitLine(workers: Iterable<WorkerHandle>, graceSeconds: number, which = ""): string | undefined {
    let requests = 0;
    let sessions = 0;
    for (const worker of workers) {
      const table = this.#slots?.inflight(worker.slot);
      if (table) requests += table.requests.filter((r) => !r.logged).length + table.more;
      sessions += this.sessionsOpen(worker);
    }
    if (requests === 0 && sessions === 0) return undefined;
    const what = [
      ...(requests ? [`${requests} ${requests === 1 ? "request" : "requests"} in flight`] : []),
      ...(sessions ? [`${sessions} WebSocket ${sessions === 1 ? "session" : "sessions"}`] : []),
    ].join(" and ");
    return `Waiting up to ${graceSeconds} s for ${what}${which} (graceful_timeout)`;
  }

  /** Prometheus's text for --metrics-bind. */
  metrics(sources: Omit<MetricsSources, "slots">): string {
    return this.#book.render(this.all(), { ...sources, slots: this.#slots });
  }

  /** Connections waiting in each listen queue (--enable-backlog-metric). */
  backlog(sources: QueueSources): Backlog[] {
    return this.#book.backlog(this.all(), sources);
  }
}

/**
 * Why a worker that never booted is killed: it was still importing the app (a top-level await
 * that never settles) for `allowedMs`; during a reload, the reload is stuck on it.
 */
function stillLoading(allowedMs: number, reloading: boolean): string {
  const line = `still loading the app after ${allowedMs / 1000} s ` +
    `(booting workers get max(--timeout, ${MIN_BOOT_TIMEOUT_MS / 1000} s))`;
  return reloading ? `${line}; the reload is stuck on it, the old workers keep serving` : line;
}

/**
 * The runtime's own reports (Deno's uncaught errors and warnings, its refusals) in colour only on
 * a terminal: not into a log file, journald, or the error log --capture-output takes them to.
 * An operator's own NO_COLOR or FORCE_COLOR (or -e) decides instead.
 */
function plainOutput(config: Config): Record<string, string> {
  if (process.env.NO_COLOR !== undefined || process.env.FORCE_COLOR !== undefined) return {};
  return process.stderr.isTTY && !config.capture_output ? {} : { NO_COLOR: "1" };
}
