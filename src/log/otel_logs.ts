// --log-otel: the error and access logs as OpenTelemetry log records, sent as
// OTLP/HTTP JSON to the collector the OTEL_* variables name, each access record
// carrying the trace and span ids of its request's span. appserve's own sender:
// Deno registers no logs provider for @opentelemetry/api (only console.* is
// exported), and under Bun no SDK is assumed. Records wait in a bounded queue
// and go out once a second; a collector that is down or slow costs dropped
// records (counted, one warning per outage), never a wait.

import process from "node:process";
import { VERSION } from "../version.ts";

/** The error log's levels as OTel severity numbers (debug 5, info 9, warn 13, error 17, fatal 21). */
const SEVERITY = { debug: 5, info: 9, warning: 13, error: 17, critical: 21 } as const;
type Level = keyof typeof SEVERITY;

/** Records that may wait for the collector; beyond it new ones are dropped. */
const MAX_QUEUED = 4096;
const EXPORT_MS = 1000;
const TIMEOUT_MS = 10_000;

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
  #sending = false;
  #down = false;
  #dropped = 0;
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
    this.#timer = setInterval(() => this.#send(), EXPORT_MS);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Records dropped since start: the collector was down, slow or the queue full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one record: `kind` is "error" or "access"; `ids` tie it to a request's span. */
  record(kind: "error" | "access", level: Level, body: string, ids?: SpanIds): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#dropped++;
      return;
    }
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
  }

  /** Sends what is queued, then stops. */
  close(): Promise<void> {
    clearInterval(this.#timer);
    return this.#send();
  }

  // One request at a time: while one is out, records queue (up to MAX_QUEUED).
  #send(): Promise<void> {
    if (this.#sending || this.#queue.length === 0) return Promise.resolve();
    const records = this.#queue;
    this.#queue = [];
    this.#sending = true;
    const body = `{"resourceLogs":[{"resource":${this.#resource},"scopeLogs":[{"scope":` +
      `{"name":"appserve","version":"${VERSION}"},"logRecords":${JSON.stringify(records)}}]}]}`;
    return this.#request().then((send) =>
      new Promise<void>((resolve) => {
        const done = (error?: Error) => {
          this.#sending = false;
          if (error) this.#failed(error, records.length);
          else this.#succeeded();
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
