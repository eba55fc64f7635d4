// Proxy trust for the native servers of --reuse-port mode: the same rules as appserve's own
// layer (src/http/forwarded.ts), applied to the Request the native server built.

import { PeerInfo } from "../http/fetch_glue.ts";
import { isTrusted, readForwarding } from "../http/forwarded.ts";
import type { ForwardedTrust } from "../http/forwarded.ts";
import { ParseError } from "../http/parser.ts";
import type { FetchHandler } from "../http/types.ts";

// Deno.serve takes request.url's scheme from an absolute-form target (`GET https://x/ HTTP/1.1`
// over plain HTTP): the scheme is the connection's, or a trusted proxy's, never the client's claim.
function withScheme(request: Request, scheme: string): Request {
  const url = request.url;
  if (url.startsWith(scheme) && url.charCodeAt(scheme.length) === 58 /* : */) return request;
  const fixed = new URL(url);
  fixed.protocol = scheme;
  return new Request(fixed, request);
}

/**
 * Wraps `handler` so a trusted peer's forwarding headers set the scheme and the client; `scheme`
 * is the connection's (https with TLS), which request.url keeps otherwise.
 */
export function trustForwarded(
  handler: FetchHandler,
  trust: ForwardedTrust,
  warn: (message: string) => void,
  scheme: "http" | "https" = "http",
): FetchHandler {
  return (request, info) => {
    if (!isTrusted(trust, info.remoteAddr)) return handler(withScheme(request, scheme), info);
    let forwarding;
    try {
      forwarding = readForwarding(trust, [...request.headers]);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      warn(`Invalid request from ip=${info.remoteAddr.hostname}: ${error.message} (400)`);
      return new Response(`Bad Request: ${error.message}\n`, {
        status: 400,
        headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
      });
    }
    request = withScheme(request, forwarding.scheme ?? scheme);
    return handler(request, forwarding.remote === null ? info : new PeerInfo(forwarding.remote));
  };
}
