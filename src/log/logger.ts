// The Logger of master and workers: the error log in gunicorn's line format
//   [2026-11-22 10:00:00 +0000] [4242] [INFO] Booting worker with pid: 4242
// and the access log, written in batches. Users subclass it (--logger-class)
// and override any method.

import process from "node:process";
import {
  type AccessEntry,
  type AccessWriter,
  compileAccessFormat,
  compileAccessWriter,
  DEFAULT_ACCESS_LOG_FORMAT,
} from "./access_format.ts";
import { errorDetail } from "./error_detail.ts";
import { LineBuffer } from "./line_buffer.ts";
import { formatLogArgs } from "./log_args.ts";
import { type LogSink, openSink } from "./sinks.ts";
import { writeStd } from "./std_streams.ts";
import { durationMs, type Metrics } from "./statsd.ts";
import type { OtelLogs, SpanIds } from "./otel_logs.ts";
import { spanIdsOf } from "./request_span.ts";
import { type Syslog, syslogPidPrefix } from "./syslog.ts";

export type { AccessEntry } from "./access_format.ts";

export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
/** The error log's levels, lowest first. */
export type LogLevel = typeof LOG_LEVELS[number];

/** How long an access line may wait to be written, and how many lines (or bytes of them) may wait. */
const ACCESS_FLUSH_MS = 20;
const ACCESS_BATCH_LINES = 1024;
const ACCESS_BATCH_BYTES = 64 * 1024;
/**
 * The master's statsd gauges (the worker count, the open WebSockets) are sent again after this
 * long without a change: a collector may drop a gauge not sent for a while, and a lost packet is
 * made good.
 */
const GAUGE_RESEND_MS = 5000;

const NO_PREFIX = new Uint8Array();
const decoder = new TextDecoder();

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** `[%Y-%m-%d %H:%M:%S %z]` in local time. */
export function errorLogTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `[${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}]`;
}

/**
 * Memory another process can read, where the access lines wait for their batch: a worker's
 * scoreboard slot (src/ipc/pending_access.ts), from which the master writes them out if the
 * worker is killed before it could.
 */
export interface SharedAccessLines {
  /** Where the lines are formatted. */
  readonly bytes: Uint8Array;
  /** Says that the first `length` bytes are whole lines not yet written. */
  publish(length: number): void;
}

export interface LoggerOptions {
  /** Lowest level written to the error log. @default "info" */
  level?: LogLevel;
  /** Error log file (appended to); "-" or "" is stderr. @default "-" */
  file?: string;
  /** Access log file; "-" is stdout; "" (the default) turns the access log off. */
  accessLog?: string;
  /** gunicorn access-log format. @default DEFAULT_ACCESS_LOG_FORMAT */
  accessFormat?: string;
  /**
   * "json": each error-log line is `{"time","log":"error","level","pid","message"}` and each
   * access-log line `{"time","log":"access"}` plus one field per atom of `accessFormat`, named by
   * the atom. @default "text"
   */
  format?: "text" | "json";
  /** Receives gunicorn's statsd metrics (appserve passes its UDP client when statsd_host is set). */
  metrics?: Metrics;
  /**
   * Also sends the error log's lines, and the access log's unless `syslogAccess` is false, to
   * syslog (appserve passes its sink when `--log-syslog` is set).
   */
  syslog?: Syslog;
  /** Whether access lines go to `syslog` too. @default true */
  syslogAccess?: boolean;
  /**
   * Also sends both logs as OpenTelemetry log records (appserve passes its sender when
   * `--log-otel` is set); access records carry their request's span ids.
   */
  otelLogs?: OtelLogs;
}

/**
 * The one object through which master and workers write the error log and the
 * access log. It owns its sinks (stderr/stdout or files), the level, reopening
 * (SIGUSR1, after logrotate moved the files) and closing. Subclass it and pass
 * the module to `--logger-class` to change any line; a method of the subclass
 * that throws falls back to this class's behaviour for that line.
 *
 * @example A JSON-lines logger (`--logger-class json_logger.ts:JsonLogger`)
 * ```ts
 * import { type AccessEntry, Logger, type LogLevel } from "appserve";
 *
 * export class JsonLogger extends Logger {
 *   override formatError(level: LogLevel, message: string, time: Date): string {
 *     return JSON.stringify({ time: time.toISOString(), level, message });
 *   }
 *   override formatAccess(e: AccessEntry): string {
 *     return JSON.stringify({ method: e.request.method, status: e.response.status });
 *   }
 * }
 * ```
 */
export class Logger {
  readonly #threshold: number;
  readonly #errorSink: LogSink;
  readonly #accessSink: LogSink | undefined;
  readonly #format: string;
  readonly #json: boolean;
  #renderAccess: ((entry: AccessEntry) => string) | undefined;
  readonly #writer: AccessWriter;
  /** One line's values, between taking them off the entry and writing its bytes. */
  readonly #slots: unknown[] = [];
  /** Where the lines wait when another process must be able to read them. */
  #shared: SharedAccessLines | undefined;
  readonly #metrics: Metrics | undefined;
  /** close() was called: exiting() has nothing left to send. */
  #closed = false;
  readonly #syslog: Syslog | undefined;
  readonly #syslogAccess: Syslog | undefined;
  readonly #pidPrefix = syslogPidPrefix();
  readonly #otel: OtelLogs | undefined;
  /** The span ids of the access lines since the last flush, in their order (--log-otel). */
  #otelIds: (SpanIds | undefined)[] = [];
  #lines = new LineBuffer();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #workerCount = -1;
  #workersSentAt = 0;
  #websocketsOpen = -1;
  #websocketsSentAt = 0;

  constructor(options: LoggerOptions = {}) {
    this.#threshold = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#metrics = options.metrics;
    this.#format = options.accessFormat ?? DEFAULT_ACCESS_LOG_FORMAT;
    this.#json = options.format === "json";
    this.#writer = compileAccessWriter(this.#format, { json: this.#json });
    const errorFile = options.file ?? "";
    this.#errorSink = openSink(errorFile, {
      what: "error log",
      stream: "stderr",
      // Said on stderr when the error log is a file (under --capture-output stderr is that
      // file, and the line is dropped too); a failing stderr has nowhere to say it.
      failed: (message) => {
        if (errorFile && errorFile !== "-") {
          writeStd("stderr", `${this.formatError("error", message, new Date())}\n`);
        }
      },
      recovered: (message) => this.info(message),
    });
    this.#accessSink = options.accessLog
      ? openSink(options.accessLog, {
        what: "access log",
        stream: "stdout",
        failed: (message) => this.error(message),
        recovered: (message) => this.info(message),
      })
      : undefined;
    this.#syslog = options.syslog;
    // As gunicorn: with syslog on, access lines go there even when accesslog is unset.
    this.#syslogAccess = options.syslogAccess === false ? undefined : options.syslog;
    this.#otel = options.otelLogs;
  }

  /** Whether the access log is on (a file, a stream or syslog). */
  get accessEnabled(): boolean {
    return this.#accessSink !== undefined || this.#syslogAccess !== undefined ||
      this.#otel !== undefined;
  }

  /**
   * Lines the syslog and OpenTelemetry senders dropped since this logger started, because the
   * receiver was down, slow or its buffer full (shown in --metrics-bind's metrics).
   */
  get dropped(): { syslog: number; otel: number } {
    return { syslog: this.#syslog?.dropped ?? 0, otel: this.#otel?.dropped ?? 0 };
  }

  /**
   * Whether a line of `level` would be written (gunicorn's `isEnabledFor`): asked once, where a
   * DEBUG line per request or connection would otherwise cost its formatting at info.
   */
  isEnabledFor(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#threshold;
  }

  /**
   * A CRITICAL line. Like each level's method, it takes Python logging's arguments: with `args`,
   * `%s`, `%d`, `%r` and `%%` in `message` are filled in from them (gunicorn's
   * `log.info("Worker spawned (pid: %s)", pid)`); without, `message` is written as it is.
   */
  critical(message: string, ...args: unknown[]): void {
    this.log("critical", formatLogArgs(message, args));
  }
  /** An ERROR line; `args` as for {@link critical}. */
  error(message: string, ...args: unknown[]): void {
    this.log("error", formatLogArgs(message, args));
  }
  /** A WARNING line; `args` as for {@link critical}. */
  warning(message: string, ...args: unknown[]): void {
    this.log("warning", formatLogArgs(message, args));
  }
  /** An INFO line; `args` as for {@link critical}. */
  info(message: string, ...args: unknown[]): void {
    this.log("info", formatLogArgs(message, args));
  }
  /** A DEBUG line; `args` as for {@link critical}. */
  debug(message: string, ...args: unknown[]): void {
    this.log("debug", formatLogArgs(message, args));
  }

  /** An ERROR line with the error's stack (gunicorn's `exception`). */
  exception(message: string, error: unknown): void {
    this.#metrics?.increment("gunicorn.log.exception");
    const detail = errorDetail(error);
    if (LOG_LEVELS.indexOf("error") < this.#threshold) return;
    this.#logError("error", `${message}\n${detail}`);
  }

  /** Writes one error-log line when `level` passes the threshold; `args` as for {@link critical}. */
  log(level: LogLevel, message: string, ...args: unknown[]): void {
    if (level === "critical" || level === "error" || level === "warning") {
      this.#metrics?.increment(`gunicorn.log.${level}`);
    }
    if (LOG_LEVELS.indexOf(level) < this.#threshold) return;
    this.#logError(level, formatLogArgs(message, args));
  }

  #logError(level: LogLevel, message: string): void {
    const line = this.formatError(level, message, new Date());
    this.writeError(level, line);
    this.#otel?.record("error", level, message);
    if (!this.#syslog) return;
    // gunicorn's syslog_fmt, `[PID] message` (the sink puts `<PRI>gunicorn.PREFIX.error: `
    // first); a JSON line as it is.
    this.#syslog.error(level, this.#json ? line : `[${process.pid}] ${message}`);
  }

  /**
   * One error-log line, without the newline: gunicorn's `[time] [pid] [LEVEL] message`, or with
   * `format: "json"` `{"time":"2026-12-03T06:48:49.123Z","log":"error","level":"info","pid":42,
   * "message":"..."}`.
   */
  formatError(level: LogLevel, message: string, time: Date): string {
    if (this.#json) {
      return `{"time":"${time.toISOString()}","log":"error","level":"${level}","pid":${process.pid},` +
        `"message":${JSON.stringify(message)}}`;
    }
    return `${errorLogTime(time)} [${process.pid}] [${level.toUpperCase()}] ${message}`;
  }

  /** Writes a formatted line of `level` to the error log (a file: before it returns). */
  writeError(_level: LogLevel, line: string): void {
    this.#errorSink.write(`${line}\n`);
  }

  /** Called once per finished request: counts it (statsd) and writes its access line. */
  access(entry: AccessEntry): void {
    if (this.#metrics) {
      // In gunicorn's order.
      this.#metrics.timing("gunicorn.request.duration", durationMs(entry.durationMs));
      this.#metrics.increment("gunicorn.requests");
      this.#metrics.increment(`gunicorn.request.status.${entry.response.status}`);
    }
    if (!this.#accessSink && !this.#syslogAccess && !this.#otel) return;
    if (this.#otel) this.#otelIds.push(spanIdsOf(entry.request));
    if (this.formatAccess === baseFormatAccess && this.writeAccess === baseWriteAccess) {
      // Neither step overridden: the line's bytes, without a string of it, wait for the batch
      // (bytes, not values: a worker's master can read them, shareAccessLines()).
      this.#writer.take(entry, this.#slots, 0);
      this.#writer.put(this.#slots, 0, this.#lines);
      this.#lines.newline();
      this.#lineAdded();
    } else {
      this.writeAccess(this.formatAccess(entry));
    }
  }

  /** One access-log line, without the newline, in the configured gunicorn format. */
  formatAccess(entry: AccessEntry): string {
    // Compiled on first use: only a logger class that overrides writeAccess needs it.
    this.#renderAccess ??= compileAccessFormat(this.#format, { json: this.#json });
    return this.#renderAccess(entry);
  }

  /** Hands a formatted line to the access-log sink. */
  writeAccess(line: string): void {
    this.#lines.text(line);
    this.#lines.newline();
    this.#lineAdded();
  }

  #lineAdded(): void {
    const lines = this.#lines;
    // A line that did not fit the shared memory is in a copy the master cannot read: out now,
    // and the master keeps the length of the lines before it, which are still in the memory.
    if (!lines.outgrown) this.#shared?.publish(lines.length);
    if (
      lines.lines >= ACCESS_BATCH_LINES || lines.length >= ACCESS_BATCH_BYTES || lines.outgrown
    ) {
      this.#flush();
    } else if (lines.lines === 1) {
      this.#timer = setTimeout(this.#flush, ACCESS_FLUSH_MS);
    }
  }

  /**
   * Keeps the access lines waiting for their batch in `memory` (a worker: its scoreboard slot)
   * instead of this process's heap.
   */
  shareAccessLines(memory: SharedAccessLines): void {
    this.#flush();
    this.#lines = new LineBuffer(memory.bytes);
    this.#shared = memory;
    memory.publish(0);
  }

  /**
   * Writes access lines formatted elsewhere (`lines`, whole lines: those a killed worker left in
   * its scoreboard slot) to the access log, syslog and OpenTelemetry, as this logger's own
   * batches go; `pid` is the worker's, for syslog's `[PID]` prefix.
   */
  writeFormattedAccess(lines: Uint8Array, pid: number): void {
    this.#flush();
    if (!lines.length) return;
    this.#accessSink?.write(lines);
    this.#syslogAccess?.access(lines, this.#json ? NO_PREFIX : syslogPidPrefix(pid));
    if (this.#otel) this.#otelAccess(lines, []);
  }

  /** WebSocket sessions opened and closed in this process or thread (--metrics-bind). */
  readonly websocketSessions = { opened: 0, closed: 0 };

  /**
   * A WebSocket opened (`opened`: statsd counts `gunicorn.websocket.upgrades`) or closed;
   * `open` is how many this worker has now (a gthread thread: this thread). The gauge of open
   * sockets is the master's (websocketsOpen), from what this counts into the scoreboard.
   */
  websockets(_open: number, opened: boolean): void {
    this.websocketSessions[opened ? "opened" : "closed"]++;
    if (opened) this.#metrics?.increment("gunicorn.websocket.upgrades");
  }

  /**
   * How many WebSockets the workers have open, summed by the master from the scoreboard: the
   * statsd gauge `gunicorn.websocket.open`, sent as {@link workers} sends its gauge. One gauge
   * per worker would leave a collector with the last worker's count.
   */
  websocketsOpen(open: number): void {
    const now = performance.now();
    if (open === this.#websocketsOpen && now - this.#websocketsSentAt < GAUGE_RESEND_MS) return;
    this.#websocketsOpen = open;
    this.#websocketsSentAt = now;
    this.#metrics?.gauge("gunicorn.websocket.open", open);
  }

  /**
   * The master's worker count, told on every turn of its loop: the statsd gauge
   * `gunicorn.workers` on every change and at least every GAUGE_RESEND_MS (a gauge not sent
   * for a while is dropped by some collectors), and a DEBUG line on a change.
   */
  workers(count: number): void {
    const now = performance.now();
    const changed = count !== this.#workerCount;
    if (!changed && now - this.#workersSentAt < GAUGE_RESEND_MS) return;
    this.#workerCount = count;
    this.#workersSentAt = now;
    this.#metrics?.gauge("gunicorn.workers", count);
    if (changed) this.debug(`${count} workers`);
  }

  /**
   * The listen queues' length, summed: `gunicorn.backlog` (master), sent as gunicorn's
   * histogram() sends it, with `|ms`.
   */
  backlog(queued: number): void {
    this.#metrics?.timing("gunicorn.backlog", queued);
  }

  // Lines go out in batches, every ACCESS_FLUSH_MS, ACCESS_BATCH_LINES or ACCESS_BATCH_BYTES,
  // each batch in one write: a write per line would cost more than the line.
  readonly #flush = (): void => {
    clearTimeout(this.#timer);
    const lines = this.#lines;
    if (!lines.lines) return;
    const batch = lines.take();
    try {
      this.#accessSink?.write(batch);
      this.#syslogAccess?.access(batch, this.#json ? NO_PREFIX : this.#pidPrefix);
      if (this.#otel) {
        this.#otelAccess(batch, this.#otelIds);
        this.#otelIds = [];
      }
    } finally {
      // Written, or tried: a failed sink must not leave them for the master to write again
      // (a kill between the write and here would have them written twice, not lost).
      this.#shared?.publish(0);
    }
  };

  // Each line of the batch as a record, with the span ids its request had.
  #otelAccess(batch: Uint8Array, ids: (SpanIds | undefined)[]): void {
    let start = 0;
    for (let i = 0, end = batch.indexOf(10); end !== -1; i++, end = batch.indexOf(10, start)) {
      this.#otel!.record("access", "info", decoder.decode(batch.subarray(start, end)), ids[i]);
      start = end + 1;
    }
  }

  /**
   * Writes the access lines waiting for their batch now; returns whether there were any. A
   * gthread thread calls it before app code that might block its event loop, whose timer would
   * then never write them (a worker process's lines wait in shared memory instead:
   * shareAccessLines()).
   */
  flushAccess(): boolean {
    if (this.#lines.lines === 0) return false;
    this.#flush();
    return true;
  }

  /** Reopens the log files (SIGUSR1, after logrotate moved them); no line is lost. */
  reopen(): Promise<void> {
    this.#flush();
    // Both files are tried; the first failure is the answer.
    let failure: unknown;
    for (const sink of [this.#errorSink, this.#accessSink]) {
      try {
        sink?.reopen();
      } catch (error) {
        failure ??= error;
      }
    }
    return failure === undefined ? Promise.resolve() : Promise.reject(failure);
  }

  /** Writes what is pending and closes the files. */
  close(): Promise<void> {
    this.#closed = true;
    this.#flush();
    this.#errorSink.close();
    this.#accessSink?.close();
    this.#syslog?.close();
    return Promise.all([this.#metrics?.close(), this.#otel?.close()]).then(() => {});
  }

  /**
   * The process exits now, on the app's process.exit(): the statsd batch is sent without waiting
   * for it (an `exit` listener cannot), the best that can be done. Access lines are not written
   * here: those waiting in shared memory are the master's to write.
   */
  exiting(): void {
    if (!this.#closed) void this.#metrics?.flush();
  }

  /** Sends the statsd batch waiting now; resolves once it is sent. */
  flushMetrics(): Promise<void> {
    return this.#metrics?.flush() ?? Promise.resolve();
  }
}

const baseFormatAccess = Logger.prototype.formatAccess;
const baseWriteAccess = Logger.prototype.writeAccess;
