// Under --reuse-port the native servers accept every connection themselves, so worker_connections
// can only bound what runs: an open WebSocket keeps the concurrency place of its upgrade request
// until it closes, as its connection counts until it closes on the shared socket. Further
// requests and upgrades wait their turn (limitConcurrency), and the sync worker is held.

import { type NativeSession, ownListener, type WebSocketHub } from "../http/websocket/hub.ts";
import type { Lasting } from "./concurrency.ts";

/** How long after its 101 is returned a Deno socket that has not opened is taken as never to. */
const NEVER_OPENED_MS = 500;

/** A session that opened while its upgrade request had its place; `end` once it closed. */
interface Open {
  end: (() => void) | null;
  ended: boolean;
}

export class NativeSessionSlots {
  readonly #hub: WebSocketHub;
  /** Bun's sessions, by their upgrade request: Bun calls `open` inside server.upgrade(). */
  readonly #open = new WeakMap<Request, Open>();

  constructor(hub: WebSocketHub) {
    this.#hub = hub;
  }

  /** A Bun socket upgraded from `request` opened; returns what to call when it closes. */
  opened(request: Request): () => void {
    const open: Open = { end: null, ended: false };
    this.#open.set(request, open);
    return () => {
      open.ended = true;
      open.end?.();
    };
  }

  /** ConcurrencyLimit's `lasting`: until the socket the answer opened closes. */
  readonly lasting: Lasting = (request, result) => {
    const bun = this.#open.get(request);
    if (bun !== undefined) {
      this.#open.delete(request);
      if (bun.ended) return undefined;
      return new Promise<void>((resolve) => bun.end = resolve);
    }
    // Deno's: the 101 of Deno.upgradeWebSocket, whose socket the hub knows.
    if (!(result instanceof Response) || result.status !== 101) return undefined;
    const native = this.#hub.nativeSocket(result);
    if (native === undefined || native.left) return undefined;
    if (native.socket.readyState === WebSocket.CLOSED) return undefined;
    return new Promise<void>((resolve) => whenSessionOver(native, resolve));
  };
}

/**
 * Calls `over` once, when the session of a Deno upgrade is over: its socket closed, or it never
 * will. A client that left before the app upgraded: its socket never opens, nor closes (Deno
 * 2.9.6), so at once; one that leaves between the answer and the 101 going out: when still not
 * open a moment later. Both the session's place and its accounting (gauge, access line) end here.
 */
export function whenSessionOver(native: NativeSession, over: () => void): void {
  const socket = native.socket;
  if (native.left || socket.readyState === WebSocket.CLOSED) {
    over();
    return;
  }
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    over();
  };
  const timer = setTimeout(() => {
    if (socket.readyState === WebSocket.CONNECTING) once();
  }, NEVER_OPENED_MS);
  ownListener(socket, "close", once);
}
