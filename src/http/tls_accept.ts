// TLS on appserve's own HTTP layer: each accepted node:net socket is wrapped in a server-side
// tls.TLSSocket (the one way that works on an inherited listening fd in both Deno and Bun; a
// tls.Server fed through emit("connection") never completes a handshake in either).

import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { TlsFiles } from "../tls/tls_files.ts";

/** What every TLS connection of one server shares. */
export interface TlsAcceptor {
  wrap(raw: Socket): Socket;
}

/** A TLS record starts with its content type; a client's first one is a handshake (22). */
const HANDSHAKE = 0x16;

/**
 * Waits for a new connection's first bytes, then calls `tls` if they start a TLS handshake, or
 * `plain` if not (a plain HTTP request sent to an HTTPS port: nginx answers it 400, and both
 * runtimes' TLS layers close it without a word). The bytes are put back for the TLS layer.
 */
export function firstBytes(raw: Socket, tls: () => void, plain: () => void): void {
  raw.once("data", (chunk: Uint8Array) => {
    raw.pause();
    raw.unshift(chunk);
    if (chunk[0] === HANDSHAKE) tls();
    else plain();
  });
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
