// The `socket` of Deno's shape (`Deno.upgradeWebSocket`, and appserve's runtime-neutral
// `upgradeWebSocket`): a WHATWG WebSocket-like EventTarget over a `ws` socket, which exists only
// once the HTTP layer completed the handshake; until then it is CONNECTING, as Deno's is.

import type { Buffer } from "node:buffer";
import { messageText } from "./message_text.ts";
import {
  closeForAppError,
  guardedCall,
  guardedListener,
  type HandlerFailed,
  WrapperMap,
} from "./handler_guard.ts";
import type { SendGate } from "./send_watch.ts";

/**
 * Where an AppWebSocket's frames come from: a `ws` socket (appserve's HTTP layer), or Bun's
 * native socket behind an adapter (--reuse-port), whose text arrives as strings.
 */
export interface SocketSource {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  send(data: unknown, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  on(event: "message", fn: (data: Buffer | string, isBinary: boolean) => void): unknown;
  on(event: "close", fn: (code: number, reason: Buffer | string) => void): unknown;
  on(event: "error", fn: (error: Error) => void): unknown;
}

const CONNECTING = 0;
const OPEN = 1;

/** What the hub tells a socket past its send-buffer cap. */
export interface SendLimit {
  /** Bytes that may wait unsent before the socket is closed with 1008. */
  readonly bytes: number;
  /** Says, once, that a socket went past it. */
  exceeded(): void;
}

/** The server end of one WebSocket in the shape Deno's server sockets have. */
export class AppWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  readonly url: string;
  #ws: SocketSource | null = null;
  #protocol = "";
  // Deno's server sockets start as "arraybuffer", not the spec's "blob" (measured, Deno 2.9.6).
  #binaryType: BinaryType = "arraybuffer";
  #listeners = 0;
  #limit: SendLimit | null = null;
  #gate: SendGate | null = null;
  readonly #failed: HandlerFailed | undefined;
  readonly #wrappers = new WrapperMap();

  /**
   * `failed` hears of a throw or rejection in the app's handlers, after which the socket closes
   * with 1011; without it (a socket that never opens) it is reported as uncaught.
   */
  constructor(url: string, failed?: HandlerFailed) {
    super();
    this.url = url;
    this.#failed = failed;
  }

  get readyState(): number {
    return this.#ws === null ? CONNECTING : this.#ws.readyState;
  }
  get protocol(): string {
    return this.#protocol;
  }
  get extensions(): string {
    return this.#ws === null ? "" : this.#ws.extensions;
  }
  get bufferedAmount(): number {
    return this.#ws === null ? 0 : this.#ws.bufferedAmount;
  }
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(type: BinaryType) {
    if (type === "blob" || type === "arraybuffer") this.#binaryType = type;
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    const ws = this.#ws;
    if (ws === null) throw new DOMException("readyState not OPEN", "InvalidStateError");
    // Closing or closed (say by the send cap below, in the middle of the app's loop): dropped,
    // as Deno's own socket and the WHATWG WebSocket do, not thrown.
    if (ws.readyState !== OPEN) return;
    if (data instanceof Blob) {
      data.arrayBuffer().then((b) => this.send(b));
      return;
    }
    // On appserve's layer the gate judges by progress: a stalled reader's socket was closed.
    if (this.#gate !== null) {
      if (this.#gate.admit()) ws.send(data, { binary: typeof data !== "string" });
      return;
    }
    const limit = this.#limit;
    // Deno has no cap of its own: a client that stops reading would grow this without bound.
    // As with Bun's backpressureLimit, what is already waiting counts, not this message.
    if (limit !== null && ws.bufferedAmount > limit.bytes) {
      limit.exceeded();
      ws.close(1008, "send buffer limit exceeded");
      return;
    }
    ws.send(data, { binary: typeof data !== "string" });
  }

  close(code?: number, reason?: string): void {
    if (this.#ws === null) return;
    this.#ws.close(code, reason);
  }

  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    this.#listeners++;
    if (listener === null) return super.addEventListener(type, listener, options);
    const guarded = this.#wrappers.get(
      listener,
      type,
      options,
      () => guardedListener(listener, this, (e) => this.#appFailed(e, `a listener for "${type}"`)),
    );
    super.addEventListener(type, guarded, options);
  }

  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    const guarded = listener === null ? undefined : this.#wrappers.find(listener, type, options);
    super.removeEventListener(type, guarded ?? listener, options);
  }

  /** The app's handler threw or rejected: said, and the socket is closed with 1011. */
  #appFailed(error: unknown, handler: string): void {
    if (this.#failed === undefined) reportError(error);
    else this.#failed(error, handler);
    const ws = this.#ws;
    if (ws !== null) closeForAppError(ws);
  }

  #fire(type: "open" | "message" | "close" | "error", event: Event): void {
    const handler = this[`on${type}`] as ((e: Event) => unknown) | null;
    if (typeof handler === "function") {
      guardedCall(() => handler.call(this, event), (e) => this.#appFailed(e, `on${type}`));
    }
    // Events are dispatched only once a listener was added: most apps set on* and nothing else.
    if (this.#listeners > 0) this.dispatchEvent(event);
  }

  /**
   * The handshake is done: events flow from `ws` from now on. Internal to the hub. `gate`, on
   * appserve's layer, replaces the size rule of `limit` (a native server's socket).
   */
  attach(ws: SocketSource, limit: SendLimit, gate: SendGate | null = null): void {
    this.#ws = ws;
    this.#protocol = ws.protocol;
    this.#limit = limit;
    this.#gate = gate;
    // Text is decoded straight from ws's Buffer; binary is copied once into its own ArrayBuffer.
    ws.on("message", (data: Buffer | string, isBinary: boolean) => {
      // A string: text from a native server's socket (Bun's, under --reuse-port).
      const d = typeof data === "string"
        ? data
        : !isBinary
        ? messageText(data)
        : this.#binaryType === "blob"
        ? new Blob([data as Uint8Array<ArrayBuffer>])
        : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      this.#fire("message", new MessageEvent("message", { data: d }));
    });
    ws.on("close", (code: number, reason: Buffer | string) => {
      this.#fire(
        "close",
        new CloseEvent("close", { code, reason: String(reason), wasClean: code !== 1006 }),
      );
    });
    ws.on("error", (error: Error) => {
      this.#fire("error", new ErrorEvent("error", { message: error.message, error }));
    });
    queueMicrotask(() => this.#fire("open", new Event("open")));
  }
}
