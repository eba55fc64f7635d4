// Bun's `ServerWebSocket` surface over a `ws` socket, for apps in Bun's shape (`server.upgrade()`
// plus the default export's `websocket` handlers), and the topics `publish` reaches: those of one
// worker process or gthread thread, as N `Bun.serve` processes with reusePort each have their own.

import { Buffer } from "node:buffer";
import type { WebSocketHandlers } from "../../fetch_handler.ts";
import { messageText } from "./message_text.ts";
import { closeForAppError, guardedCall, type HandlerFailed } from "./handler_guard.ts";
import type { WsSocket } from "./ws_library.ts";
import type { SendGate } from "./send_watch.ts";

const OPEN = 1;
// Unsent bytes past which send() reports backpressure (-1), as a node:net write() returns false
// past its high-water mark; `drain` follows once they are out.
const BACKPRESSURE = 64 * 1024;

/** The hubs of a server, each with topics of its own: one per worker, or per gthread thread. */
export interface TopicReach {
  /** Worker processes. */
  workers: number;
  /** gthread threads per worker, each importing the app and running a hub; 1 in other classes. */
  threads: number;
}

/** Whether `reach` has more than one hub, where a topic's subscribers may be elsewhere. */
export function severalHubs({ workers, threads }: TopicReach): boolean {
  return workers * threads > 1;
}

/**
 * The warning for the first topic subscribed in one of several hubs (`reach`): what is published
 * there misses the subscribers of the others, where nothing else says so.
 */
export function topicsWarning(topic: string, { workers, threads }: TopicReach): string {
  const where = threads === 1
    ? `this worker, one of ${workers}`
    : workers === 1
    ? `this thread, one of ${threads} threads of the worker`
    : `this thread, one of ${workers * threads} (${threads} threads in each of ${workers} workers)`;
  return `WebSocket topic ${JSON.stringify(topic)} subscribed: publish() reaches only the ` +
    `sockets subscribed in ${where}, so clients of the others miss what it publishes; relay ` +
    "through something shared (Redis, Postgres LISTEN) to reach them all " +
    `(said once per ${threads === 1 ? "worker" : "thread"})`;
}

/**
 * Subscribers per topic, of one hub, and the first topic a socket of the hub subscribes to, on
 * appserve's layer (add()) or on a native server, which keeps its subscribers itself.
 */
export class Topics {
  readonly #byTopic = new Map<string, Set<BunServerWebSocket>>();
  #first: ((topic: string) => void) | undefined;

  /** `first` is told of the first topic subscribed, once. */
  constructor(first?: (topic: string) => void) {
    this.#first = first;
  }

  /** Whether the first topic is still to be told (subscribed()). */
  get watching(): boolean {
    return this.#first !== undefined;
  }

  /** A socket of the hub subscribed to `topic`. */
  subscribed(topic: string): void {
    const first = this.#first;
    this.#first = undefined;
    first?.(topic);
  }

  add(topic: string, ws: BunServerWebSocket): void {
    this.subscribed(topic);
    let set = this.#byTopic.get(topic);
    if (set === undefined) this.#byTopic.set(topic, set = new Set());
    set.add(ws);
  }

  remove(topic: string, ws: BunServerWebSocket): void {
    const set = this.#byTopic.get(topic);
    if (set === undefined) return;
    set.delete(ws);
    if (set.size === 0) this.#byTopic.delete(topic);
  }

  /** Sends to every subscriber but `except`; bytes sent, as Bun's publish returns. */
  publish(
    topic: string,
    data: string | ArrayBufferLike | ArrayBufferView,
    compress: boolean | undefined,
    except: BunServerWebSocket | null,
  ): number {
    let sent = 0;
    for (const ws of this.#byTopic.get(topic) ?? []) {
      if (ws !== except) sent += Math.max(0, ws.send(data, compress));
    }
    return sent;
  }

  subscribers(topic: string): number {
    return this.#byTopic.get(topic)?.size ?? 0;
  }
}

function byteLength(data: string | ArrayBufferLike | ArrayBufferView): number {
  return typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
}

/** One socket in Bun's shape. */
export class BunServerWebSocket {
  data: unknown;
  readonly remoteAddress: string;
  binaryType: "nodebuffer" | "arraybuffer" | "uint8array" = "nodebuffer";
  readonly #ws: WsSocket;
  readonly #topics: Topics;
  readonly #mine = new Set<string>();
  readonly #gate: SendGate;

  readonly #flush: () => void;

  /** `flush` sends the answers waiting in the socket's cork (writeAnswersPerChunk). */
  constructor(
    ws: WsSocket,
    data: unknown,
    remoteAddress: string,
    topics: Topics,
    gate: SendGate,
    flush: () => void = () => {},
  ) {
    this.#ws = ws;
    this.#flush = flush;
    this.data = data;
    this.remoteAddress = remoteAddress;
    this.#topics = topics;
    this.#gate = gate;
  }

  get readyState(): number {
    return this.#ws.readyState;
  }

  /** Bun's contract: bytes sent, -1 when queued behind backpressure, 0 when dropped. */
  send(data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean): number {
    const ws = this.#ws;
    if (ws.readyState !== OPEN) return 0;
    // A burst is queued (-1); a stalled reader's socket is closed and the message dropped.
    if (!this.#gate.admit()) return 0;
    ws.send(data, { binary: typeof data !== "string", compress: compress === true });
    return ws.bufferedAmount > BACKPRESSURE ? -1 : byteLength(data);
  }
  sendText(data: string, compress?: boolean): number {
    return this.send(String(data), compress);
  }
  sendBinary(data: ArrayBufferLike | ArrayBufferView, compress?: boolean): number {
    return this.send(data, compress);
  }
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
  terminate(): void {
    // What the app sent before, in answer to the same chunk, goes out first, as it did uncorked.
    this.#flush();
    this.#ws.terminate();
  }
  ping(data?: string | ArrayBufferView): number {
    this.#ws.ping(data);
    return 1;
  }
  pong(data?: string | ArrayBufferView): number {
    this.#ws.pong(data);
    return 1;
  }
  getBufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }
  cork<T>(fn: (ws: this) => T): T {
    return fn(this);
  }
  subscribe(topic: string): void {
    // A closed socket's topics were dropped at its close: it must not join one again.
    if (this.#ws.readyState !== OPEN) return;
    this.#mine.add(topic);
    this.#topics.add(topic, this);
  }
  unsubscribe(topic: string): void {
    this.#mine.delete(topic);
    this.#topics.remove(topic, this);
  }
  isSubscribed(topic: string): boolean {
    return this.#mine.has(topic);
  }
  get subscriptions(): string[] {
    return [...this.#mine];
  }
  publish(
    topic: string,
    data: string | ArrayBufferLike | ArrayBufferView,
    compress?: boolean,
  ): number {
    return this.#topics.publish(topic, data, compress, this);
  }
  publishText(topic: string, data: string, compress?: boolean): number {
    return this.publish(topic, data, compress);
  }
  publishBinary(topic: string, data: ArrayBufferView, compress?: boolean): number {
    return this.publish(topic, data, compress);
  }

  /** The app's `handler` threw or rejected: said, and the socket is closed with 1011. */
  #appFailed(failed: HandlerFailed, error: unknown, handler: string): void {
    failed(error, handler);
    closeForAppError(this.#ws);
  }

  /** Wires the app's handlers to `ws`'s events and calls `open`. Internal to the hub. */
  attach(handlers: WebSocketHandlers, failed: HandlerFailed): void {
    const ws = this.#ws;
    const call = (name: string, fn: (() => unknown) | undefined) => {
      if (fn !== undefined) guardedCall(fn, (e) => this.#appFailed(failed, e, name));
    };
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      // A binary message is a Buffer owning its ArrayBuffer: Hono's adapter reads `.buffer`.
      const m = isBinary ? Buffer.from(data) : messageText(data);
      call("message", handlers.message && (() => handlers.message!(this, m)));
    });
    ws.on("close", (code: number, reason: Buffer) => {
      for (const topic of this.#mine) this.#topics.remove(topic, this);
      this.#mine.clear();
      call("close", handlers.close && (() => handlers.close!(this, code, String(reason))));
    });
    ws.on("error", () => {/* 'close' follows */});
    if (handlers.ping) ws.on("ping", (d: Buffer) => call("ping", () => handlers.ping!(this, d)));
    if (handlers.pong) ws.on("pong", (d: Buffer) => call("pong", () => handlers.pong!(this, d)));
    call("open", handlers.open && (() => handlers.open!(this)));
  }

  /** The socket's send buffer emptied: Bun's `drain`. Internal to the hub. */
  drained(handlers: WebSocketHandlers, failed: HandlerFailed): void {
    if (handlers.drain === undefined) return;
    guardedCall(() => handlers.drain!(this), (e) => this.#appFailed(failed, e, "drain"));
  }
}
