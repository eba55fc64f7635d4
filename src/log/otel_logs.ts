// --log-otel: the error and access logs as OpenTelemetry log records, sent as
// OTLP/HTTP JSON to the collector the OTEL_* variables name, each access record
// carrying the trace and span ids of its request's span. appserve's own sender:
// Deno registers no logs provider for @opentelemetry/api (only console.* is
// exported), and under Bun no SDK is assumed. As the OpenTelemetry SDK's
// BatchLogRecordProcessor: records wait in a bounded queue and go out once a
// second, or as soon as a full batch is queued, with at most two exports in
// flight. A collector that is down or slow costs dropped records (counted, a
// warning when dropping starts and the count when it stops), never a wait.

import process from "node:process";
import { VERSION } from "../version.ts";

/** The error log's levels as OTel severity numbers (debug 5, info 9, warn 13, error 17, fatal 21). */
const SEVERITY = { debug: 5, info: 9, warning: 13, error: 17, critical: 21 } as const;
type Level = keyof typeof SEVERITY;

/** Records that may wait for the collector; beyond it new ones are dropped. */
const MAX_QUEUED = 4096;
/** Records in one export; a full one goes out at once, not on the timer. */
const MAX_BATCH = 512;
/** Exports out at the same time: a slow collector holds this many batches, no more. */
const MAX_IN_FLIGHT = 2;
const EXPORT_MS = 1000;
const TIMEOUT_MS = 10_000;
/**
 * How long a closing process waits for its last exports: a worker closes after its requests are
 * done or cut, with 1 s left before the master's SIGKILL (2 s at a quick stop, after its hooks), so
 * a collector that never answers must not hold it there until it is killed.
 */
const CLOSE_MS = 500;
/** Dropping for a full queue is said to have stopped once none was dropped this long. */
const CAUGHT_UP_MS = 1000;

/** The ids of the span a record belongs to (lower-case hex). */
export interface SpanIds {
  traceId: string;
  spanId: string;
}

export interface OtelLogsOptions {
  /** The process's environment: OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT, _HEADERS, OTEL_SERVICE_NAME. */
  env: Record<string, string | undefined>;
  /** Hears about a collector that is down (a warning) or back (info), one line each. */
  onProblem: (message: string, level: "warning" | "info") => void;
}

interface LogRecord {
  timeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: { stringValue: string };
  attributes: { key: string; value: { stringValue: string } }[];
  traceId?: string;
  spanId?: string;
}

/** `/v1/logs` at OTEL_EXPORTER_OTLP_LOGS_ENDPOINT as is, or under OTEL_EXPORTER_OTLP_ENDPOINT. */
export function logsEndpoint(env: Record<string, string | undefined>): URL {
  const own = env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || "http://localhost:4318";
  const text = own || `${base.replace(/\/+$/, "")}/v1/logs`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`expected an http:// or https:// URL, got "${text}"`);
  }
  return url;
}

/** `k1=v1,k2=v2` (values percent-encoded), as the OTLP exporter spec reads headers. */
function headers(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const eq = pair.indexOf("=");
    if (eq > 0) out[pair.slice(0, eq).trim()] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return out;
}

/** One process's OTel log records, batched to the collector. */
export class OtelLogs {
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #resource: string;
  readonly #onProblem: OtelLogsOptions["onProblem"];
  #queue: LogRecord[] = [];
  #inFlight = 0;
  /** Resolved each time an export ends (close() waits on it). */
  #settled: (() => void)[] = [];
  #soon = false;
  #down = false;
  #dropped = 0;
  /** Dropping for a full queue (the collector is slow): since when, and the count then. */
  #full = false;
  #droppedBefore = 0;
  #lastDropAt = 0;
  #timer: ReturnType<typeof setInterval>;

  /** Throws an Error when the OTEL_* variables name no usable endpoint. */
  constructor(options: OtelLogsOptions) {
    this.#url = logsEndpoint(options.env);
    this.#headers = {
      ...headers(options.env.OTEL_EXPORTER_OTLP_HEADERS),
      ...headers(options.env.OTEL_EXPORTER_OTLP_LOGS_HEADERS),
      "content-type": "application/json",
    };
    this.#onProblem = options.onProblem;
    const service = options.env.OTEL_SERVICE_NAME || "appserve";
    this.#resource = JSON.stringify({
      attributes: [
        { key: "service.name", value: { stringValue: service } },
        { key: "process.pid", value: { intValue: process.pid } },
      ],
    });
    this.#timer = setInterval(() => {
      this.#keptUp();
      this.#pump(true);
    }, EXPORT_MS);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Records dropped since start: the collector was down, slow or the queue full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one record: `kind` is "error" or "access"; `ids` tie it to a request's span. */
  record(kind: "error" | "access", level: Level, body: string, ids?: SpanIds): void {
    if (this.#queue.length >= MAX_QUEUED) return this.#drop();
    if (this.#full) this.#keptUp();
    const record: LogRecord = {
      timeUnixNano: `${Date.now()}000000`,
      severityNumber: SEVERITY[level],
      severityText: level === "warning"
        ? "WARN"
        : level === "critical"
        ? "FATAL"
        : level.toUpperCase(),
      body: { stringValue: body },
      attributes: [{ key: "log.type", value: { stringValue: kind } }],
    };
    if (ids) {
      record.traceId = ids.traceId;
      record.spanId = ids.spanId;
    }
    this.#queue.push(record);
    // A full batch goes out once the current task is done: the caller never waits for it.
    if (this.#queue.length >= MAX_BATCH && !this.#soon && this.#inFlight < MAX_IN_FLIGHT) {
      this.#soon = true;
      setTimeout(() => {
        this.#soon = false;
        this.#pump(false);
      }, 0);
    }
  }

  /**
   * Sends what is queued, then stops; gives up after CLOSE_MS, and after one failed round when
   * the collector is down: what is left then is dropped (counted).
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const deadline = performance.now() + CLOSE_MS;
    let tried = false;
    while (this.#queue.length > 0 || this.#inFlight > 0) {
      const left = deadline - performance.now();
      if (left <= 0 || (this.#down && tried && this.#inFlight === 0)) {
        this.#dropped += this.#queue.length;
        this.#queue = [];
        return;
      }
      this.#pump(true);
      tried = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#settled.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  // Full batches go out while fewer than MAX_IN_FLIGHT exports are out; `all` (the timer, close)
  // sends a last, partial one too.
  #pump(all: boolean): void {
    while (this.#inFlight < MAX_IN_FLIGHT) {
      if (this.#queue.length === 0 || (!all && this.#queue.length < MAX_BATCH)) return;
      void this.#send(this.#queue.splice(0, MAX_BATCH));
    }
  }

  // A record the full queue has no room for: said once when dropping starts, not per record.
  #drop(): void {
    this.#dropped++;
    this.#lastDropAt = performance.now();
    // A collector that is down was said already; its drops are counted in its "again" line.
    if (this.#full || this.#down) return;
    this.#full = true;
    this.#droppedBefore = this.#dropped - 1;
    this.#onProblem(
      `OpenTelemetry logs: ${this.#url.href} is not keeping up (${MAX_QUEUED} records queued); ` +
        "records are dropped while it is behind",
      "warning",
    );
  }

  // Dropping for a full queue stopped: said once there is room and none was dropped for
  // CAUGHT_UP_MS, so a collector that keeps falling behind costs a warning and an info line a
  // second at most.
  #keptUp(): void {
    if (!this.#full || this.#queue.length >= MAX_QUEUED) return;
    if (performance.now() - this.#lastDropAt < CAUGHT_UP_MS) return;
    this.#full = false;
    this.#onProblem(
      `OpenTelemetry logs: ${this.#url.href} is keeping up again; ${
        this.#dropped - this.#droppedBefore
      } records dropped while it was behind`,
      "info",
    );
  }

  #send(records: LogRecord[]): Promise<void> {
    this.#inFlight++;
    const body = `{"resourceLogs":[{"resource":${this.#resource},"scopeLogs":[{"scope":` +
      `{"name":"appserve","version":"${VERSION}"},"logRecords":${JSON.stringify(records)}}]}]}`;
    return this.#request().then((send) =>
      new Promise<void>((resolve) => {
        let ended = false;
        const done = (error?: Error) => {
          if (ended) return;
          ended = true;
          this.#inFlight--;
          if (error) this.#failed(error, records.length);
          else this.#succeeded();
          for (const settled of this.#settled.splice(0)) settled();
          // Full batches waiting go out now, not on the next tick.
          this.#pump(false);
          resolve();
        };
        const req = send(this.#url.href, { method: "POST", headers: this.#headers }, (res) => {
          res.resume();
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            done(status >= 200 && status < 300 ? undefined : new Error(`HTTP ${status}`));
          });
          res.on("error", done);
        });
        req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error("timed out")));
        req.on("error", done);
        req.end(body);
      })
    );
  }

  // node:http rather than fetch: Deno traces its own fetch calls, and an export must not become a
  // span of the trace it exports. Loaded with the first export, not in every worker: under Deno
  // node:http and node:https are about 1 MB of a process's memory (docs/architecture.md).
  #request(): Promise<typeof import("node:http").request> {
    return this.#url.protocol === "https:"
      ? import("node:https").then((m) => m.request)
      : import("node:http").then((m) => m.request);
  }

  #failed(error: Error, lost: number): void {
    this.#dropped += lost;
    if (this.#down) return;
    this.#down = true;
    this.#onProblem(
      `OpenTelemetry logs: cannot send to ${this.#url.href} (${error.message}); records are dropped until it answers`,
      "warning",
    );
  }

  #succeeded(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#onProblem(
      `OpenTelemetry logs: sending to ${this.#url.href} again; ${this.#dropped} records dropped so far`,
      "info",
    );
  }
}
