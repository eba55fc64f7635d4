// An in-process createHttpServer() on a free port and a raw client that parses responses itself,
// for the tests that check appserve's HTTP layer through a real socket, byte for byte.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { createHttpServer } from "../src/http/server.ts";
import type { HttpServer, HttpServerOptions } from "../src/http/server.ts";
import type { FetchHandler } from "../src/http/types.ts";

/** Options of a test server: gunicorn's default limits, a 2 s keep-alive, an app-error echo. */
export function options(extra: Partial<HttpServerOptions> = {}): HttpServerOptions {
  return {
    keepAlive: 2,
    limitRequestLine: 4094,
    limitRequestFields: 100,
    limitRequestFieldSize: 8190,
    scheme: "http",
    defaultHost: "default.test",
    onAppError: (err) =>
      new Response(`app error: ${err instanceof Error ? err.message : String(err)}`, {
        status: 500,
      }),
    ...extra,
  };
}

/** Runs `fn` against a server listening on a free 127.0.0.1 port, then closes the server. */
export async function withServer(
  handler: FetchHandler,
  opts: Partial<HttpServerOptions>,
  fn: (port: number, server: HttpServer) => Promise<void>,
): Promise<void> {
  const server = createHttpServer(handler, options(opts));
  await server.listen({ port: 0, host: "127.0.0.1" });
  const addr = server.address();
  assert.ok(addr !== null && addr.transport === "tcp");
  try {
    await fn(addr.port, server);
  } finally {
    await server.close();
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RawResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  /** Set-Cookie and other repeated fields, in order. */
  all: [string, string][];
  body: Buffer;
  chunked: boolean;
}

/** A raw TCP client that parses responses itself, so tests see exactly what was on the wire. */
export class RawClient {
  private buf = Buffer.alloc(0);
  ended = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("close", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("error", () => {});
  }

  static connect(target: { port: number } | { path: string }): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = "port" in target
        ? net.connect({ port: target.port, host: "127.0.0.1" })
        : net.connect({ path: target.path });
      s.once("connect", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private more(): Promise<void> {
    if (this.ended) throw new Error("connection closed by server");
    return new Promise((resolve) => (this.wake = resolve));
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }

  /** Writes one byte at a time, letting each go out as its own segment. */
  async trickle(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    for (let i = 0; i < bytes.length; i++) {
      await this.write(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await delay(1);
    }
  }

  private async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.more();
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf("\r\n");
      if (i >= 0) return (await this.take(i + 2)).toString("latin1", 0, i);
      await this.more();
    }
  }

  /** Reads one response; `head` says it answers a HEAD request (no body follows). */
  async read(head = false): Promise<RawResponse> {
    let status = 0;
    let reason = "";
    let all: [string, string][] = [];
    do {
      const statusLine = await this.line();
      const m = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(statusLine);
      assert.ok(m, `bad status line: ${JSON.stringify(statusLine)}`);
      status = Number(m[1]);
      reason = m[2];
      all = [];
      for (;;) {
        const l = await this.line();
        if (l === "") break;
        const c = l.indexOf(":");
        all.push([l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()]);
      }
    } while (status === 100);
    const headers: Record<string, string> = {};
    for (const [k, v] of all) headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    let body: Buffer = Buffer.alloc(0);
    const chunked = headers["transfer-encoding"] === "chunked";
    if (head || status === 204 || status === 304) {
      // no body
    } else if (chunked) {
      const parts: Buffer[] = [];
      for (;;) {
        const size = parseInt(await this.line(), 16);
        if (size === 0) {
          assert.equal(await this.line(), "");
          break;
        }
        parts.push(await this.take(size));
        assert.equal(await this.line(), "");
      }
      body = Buffer.concat(parts);
    } else if ("content-length" in headers) {
      body = await this.take(Number(headers["content-length"]));
    } else {
      body = await this.rest();
    }
    return { status, reason, headers, all, body, chunked };
  }

  /** Everything until the server closes. */
  async rest(): Promise<Buffer> {
    while (!this.ended) await this.more().catch(() => {});
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  /** Resolves once the server has closed the connection. */
  async closed(): Promise<void> {
    await this.rest();
  }

  close(): void {
    this.socket.destroy();
  }

  /** Closes with a reset (RST), as a client that crashed. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

/**
 * Sends raw bytes on a fresh connection and returns the single response plus what followed;
 * `head`: it answers a HEAD request (no body follows).
 */
export async function rawExchange(port: number, data: string, head = false): Promise<RawResponse> {
  const c = await RawClient.connect({ port });
  try {
    await c.write(data);
    return await c.read(head);
  } finally {
    c.close();
  }
}

/** Answers "METHOD URL BODY" (BODY "<null>" without one) and echoes x-foo as x-seen-foo. */
export const echo: FetchHandler = async (req) => {
  const body = req.body === null ? "<null>" : await req.text();
  return new Response(`${req.method} ${req.url} ${body}`, {
    headers: { "x-seen-foo": req.headers.get("x-foo") ?? "" },
  });
};
