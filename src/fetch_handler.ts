// The contract between appserve and an app: the handler it calls and the
// second argument it passes. The lowest layer, since both the runtime's native
// server (src/runtime/) and appserve's own HTTP layer (src/http/) call apps.

/** The peer of a connection, in the shape `Deno.serve` hands to handlers. */
export interface RemoteAddr {
  transport: "tcp" | "unix";
  hostname: string;
  port: number;
}

/**
 * Second argument of every app call. It carries both the `deno serve` shape
 * (`info.remoteAddr`) and the Bun shape (`server.requestIP(req)`) so apps and
 * framework adapters written for either runtime find the peer where they look.
 * Both name the client: the socket's peer, or the address a trusted proxy gave
 * (forwarded_allow_ips headers, or a PROXY protocol header from proxy_allow_ips).
 *
 * @example
 * ```ts
 * export default {
 *   fetch: (req: Request, info: ServeInfo) =>
 *     new Response(`client ${info.requestIP()?.address ?? "on a unix socket"}`),
 * };
 * ```
 */
export interface ServeInfo {
  remoteAddr: RemoteAddr;
  requestIP(request?: Request): { address: string; family: string; port: number } | null;
}

/** A Web-standard fetch handler. */
export type FetchHandler = (request: Request, info: ServeInfo) => Response | Promise<Response>;
