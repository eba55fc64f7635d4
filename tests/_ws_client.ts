// WebSocket clients for the e2e tests, from two implementations behind one small shape: the
// runtime's own WebSocket (Deno's, as the tests run under Deno) and the npm `ws` package.

import { WebSocket as NpmWebSocket } from "ws";

export type ClientKind = "native" | "npm-ws";
export const CLIENT_KINDS: readonly ClientKind[] = ["native", "npm-ws"];

export type Message = string | Uint8Array;

export interface Closed {
  code: number;
  reason: string;
}

/** One open client socket: what it received, in order, and how it closed. */
export interface Client {
  send(data: string | Uint8Array): void;
  /** The next message received (waits for it). */
  next(ms?: number): Promise<Message>;
  close(code?: number, reason?: string): void;
  /** Resolves once the socket closed, with the code the client saw. */
  readonly closed: Promise<Closed>;
  /** The subprotocol the server chose. */
  readonly protocol: string;
}

export interface ConnectOptions {
  protocols?: string[];
  /** npm ws only: do not answer the server's pings. */
  noPong?: boolean;
  /** npm ws only: largest message accepted from the server. */
  maxPayload?: number;
}

class Inbox {
  #messages: Message[] = [];
  #waiters: ((m: Message) => void)[] = [];
  push(m: Message): void {
    const w = this.#waiters.shift();
    if (w) w(m);
    else this.#messages.push(m);
  }
  next(ms: number, closed: Promise<Closed>): Promise<Message> {
    const m = this.#messages.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message in time")), ms);
      this.#waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
      closed.then((c) => {
        clearTimeout(timer);
        reject(new Error(`closed (${c.code}) before a message came`));
      });
    });
  }
}

/** Opens a client socket to `url` (ws://...) with `kind`'s implementation. */
export function connect(
  kind: ClientKind,
  url: string,
  options: ConnectOptions = {},
): Promise<Client> {
  const opening = kind === "native" ? connectNative(url, options) : connectNpm(url, options);
  // A server that never answers the handshake fails the test instead of hanging it.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no handshake from ${url} in time`)), 20_000);
  });
  return Promise.race([opening, late]).finally(() => clearTimeout(timer));
}

function connectNative(url: string, options: ConnectOptions): Promise<Client> {
  const ws = new WebSocket(url, options.protocols);
  ws.binaryType = "arraybuffer";
  const inbox = new Inbox();
  let closedDone!: (c: Closed) => void;
  const closed = new Promise<Closed>((r) => closedDone = r);
  ws.onmessage = (e) =>
    inbox.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
  ws.onclose = (e) => closedDone({ code: e.code, reason: e.reason });
  ws.onerror = () => {};
  return new Promise((resolve, reject) => {
    ws.onopen = () =>
      resolve({
        send: (d) => ws.send(d),
        next: (ms = 20_000) => inbox.next(ms, closed),
        close: (code, reason) => ws.close(code, reason),
        closed,
        get protocol() {
          return ws.protocol;
        },
      });
    closed.then((c) => reject(new Error(`could not connect (${c.code})`)));
  });
}

function connectNpm(url: string, options: ConnectOptions): Promise<Client> {
  const ws = new NpmWebSocket(url, options.protocols, {
    autoPong: !options.noPong,
    maxPayload: options.maxPayload ?? 100 * 1024 * 1024,
  });
  const inbox = new Inbox();
  let closedDone!: (c: Closed) => void;
  const closed = new Promise<Closed>((r) => closedDone = r);
  ws.on(
    "message",
    (data: Uint8Array, isBinary: boolean) =>
      inbox.push(isBinary ? new Uint8Array(data) : new TextDecoder().decode(data)),
  );
  ws.on(
    "close",
    (code: number, reason: Uint8Array) =>
      closedDone({ code, reason: new TextDecoder().decode(reason) }),
  );
  ws.on("error", () => {});
  return new Promise((resolve, reject) => {
    ws.on("open", () =>
      resolve({
        send: (d) => ws.send(d),
        next: (ms = 20_000) => inbox.next(ms, closed),
        close: (code, reason) => ws.close(code, reason),
        closed,
        get protocol() {
          return ws.protocol as string;
        },
      }));
    ws.on(
      "unexpected-response",
      (_req: unknown, res: { statusCode: number }) =>
        reject(new Error(`unexpected response ${res.statusCode}`)),
    );
    closed.then((c) => reject(new Error(`could not connect (${c.code})`)));
  });
}

/** `http://host:port` → `ws://host:port` + path. */
export function wsUrl(httpUrl: string, path = "/"): string {
  return httpUrl.replace(/^http/, "ws").replace(/\/$/, "") + path;
}
