// Proxy trust and header_map for the native servers of --reuse-port mode: the same rules as
// appserve's own layer (src/http/forwarded.ts, src/http/parser.ts), applied to the Request the
// native server built.

import { PeerInfo } from "../http/fetch_glue.ts";
import { readForwarding, TRUST_NONE, trustOf } from "../http/forwarded.ts";
import type { ForwardedTrust } from "../http/forwarded.ts";
import { ParseError } from "../http/parser.ts";
import { statusReply } from "../http/status_reply.ts";
import type { FetchHandler, HeaderMap, RemoteAddr, ServeInfo } from "../http/types.ts";
import { applyHeaderMap, hasUnderscoreName } from "./native_header_map.ts";
import { infoWith } from "./native_info.ts";

/** What the wrapper needs besides the proxy trust. */
export interface NativeRequestOptions {
  /**
   * The connection's scheme (https with TLS), which request.url keeps unless a trusted proxy
   * says otherwise. @default "http"
   */
  scheme?: "http" | "https";
  /** header_map. @default "dangerous" (fields pass unchanged) */
  headerMap?: HeaderMap;
}

// A Headers' pairs through forEach, the cheapest pass in both runtimes (see native_header_map.ts).
function fieldsOf(headers: Headers): [string, string][] {
  const fields: [string, string][] = [];
  headers.forEach((value, name) => {
    fields.push([name, value]);
  });
  return fields;
}

// Deno.serve takes request.url's scheme from an absolute-form target (`GET https://x/ HTTP/1.1`
// over plain HTTP): the scheme is the connection's, or a trusted proxy's, never the client's claim.
// Bun gives a request without a usable Host (HTTP/1.0 without one, an empty one) its bare path as
// request.url: it gets the host appserve's own layer gives it. A URL that does not parse is the
// 400 that layer answers.
function withScheme(request: Request, scheme: string): Request | Response {
  const url = request.url;
  if (url.startsWith(scheme) && url.charCodeAt(scheme.length) === 58 /* : */) return request;
  let fixed: URL;
  try {
    fixed = url.charCodeAt(0) === 47 /* / */ ? new URL(url, `${scheme}://localhost`) : new URL(url);
  } catch {
    return statusReply(400, "invalid Host header");
  }
  fixed.protocol = scheme;
  return new Request(fixed, request);
}

/**
 * Wraps `handler` so header_map applies, and a trusted peer's forwarding headers set the scheme
 * and the client; otherwise request.url keeps the connection's scheme.
 */
export function trustForwarded(
  handler: FetchHandler,
  trust: ForwardedTrust,
  warn: (message: string) => void,
  options: NativeRequestOptions = {},
): FetchHandler {
  const scheme = options.scheme ?? "http";
  const headerMap = options.headerMap ?? "dangerous";
  return (request, info) => {
    const level = trustOf(trust, info.remoteAddr);
    const trusted = level !== TRUST_NONE;
    // One pass over the fields: all of them when the forwarding headers are to be read, else
    // just whether header_map has anything to do.
    let fields = trusted ? fieldsOf(request.headers) : null;
    if (headerMap !== "dangerous" && (fields !== null || hasUnderscoreName(request.headers))) {
      fields ??= fieldsOf(request.headers);
      const ip = info.remoteAddr.hostname || "unix";
      const mapped = applyHeaderMap(request, fields, headerMap, ip, warn);
      if (mapped instanceof Response) return mapped;
      request = mapped;
    }
    if (!trusted) {
      const schemed = withScheme(request, scheme);
      return schemed instanceof Response ? schemed : handler(schemed, info);
    }
    let forwarding;
    try {
      forwarding = readForwarding(trust, fields!, level);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      warn(`Invalid request from ip=${info.remoteAddr.hostname}: ${error.message} (400)`);
      return statusReply(400, error.message);
    }
    const schemed = withScheme(request, forwarding.scheme ?? scheme);
    if (schemed instanceof Response) return schemed;
    if (forwarding.remote === null) return handler(schemed, info);
    return handler(schemed, forwardedInfo(info, forwarding.remote));
  };
}

/**
 * The native server's `info` with the client a trusted proxy reported: only remoteAddr and
 * requestIP() change; all else (Bun's upgrade, publish, timeout, the listener, Deno's completed)
 * stays the native server's own.
 */
function forwardedInfo(info: ServeInfo, remote: RemoteAddr): ServeInfo {
  const peer = new PeerInfo(remote);
  return infoWith(info, { remoteAddr: remote, requestIP: () => peer.requestIP() });
}
