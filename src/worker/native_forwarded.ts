// Proxy trust for the native servers of --reuse-port mode: the same rules as appserve's own
// layer (src/http/forwarded.ts), applied to the Request the native server built.

import { PeerInfo } from "../http/fetch_glue.ts";
import { isTrusted, readForwarding } from "../http/forwarded.ts";
import type { ForwardedTrust } from "../http/forwarded.ts";
import { ParseError } from "../http/parser.ts";
import type { FetchHandler } from "../http/types.ts";

/** Wraps `handler` so a trusted peer's forwarding headers set the scheme and the client. */
export function trustForwarded(
  handler: FetchHandler,
  trust: ForwardedTrust,
  warn: (message: string) => void,
): FetchHandler {
  return (request, info) => {
    if (!isTrusted(trust, info.remoteAddr)) return handler(request, info);
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
    if (forwarding.scheme !== null) {
      const url = new URL(request.url);
      if (url.protocol !== forwarding.scheme + ":") {
        url.protocol = forwarding.scheme;
        request = new Request(url, request);
      }
    }
    return handler(request, forwarding.remote === null ? info : new PeerInfo(forwarding.remote));
  };
}
