// A local OTLP/HTTP receiver for the tests: takes the JSON export requests
// (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and keeps the spans and log records
// they carry.

/** One exported span, its attributes flattened. */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number };
}

// deno-lint-ignore no-explicit-any
function flatten(attributes: any[] = []): Span["attributes"] {
  const out: Span["attributes"] = {};
  for (const { key, value } of attributes) {
    const v = value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
    out[key] = typeof v === "string" && value.intValue !== undefined ? Number(v) : v;
  }
  return out;
}

/** One exported log record, its attributes flattened. */
export interface LogRecord {
  body: string;
  severityNumber: number;
  severityText: string;
  traceId: string;
  spanId: string;
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  readonly endpoint: string;
  readonly spans: Span[];
  readonly logs: LogRecord[];
  close(): Promise<void>;
}

/** Starts the receiver on a free port of 127.0.0.1; `delayMs` makes it a slow collector. */
export function otlpReceiver({ delayMs = 0 }: { delayMs?: number } = {}): OtlpReceiver {
  const spans: Span[] = [];
  const logs: LogRecord[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (new URL(req.url).pathname === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) {
          for (const s of scope.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? "",
              name: s.name,
              kind: s.kind,
              attributes: flatten(s.attributes),
              status: s.status ?? {},
            });
          }
        }
      }
    }
    if (new URL(req.url).pathname === "/v1/logs") {
      for (const resource of body.resourceLogs ?? []) {
        for (const scope of resource.scopeLogs ?? []) {
          for (const r of scope.logRecords ?? []) {
            logs.push({
              body: r.body?.stringValue ?? "",
              severityNumber: r.severityNumber,
              severityText: r.severityText,
              traceId: r.traceId ?? "",
              spanId: r.spanId ?? "",
              attributes: flatten(r.attributes),
              resource: flatten(resource.resource?.attributes),
            });
          }
        }
      }
    }
    return Response.json({});
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans,
    logs,
    close: () => server.shutdown(),
  };
}
