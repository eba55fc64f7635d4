// A local OTLP/HTTP receiver for the tests: takes the JSON export requests
// (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and keeps the spans they carry.

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

export interface OtlpReceiver {
  readonly endpoint: string;
  readonly spans: Span[];
  close(): Promise<void>;
}

/** Starts the receiver on a free port of 127.0.0.1. */
export function otlpReceiver(): OtlpReceiver {
  const spans: Span[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
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
    return Response.json({});
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans,
    close: () => server.shutdown(),
  };
}
