// OpenTelemetry HTTP server spans for the requests appserve's own HTTP layer
// serves: on the shared socket no request passes through Deno.serve, whose
// instrumentation OTEL_DENO=true users would otherwise lose. The span follows
// OTel's HTTP server conventions, continues an incoming W3C traceparent, and is
// active while the app runs, so the app's spans and fetch calls nest under it.
// With no OpenTelemetry implementation registered the app is returned as it is:
// off costs nothing per request.

import type { FetchHandler } from "../fetch_handler.ts";
import { httpVersionOf } from "../http/fetch_glue.ts";
import { VERSION } from "../version.ts";

/** Where @opentelemetry/api 1.x finds the registered implementation (Deno's, or an SDK's). */
const API_KEY = Symbol.for("opentelemetry.js.api.1");

/**
 * Whether an OpenTelemetry implementation is registered in this process: Deno's own under
 * `OTEL_DENO=true`, or an SDK the app module or a hook registered before the app was loaded.
 */
export function otelRegistered(): boolean {
  const api = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_KEY];
  return api?.trace !== undefined;
}

// The request's span ids for its access record (--log-otel): a Request is the one key both the
// wrapper and the access log hold, and a WeakMap keeps nothing alive.
const SPAN_IDS = new WeakMap<Request, { traceId: string; spanId: string }>();

/** The trace and span ids of the server span `request` ran in, if it had one. */
export function spanIdsOf(request: Request): { traceId: string; spanId: string } | undefined {
  return SPAN_IDS.get(request);
}

const headerGetter = {
  keys: (headers: Headers) => [...headers.keys()],
  get: (headers: Headers, key: string) => headers.get(key) ?? undefined,
};

function size(value: string | null): number | undefined {
  const n = Number(value ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * `handler` with an HTTP server span around each request when OpenTelemetry is registered
 * (see otelRegistered()), else `handler` itself. A request that already runs inside a span
 * (`Deno.serve`'s own, in reuse-port mode) gets none of its own.
 *
 * @example
 * ```ts
 * const app = await withRequestSpans(await loadApp(spec, cwd, { runtime }));
 * ```
 */
export async function withRequestSpans(handler: FetchHandler): Promise<FetchHandler> {
  if (!otelRegistered()) return handler;
  const { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } = await import(
    "npm:@opentelemetry/api@1.10.0"
  );
  const tracer = trace.getTracer("appserve", VERSION);
  return async (request, info) => {
    const outer = trace.getSpan(context.active());
    if (outer !== undefined) {
      SPAN_IDS.set(request, outer.spanContext());
      return handler(request, info);
    }
    // A malformed traceparent is ignored by the propagator: the request starts a new trace.
    const parent = propagation.extract(ROOT_CONTEXT, request.headers, headerGetter);
    const url = new URL(request.url);
    const attributes: Record<string, string | number> = {
      "http.request.method": request.method,
      "url.scheme": url.protocol.slice(0, -1),
      "url.path": url.pathname,
      "server.address": url.hostname,
      "client.address": info.remoteAddr.hostname,
      "network.protocol.version": httpVersionOf(request),
    };
    if (url.search) attributes["url.query"] = url.search.slice(1);
    if (url.port) attributes["server.port"] = Number(url.port);
    if (info.remoteAddr.transport === "tcp") attributes["client.port"] = info.remoteAddr.port;
    const agent = request.headers.get("user-agent");
    if (agent !== null) attributes["user_agent.original"] = agent;
    const requestSize = size(request.headers.get("content-length"));
    if (requestSize !== undefined) attributes["http.request.body.size"] = requestSize;
    // Route-less: the span is named by the method alone, as OTel's conventions ask.
    const span = tracer.startSpan(request.method, { kind: SpanKind.SERVER, attributes }, parent);
    SPAN_IDS.set(request, span.spanContext());
    try {
      const response = await context.with(
        trace.setSpan(parent, span),
        handler,
        undefined,
        request,
        info,
      );
      span.setAttribute("http.response.status_code", response.status);
      const responseSize = size(response.headers.get("content-length"));
      if (responseSize !== undefined) span.setAttribute("http.response.body.size", responseSize);
      if (response.status >= 500) {
        span.setAttribute("error.type", String(response.status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      return response;
    } catch (error) {
      // The HTTP layer answers 500 for it; the span says why.
      span.recordException(error as Error);
      span.setAttribute("error.type", (error as Error)?.name ?? "Error");
      span.setStatus({ code: SpanStatusCode.ERROR, message: String((error as Error)?.message) });
      throw error;
    } finally {
      span.end();
    }
  };
}
