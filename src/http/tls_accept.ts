// TLS on appserve's own HTTP layer: each accepted node:net socket is wrapped in a server-side
// tls.TLSSocket (the one way that works on an inherited listening fd in both Deno and Bun; a
// tls.Server fed through emit("connection") never completes a handshake in either).

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { TlsFiles } from "../tls/tls_files.ts";
import { type ProxyHeader, readProxyHeader } from "./proxy_protocol.ts";
import { ParseError, type ProxyMode } from "./types.ts";

/** What every TLS connection of one server shares. */
export interface TlsAcceptor {
  wrap(raw: Socket): Socket;
}

/** A TLS record starts with its content type; a client's first one is a handshake (22). */
const HANDSHAKE = 0x16;

/** How a connection to a TLS listener starts. */
export type Greeting =
  /** A TLS handshake, perhaps after a PROXY header (`proxy`) read off the raw socket. */
  | { kind: "tls"; proxy?: ProxyHeader & { kind: "header" } }
  /** Neither a handshake nor a PROXY header: plain HTTP sent to an HTTPS port. */
  | { kind: "plain" }
  /** A broken PROXY header (or one of a version proxy_protocol does not take). */
  | { kind: "bad"; error: ParseError };

/**
 * Waits for a new connection's first bytes and says what they start: a TLS handshake, or plain
 * HTTP sent to an HTTPS port (nginx answers it 400; both runtimes' TLS layers close it without a
 * word). With the PROXY protocol on (`proxy` not "off"), its header may come first, before the
 * handshake, as nginx's stream module, HAProxy and load balancers send it; it is read here and
 * the TLS layer gets the rest (a header inside TLS, as gunicorn reads it, is the Connection's).
 * The bytes not taken are put back for the TLS layer.
 */
export function firstBytes(
  raw: Socket,
  proxy: ProxyMode,
  done: (greeting: Greeting) => void,
): void {
  let buf: Uint8Array | null = null;
  const onData = (chunk: Uint8Array) => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    let greeting: Greeting;
    let rest = buf;
    if (buf[0] === HANDSHAKE) greeting = { kind: "tls" };
    else if (proxy === "off") greeting = { kind: "plain" };
    else {
      let header: ProxyHeader;
      try {
        header = readProxyHeader(buf, proxy);
      } catch (error) {
        if (!(error instanceof ParseError)) throw error;
        header = { kind: "none" };
        greeting = { kind: "bad", error };
      }
      if (header.kind === "more") return;
      if (header.kind === "header") {
        greeting = { kind: "tls", proxy: header };
        rest = buf.subarray(header.length);
      }
      greeting ??= { kind: "plain" };
    }
    raw.off("data", onData);
    raw.pause();
    if (rest.length > 0) raw.unshift(rest);
    done(greeting);
  };
  raw.on("data", onData);
}

/**
 * Builds the acceptor once per server: the secure context is parsed once, not per connection.
 * None without `files` (TLS off); node:tls loads only with TLS on (docs/architecture.md).
 */
export async function tlsAcceptor(files: TlsFiles | null): Promise<TlsAcceptor | undefined> {
  if (files === null) return undefined;
  const tls = await import("node:tls");
  const secureContext: SecureContext = tls.createSecureContext({
    cert: files.cert,
    key: files.key,
    ...(files.ca ? { ca: files.ca } : {}),
    ...(files.ciphers ? { ciphers: files.ciphers } : {}),
  });
  const requestCert = files.certReqs > 0;
  const rejectUnauthorized = files.certReqs === 2;
  return {
    wrap(raw: Socket): Socket {
      const socket = new tls.TLSSocket(raw, {
        isServer: true,
        secureContext,
        requestCert,
        rejectUnauthorized,
        // This layer speaks HTTP/1.1 only: agreed in the handshake, so a client that offers h2
        // too (ALPN) knows at once, and one offering only h2 is refused there.
        ALPNProtocols: ["http/1.1"],
      });
      if (requestCert && !rejectUnauthorized) {
        // cert_reqs 1 (optional): no certificate is fine, an unverifiable one is not.
        socket.once("secure", () => {
          const peer = socket.getPeerCertificate();
          if (peer && Object.keys(peer).length > 0 && !socket.authorized) socket.destroy();
        });
      }
      return socket;
    },
  };
}
