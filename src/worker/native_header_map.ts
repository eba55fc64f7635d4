// header_map for the native servers of --reuse-port mode, which pass every field on: the policy of
// appserve's own parser (src/http/parser.ts) applied to the Request the native server built.

import type { FetchHandler, HeaderMap } from "../http/types.ts";

function refused(): Response {
  return new Response("Bad Request: underscore in header name (header_map is refuse)\n", {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}

/**
 * Wraps `handler` so header fields whose name holds `_` are dropped from the request ("drop") or
 * answered with 400 ("refuse", logged through `warn`); "dangerous" returns `handler` itself.
 */
export function mapHeaders(
  handler: FetchHandler,
  mode: HeaderMap,
  warn: (message: string) => void,
): FetchHandler {
  if (mode === "dangerous") return handler;
  return (request, info) => {
    // The native servers give no raw field list; their Headers is the only view of the names.
    let found: string[] | null = null;
    for (const name of request.headers.keys()) {
      if (name.indexOf("_") !== -1) (found ??= []).push(name);
    }
    if (found === null) return handler(request, info);
    if (mode === "refuse") {
      const ip = info.remoteAddr.hostname || "unix";
      warn(`Invalid request from ip=${ip}: underscore in header name (header_map is refuse) (400)`);
      return refused();
    }
    const headers = new Headers(request.headers);
    for (const name of found) headers.delete(name);
    return handler(new Request(request, { headers }), info);
  };
}
