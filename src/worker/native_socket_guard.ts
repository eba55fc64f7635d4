// Deno.serve's own WebSocket (Deno workers under --reuse-port) held to appserve's settings from
// outside, since Deno.serve has none of them: --websocket-max-message (close 1009), the send cap
// (close 1008), the bytes each way for the access line, counted as message payloads, and a throw
// in the app's handlers closing that socket with 1011 instead of ending the worker.

import { Buffer } from "node:buffer";
import type { SendLimit } from "../http/websocket/app_socket.ts";
import type { SessionBytes } from "../http/websocket/hub.ts";
import {
  closeForAppError,
  guardSocketHandlers,
  type HandlerFailed,
} from "../http/websocket/handler_guard.ts";

export interface NativeGuardOptions {
  /** --websocket-max-message, bytes. */
  maxMessage: number;
  /** The send cap, and its warning. */
  limit: SendLimit;
  /** Whether to count the bytes of every message (there is an access log). */
  count: boolean;
  /** Told of a throw or rejection in the app's handlers, which then closes the socket (1011). */
  failed: HandlerFailed;
}

/** A message's payload size: UTF-8 bytes of text, the bytes of binary data. */
export function payloadBytes(data: unknown): number {
  if (typeof data === "string") return Buffer.byteLength(data, "utf8");
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  if (data instanceof Blob) return data.size;
  return 0;
}

const OPEN = 1;

/**
 * Call right after Deno's upgrade, before the app adds its listeners: a received message over
 * the limit closes the socket with 1009 and never reaches the app (Deno delivers whole messages,
 * so it has been read by then: Deno's own 64 MiB limit still bounds that); a `send()` while more
 * than the cap waits unsent closes it with 1008, as appserve's own sockets do. Returns the counts.
 */
export function guardNativeSocket(socket: WebSocket, options: NativeGuardOptions): SessionBytes {
  const { maxMessage, limit, count, failed } = options;
  const bytes: SessionBytes = { bytesIn: 0, bytesOut: 0 };
  // A WebSocket may still deliver messages while CLOSING (Deno 2.9.6 was not seen doing it);
  // after a 1009 none reaches the app, as `ws` on appserve's layer stops reading there.
  let tooBig = false;
  socket.addEventListener("message", (event) => {
    if (tooBig) return event.stopImmediatePropagation();
    const data = event.data;
    // At most 3 UTF-8 bytes per UTF-16 unit: short text needs no measuring for the limit.
    const n = count || typeof data !== "string" || data.length * 3 > maxMessage
      ? payloadBytes(data)
      : 0;
    bytes.bytesIn += n;
    if (n > maxMessage) {
      tooBig = true;
      event.stopImmediatePropagation();
      socket.close(1009, "message too big");
    }
  });
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    // Deno's own rules apply outside OPEN: a throw while connecting, nothing once closing.
    if (socket.readyState !== OPEN) return send(data);
    // What already waits counts, not this message (as Bun's backpressureLimit does).
    if (socket.bufferedAmount > limit.bytes) {
      limit.exceeded();
      socket.close(1008, "send buffer limit exceeded");
      return;
    }
    if (count) bytes.bytesOut += payloadBytes(data);
    send(data);
  };
  // After the listener above: the app's handlers are guarded, not appserve's.
  guardSocketHandlers(socket, (error, handler) => {
    failed(error, handler);
    closeForAppError(socket);
  });
  return bytes;
}
