// The one import of the `ws` library: under Deno it is npm `ws` (pinned in package.json, inlined
// into the Deno worker bundle); under Bun and in the binary Bun swaps in its own built-in `ws`,
// the same API with native framing. Typed here with just what appserve uses (ws ships no types).
// It loads on the first upgrade request a process or thread sees, not at start: `ws` and the
// `node:` modules it requires are several MB of every idle worker's memory (docs/architecture.md).

import type { Buffer } from "node:buffer";
import type { Socket } from "node:net";

/** What `handleUpgrade` reads of the request (docs/architecture.md, "WebSockets"). */
export interface UpgradeRequestLike {
  method: string;
  url: string;
  /** Lower-case names, values joined as node:http does. */
  headers: Record<string, string>;
  socket: Socket;
}

/** A `ws` WebSocket, as far as appserve uses it. */
export interface WsSocket {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: unknown, options?: { binary?: boolean; compress?: boolean }, cb?: () => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: unknown): void;
  pong(data?: unknown): void;
  on(event: "message", fn: (data: Buffer, isBinary: boolean) => void): this;
  on(event: "close", fn: (code: number, reason: Buffer) => void): this;
  on(event: "error", fn: (error: Error) => void): this;
  on(event: "ping" | "pong", fn: (data: Buffer) => void): this;
}

/** The server side of the handshake, one per process or thread. */
export interface WsServer {
  handleUpgrade(
    request: UpgradeRequestLike,
    socket: Socket,
    head: Buffer,
    done: (ws: WsSocket) => void,
  ): void;
  on(event: "headers", fn: (lines: string[], request: UpgradeRequestLike) => void): void;
}

export interface WsServerOptions {
  /** Largest message accepted; past it the connection is closed with 1009. */
  maxPayload: number;
  /** Picks the subprotocol the app named (or none); ws's own default picks the client's first. */
  chooseProtocol(offered: Set<string>, request: UpgradeRequestLike): string | false;
}

type WsServerClass = new (options: Record<string, unknown>) => WsServer;
let serverClass: WsServerClass | null = null;
let loading: Promise<void> | null = null;

/** Loads `ws` (once); createWsServer can run when this resolves. */
export function loadWsLibrary(): Promise<void> {
  return loading ??= import("ws").then((m) => {
    serverClass = m.WebSocketServer as unknown as WsServerClass;
  }, (error) => {
    loading = null; // the next upgrade tries again
    throw error;
  });
}

/** Whether `ws` is loaded (createWsServer can run now). */
export function wsLibraryLoaded(): boolean {
  return serverClass !== null;
}

/**
 * A `ws` server that performs handshakes on sockets our HTTP layer already read a head from.
 * Only once loadWsLibrary() has resolved.
 */
export function createWsServer(options: WsServerOptions): WsServer {
  return new serverClass!({
    noServer: true,
    clientTracking: false,
    maxPayload: options.maxPayload,
    perMessageDeflate: false,
    handleProtocols: options.chooseProtocol,
  });
}

/**
 * ws calls end() again on a socket (and on its own Receiver) that already ended; Deno then builds,
 * with its stack, an ERR_STREAM_ALREADY_FINISHED error nobody sees, which costs more than the rest
 * of a connection's setup (measured in docs/architecture.md). A repeated end() does nothing here.
 */
export function guardRepeatedEnd(target: { end(...a: unknown[]): unknown } | undefined): void {
  // Bun's built-in ws has no Receiver stream (and no such cost).
  if (target === undefined || target === null || typeof target.end !== "function") return;
  const end = target.end;
  target.end = function (this: { writableEnded?: boolean }, ...a: unknown[]) {
    return this.writableEnded ? this : end.apply(this, a);
  };
}

/**
 * ws parses all the frames of a chunk it reads at once, and an app answers each message as it
 * comes: with the socket corked around ws's own `data` listener (there since the handshake), the
 * answers to one chunk leave in one write instead of one write each (docs/architecture.md).
 */
export function writeAnswersPerChunk(socket: Socket): void {
  socket.prependListener("data", corkChunk);
  socket.on("data", uncorkChunk);
}

/** Sends what waits in the cork now: before the socket is destroyed, which would drop it. */
export function flushAnswers(socket: Socket): void {
  while (socket.writableCorked > 0) socket.uncork();
}

function corkChunk(this: Socket): void {
  this.cork();
}

function uncorkChunk(this: Socket): void {
  this.uncork();
}
