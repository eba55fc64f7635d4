// Behaviour of appserve's own HTTP/1.1 layer over real sockets: framing, limits, keep-alive,
// pipelining and shutdown, checked byte-for-byte where the wire format is the point.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { createHttpServer } from "../src/http/server.ts";
import type { HttpServer, HttpServerOptions } from "../src/http/server.ts";
import type { FetchHandler, RemoteAddr, ServeInfo } from "../src/http/types.ts";

// ---------------------------------------------------------------- helpers

function options(extra: Partial<HttpServerOptions> = {}): HttpServerOptions {
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

async function withServer(
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface RawResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  /** Set-Cookie and other repeated fields, in order. */
  all: [string, string][];
  body: Buffer;
  chunked: boolean;
}

/** A raw TCP client that parses responses itself, so tests see exactly what was on the wire. */
class RawClient {
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
}

/** Sends raw bytes on a fresh connection and returns the single response plus what followed. */
async function rawExchange(port: number, data: string): Promise<RawResponse> {
  const c = await RawClient.connect({ port });
  try {
    await c.write(data);
    return await c.read();
  } finally {
    c.close();
  }
}

const echo: FetchHandler = async (req) => {
  const body = req.body === null ? "<null>" : await req.text();
  return new Response(`${req.method} ${req.url} ${body}`, {
    headers: { "x-seen-foo": req.headers.get("x-foo") ?? "" },
  });
};

// ---------------------------------------------------------------- round trips

Deno.test("createHttpServer() round-trips GET and POST with headers and query intact", async () => {
  await withServer(echo, {}, async (port) => {
    const get = await fetch(`http://127.0.0.1:${port}/a/b?x=1&y=%20z`, {
      headers: { "x-foo": "bar baz" },
    });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("x-seen-foo"), "bar baz");
    assert.equal(get.headers.get("server"), "appserve");
    assert.ok(get.headers.get("date"));
    assert.equal(await get.text(), `GET http://127.0.0.1:${port}/a/b?x=1&y=%20z <null>`);

    const post = await fetch(`http://127.0.0.1:${port}/submit?q=2`, {
      method: "POST",
      headers: { "x-foo": "qux", "content-type": "text/plain" },
      body: "hello body",
    });
    assert.equal(post.headers.get("x-seen-foo"), "qux");
    assert.equal(await post.text(), `POST http://127.0.0.1:${port}/submit?q=2 hello body`);
  });
});

Deno.test("createHttpServer() hands the app a ServeInfo with the TCP peer", async () => {
  let seen: RemoteAddr | null = null;
  let ip: ReturnType<ServeInfo["requestIP"]> = null;
  await withServer(
    (req, info) => {
      seen = info.remoteAddr;
      ip = info.requestIP(req);
      return new Response("ok");
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.read();
      const local = c.socket.localPort;
      c.close();
      assert.deepEqual(seen, { transport: "tcp", hostname: "127.0.0.1", port: local });
      assert.deepEqual(ip, { address: "127.0.0.1", family: "IPv4", port: local });
    },
  );
});

Deno.test("createHttpServer() delivers a Content-Length body sent byte by byte", async () => {
  await withServer(echo, {}, async (port) => {
    const c = await RawClient.connect({ port });
    await c.trickle("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world");
    const r = await c.read();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), "POST http://h/up hello world");
    c.close();
  });
});

Deno.test("createHttpServer() delivers a chunked body with extensions and trailers", async () => {
  const wire = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;name=value\r\nhello\r\n1\r\n \r\nB\r\nchunked wor\r\n2\r\nld\r\n0\r\nX-Trailer: t\r\n\r\n";
  await withServer(echo, {}, async (port) => {
    const whole = await rawExchange(port, wire);
    assert.equal(whole.body.toString(), "POST http://h/c hello chunked world");
    const c = await RawClient.connect({ port });
    await c.trickle(wire);
    assert.equal((await c.read()).body.toString(), "POST http://h/c hello chunked world");
    // The connection is still usable after the trailers.
    await c.write("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await c.read()).body.toString(), "GET http://h/next <null>");
    c.close();
  });
});

Deno.test("createHttpServer() streams a large request body to a slow reader intact", async () => {
  const size = 3 * 1024 * 1024;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + 7) & 255;
  await withServer(
    async (req) => {
      const reader = req.body!.getReader();
      let n = 0;
      let sum = 0;
      let reads = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let i = 0; i < value.length; i++) sum = (sum + value[i] * ((n + i) % 7 + 1)) >>> 0;
        n += value.length;
        if (++reads % 8 === 0) await delay(1);
      }
      return new Response(`${n} ${sum}`);
    },
    {},
    async (port) => {
      let expect = 0;
      for (let i = 0; i < size; i++) expect = (expect + payload[i] * (i % 7 + 1)) >>> 0;
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: "PUT", body: payload });
      assert.equal(await res.text(), `${size} ${expect}`);
    },
  );
});

Deno.test("createHttpServer() streams a 1 MiB ReadableStream response intact", async () => {
  const chunk = 16 * 1024;
  const total = 1024 * 1024;
  await withServer(
    () => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent === total) return c.close();
          const b = new Uint8Array(chunk);
          for (let i = 0; i < chunk; i++) b[i] = (sent + i) % 251;
          sent += chunk;
          c.enqueue(b);
        },
      });
      return new Response(body);
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
      const r = await c.read();
      assert.equal(r.chunked, true);
      assert.equal(r.body.length, total);
      for (let i = 0; i < total; i++) {
        if (r.body[i] !== i % 251) assert.fail(`byte ${i} differs`);
      }
      c.close();
      const res = await fetch(`http://127.0.0.1:${port}/big`);
      assert.equal((await res.arrayBuffer()).byteLength, total);
    },
  );
});

Deno.test("createHttpServer() sends a one-chunk body with content-length in one piece", async () => {
  await withServer(() => new Response("Hello World!"), {}, async (port) => {
    const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(r.status, 200);
    assert.equal(r.reason, "OK");
    assert.equal(r.headers["content-length"], "12");
    assert.equal(r.headers["connection"], "keep-alive");
    assert.equal(r.headers["transfer-encoding"], undefined);
    assert.equal(r.body.toString(), "Hello World!");
  });
});

Deno.test("createHttpServer() streams raw when the app fixes content-length", async () => {
  await withServer(
    () => {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("abc"));
          c.enqueue(new TextEncoder().encode("def"));
          c.enqueue(new TextEncoder().encode("ghi"));
          c.close();
        },
      });
      return new Response(body, { headers: { "content-length": "9" } });
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      const r = await c.read();
      assert.equal(r.chunked, false);
      assert.equal(r.headers["content-length"], "9");
      assert.equal(r.body.toString(), "abcdefghi");
      // Still framed correctly: the connection serves another request.
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal((await c.read()).body.toString(), "abcdefghi");
      c.close();
    },
  );
});

Deno.test("createHttpServer() preserves every Set-Cookie header", async () => {
  await withServer(
    () => {
      const h = new Headers();
      h.append("set-cookie", "a=1; Path=/");
      h.append("set-cookie", "b=2, with comma");
      h.append("x-other", "y");
      return new Response("c", { headers: h });
    },
    {},
    async (port) => {
      const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      const cookies = r.all.filter(([k]) => k === "set-cookie").map(([, v]) => v);
      assert.deepEqual(cookies, ["a=1; Path=/", "b=2, with comma"]);
      assert.equal(r.headers["x-other"], "y");
    },
  );
});

Deno.test("createHttpServer() keeps the app's own date and server headers", async () => {
  await withServer(
    () => new Response("x", { headers: { date: "Thu, 01 Jan 1970 00:00:00 GMT", server: "mine" } }),
    {},
    async (port) => {
      const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal(r.headers["date"], "Thu, 01 Jan 1970 00:00:00 GMT");
      assert.equal(r.headers["server"], "mine");
    },
  );
});

// ---------------------------------------------------------------- connection management

Deno.test("createHttpServer() reuses one keep-alive connection for 3 requests", async () => {
  const ports = new Set<number>();
  await withServer(
    (req, info) => {
      ports.add(info.remoteAddr.port);
      return new Response(new URL(req.url).pathname);
    },
    {},
    async (port, server) => {
      const c = await RawClient.connect({ port });
      for (const p of ["/1", "/2", "/3"]) {
        await c.write(`GET ${p} HTTP/1.1\r\nHost: h\r\n\r\n`);
        const r = await c.read();
        assert.equal(r.body.toString(), p);
        assert.equal(r.headers["connection"], "keep-alive");
      }
      assert.equal(ports.size, 1);
      assert.equal(server.connections, 1);
      c.close();
    },
  );
});

Deno.test("createHttpServer() closes HTTP/1.0 connections unless asked to keep them", async () => {
  await withServer(() => new Response("ten"), {}, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET / HTTP/1.0\r\n\r\n");
    const r = await c.read();
    assert.equal(r.headers["connection"], "close");
    assert.equal(r.body.toString(), "ten");
    await c.closed();

    const k = await RawClient.connect({ port });
    await k.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert.equal((await k.read()).headers["connection"], "keep-alive");
    await k.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert.equal((await k.read()).body.toString(), "ten");
    k.close();
  });
});

Deno.test("createHttpServer() closes after the response when the client sends close", async () => {
  await withServer(() => new Response("bye"), {}, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert.equal((await c.read()).headers["connection"], "close");
    await c.closed();
  });
});

Deno.test("createHttpServer() with keepAlive 0 closes after each response", async () => {
  await withServer(() => new Response("once"), { keepAlive: 0 }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await c.read()).headers["connection"], "close");
    await c.closed();
  });
});

Deno.test("createHttpServer() closes an idle keep-alive connection after keepAlive", async () => {
  await withServer(() => new Response("x"), { keepAlive: 0.2 }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    await c.read();
    await c.closed();
  });
});

Deno.test("createHttpServer() answers pipelined requests in order", async () => {
  await withServer(
    async (req) => {
      const path = new URL(req.url).pathname;
      // The first is the slowest: answers must still come back in request order.
      await delay(path === "/1" ? 30 : path === "/2" ? 10 : 0);
      return new Response(path);
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write(
        "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
          "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
      );
      assert.equal((await c.read()).body.toString(), "/1");
      assert.equal((await c.read()).body.toString(), "/2");
      assert.equal((await c.read()).body.toString(), "/3");
      c.close();
    },
  );
});

Deno.test("createHttpServer() answers thousands of pipelined requests sent at once", async () => {
  const n = 5000;
  await withServer(() => new Response(null, { status: 204 }), {}, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n".repeat(n));
    for (let i = 0; i < n; i++) assert.equal((await c.read()).status, 204);
    c.close();
  });
});

Deno.test("createHttpServer() stops reading pipelined requests while the client reads none", async () => {
  const n = 400;
  const big = "x".repeat(64 * 1024);
  let calls = 0;
  await withServer(
    () => {
      calls++;
      return new Response(big);
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      c.socket.pause();
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n".repeat(n));
      await delay(100);
      // 25 MiB of answers cannot all sit in socket buffers: the server waits for the reader.
      assert.ok(calls < n, `all ${calls} answered while the client read nothing`);
      c.socket.resume();
      for (let i = 0; i < n; i++) assert.equal((await c.read()).body.length, big.length);
      assert.equal(calls, n);
      c.close();
    },
  );
});

Deno.test("createHttpServer() skips a small unread body and serves the next request", async () => {
  await withServer((req) => new Response(new URL(req.url).pathname), {}, async (port) => {
    const c = await RawClient.connect({ port });
    const body = "z".repeat(20000);
    await c.write(`POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`);
    await c.write(body + "GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await c.read()).body.toString(), "/a");
    assert.equal((await c.read()).body.toString(), "/b");
    c.close();
  });
});

Deno.test("createHttpServer() closes instead of draining a large unread body", async () => {
  await withServer(() => new Response("early"), {}, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\nabc");
    const r = await c.read();
    assert.equal(r.body.toString(), "early");
    assert.equal(r.headers["connection"], "close");
    await c.closed();
  });
});

Deno.test("createHttpServer() answers pipelined requests from a client that half-closed", async () => {
  await withServer(echo, {}, async (port) => {
    const c = await RawClient.connect({ port });
    c.socket.end("GET /half HTTP/1.1\r\nHost: h\r\n\r\nGET /second HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await c.read()).body.toString(), "GET http://h/half <null>");
    assert.equal((await c.read()).body.toString(), "GET http://h/second <null>");
    await c.closed();
  });
});

Deno.test("createHttpServer() sends 100 Continue once the app reads the body", async () => {
  await withServer(echo, {}, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write(
      "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    // The body goes out only after the interim response, as a careful client would do.
    const interim = await new Promise<string>((resolve) => {
      c.socket.once("data", (d: Buffer) => resolve(d.toString("latin1")));
    });
    assert.ok(interim.startsWith("HTTP/1.1 100 Continue\r\n\r\n"), interim);
    await c.write("ping");
    const r = await c.read();
    assert.equal(r.body.toString(), "POST http://h/e ping");
    c.close();
  });
});

Deno.test("createHttpServer() gives HEAD responses headers but no body", async () => {
  await withServer(
    () => new Response("twelve bytes", { headers: { "content-length": "12" } }),
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
      const r = await c.read(true);
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-length"], "12");
      // Nothing but the next response may follow: a body would corrupt it.
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal((await c.read()).body.toString(), "twelve bytes");
      c.close();
    },
  );
});

Deno.test("createHttpServer() sends no body for 204 and 304", async () => {
  await withServer(
    (req) => {
      const status = new URL(req.url).pathname === "/204" ? 204 : 304;
      return new Response(null, { status });
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\n");
      const a = await c.read();
      assert.equal(a.status, 204);
      assert.equal(a.headers["content-length"], undefined);
      assert.equal((await c.read()).status, 304);
      c.close();
    },
  );
});

Deno.test("createHttpServer() sends a raw body and closes for an HTTP/1.0 stream", async () => {
  await withServer(
    () => {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("one,"));
          c.enqueue(new TextEncoder().encode("two"));
          c.close();
        },
      });
      return new Response(body);
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      const r = await c.read();
      assert.equal(r.chunked, false);
      assert.equal(r.headers["connection"], "close");
      assert.equal(r.body.toString(), "one,two");
    },
  );
});

Deno.test("createHttpServer() accepts absolute-form and OPTIONS * targets", async () => {
  await withServer((req) => new Response(`${req.method} ${req.url}`), {}, async (port) => {
    const a = await rawExchange(port, "GET http://other.test:81/p?q HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(a.body.toString(), "GET http://other.test:81/p?q");
    const o = await rawExchange(port, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(o.body.toString(), "OPTIONS http://h/*");
    const d = await rawExchange(port, "GET /no-host HTTP/1.0\r\n\r\n");
    assert.equal(d.body.toString(), "GET http://default.test/no-host");
  });
});

// ---------------------------------------------------------------- rejected requests

const longName = "X-" + "a".repeat(8200);
const rejected: [string, string, number][] = [
  [
    "request line over limit_request_line",
    `GET /${"a".repeat(5000)} HTTP/1.1\r\nHost: h\r\n\r\n`,
    414,
  ],
  [
    "more fields than limit_request_fields",
    "GET / HTTP/1.1\r\n" + Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join("") + "\r\n",
    431,
  ],
  ["field over limit_request_field_size", `GET / HTTP/1.1\r\n${longName}: v\r\n\r\n`, 431],
  ["garbage request line", "HELLO\r\n\r\n", 400],
  ["request line with extra space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["invalid method token", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["unknown protocol", "GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400],
  ["HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505],
  ["HTTP/1.2 request line", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505],
  ["relative request target", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["authority-form target", "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["asterisk target on GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["obs-fold continuation line", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  b\r\n\r\n", 400],
  ["NUL in a header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n", 400],
  ["bare CR in a header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400],
  ["control byte in a header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n", 400],
  ["bare LF line ending", "GET / HTTP/1.1\nHost: h\n\n", 400],
  ["header name that is not a token", "GET / HTTP/1.1\r\nHost: h\r\nX(A): v\r\n\r\n", 400],
  ["control byte in a header name", "GET / HTTP/1.1\r\nHost: h\r\nX\x01A: v\r\n\r\n", 400],
  ["whitespace before the colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A : v\r\n\r\n", 400],
  ["header line without a colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400],
  [
    "Content-Length with Transfer-Encoding",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
  ],
  [
    "duplicate identical Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    400,
  ],
  [
    "differing Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    400,
  ],
  ["non-digit Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3a\r\n\r\n", 400],
  ["negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400],
  ["list Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 400],
  ["Transfer-Encoding gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
  [
    "chunked not the final coding",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    400,
  ],
  [
    "chunked applied twice",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
  ],
  [
    "Transfer-Encoding on HTTP/1.0",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "coding before chunked (unsupported, not malformed)",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    501,
  ],
  ["two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  ["Host that would steer the URL", "GET / HTTP/1.1\r\nHost: evil/x\r\n\r\n", 400],
  ["TRACE method", "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", 501],
];

Deno.test("createHttpServer() rejects each limit and malformed head with its status", async () => {
  const reported: number[] = [];
  let appCalls = 0;
  await withServer(
    () => {
      appCalls++;
      return new Response("fine");
    },
    { onBadRequest: (status) => void reported.push(status) },
    async (port) => {
      for (const [what, wire, status] of rejected) {
        const c = await RawClient.connect({ port });
        await c.write(wire);
        const r = await c.read();
        assert.equal(r.status, status, what);
        assert.equal(r.headers["connection"], "close", what);
        await c.closed();
        // The server keeps answering the next connection.
        const ok = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert.equal(ok.body.toString(), "fine", `after ${what}`);
      }
      assert.deepEqual(reported, rejected.map(([, , s]) => s));
      assert.equal(appCalls, rejected.length);
    },
  );
});

Deno.test("createHttpServer() rejects an over-long request line before it ends", async () => {
  await withServer(() => new Response("x"), { limitRequestLine: 100 }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET /" + "a".repeat(200)); // no CRLF yet
    assert.equal((await c.read()).status, 414);
    await c.closed();
  });
});

Deno.test("createHttpServer() treats 0 as unlimited for line and field size", async () => {
  await withServer(
    (req) =>
      new Response(`${new URL(req.url).pathname.length} ${req.headers.get("x-big")!.length}`),
    { limitRequestLine: 0, limitRequestFieldSize: 0 },
    async (port) => {
      const r = await rawExchange(
        port,
        `GET /${"p".repeat(20000)} HTTP/1.1\r\nHost: h\r\nX-Big: ${"v".repeat(20000)}\r\n\r\n`,
      );
      assert.equal(r.body.toString(), "20001 20000");
    },
  );
});

Deno.test("createHttpServer() caps the head even when field sizes are unlimited", async () => {
  await withServer(
    () => new Response("x"),
    { limitRequestFields: 4, limitRequestFieldSize: 0 },
    async (port) => {
      const c = await RawClient.connect({ port });
      // 4 fields of the default 8190 bytes is the most gunicorn would buffer here.
      await c.write(`GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"v".repeat(40000)}`);
      assert.equal((await c.read()).status, 431);
      await c.closed();
    },
  );
});

Deno.test("createHttpServer() errors the body stream of a malformed chunked body", async () => {
  let failure = "";
  let reading!: () => void;
  const started = new Promise<void>((resolve) => (reading = resolve));
  await withServer(
    async (req) => {
      try {
        const reader = req.body!.getReader();
        reading();
        while (!(await reader.read()).done);
      } catch (err) {
        failure = String(err);
        return new Response("bad body", { status: 400 });
      }
      return new Response("read it");
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
      await started;
      await c.write("ZZ\r\n");
      const r = await c.read();
      assert.equal(r.status, 400);
      assert.equal(r.headers["connection"], "close");
      assert.match(failure, /malformed chunked/);
      await c.closed();
    },
  );
});

Deno.test("createHttpServer() rejects a malformed chunked body that arrives with its head", async () => {
  await withServer(
    async (req) => {
      await req.text();
      return new Response("read it");
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n",
      );
      const r = await c.read();
      // Either the server saw it while parsing (400) or the app did (onAppError's 500): never a 200.
      assert.ok(r.status === 400 || r.status === 500, String(r.status));
      assert.equal(r.headers["connection"], "close");
      await c.closed();
    },
  );
});

Deno.test("createHttpServer() cuts off a client that never finishes its head", async () => {
  await withServer(() => new Response("x"), { headerTimeout: 0.3 }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ");
    const r = await c.read();
    assert.equal(r.status, 408);
    await c.closed();
  });
});

// ---------------------------------------------------------------- app failures

Deno.test("createHttpServer() answers an app throw with onAppError's 500 and keeps serving", async () => {
  const errors: unknown[] = [];
  await withServer(async (req) => {
    const p = new URL(req.url).pathname;
    if (p === "/sync") throw new Error("sync boom");
    if (p === "/async") {
      await delay(1);
      throw new Error("async boom");
    }
    return new Response("fine");
  }, {
    onAppError: (err) => {
      errors.push(err);
      return new Response(`oops: ${(err as Error).message}`, { status: 500 });
    },
  }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET /sync HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = await c.read();
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), "oops: sync boom");
    await c.write("GET /async HTTP/1.1\r\nHost: h\r\n\r\n");
    r = await c.read();
    assert.equal(r.body.toString(), "oops: async boom");
    await c.write("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await c.read()).body.toString(), "fine");
    c.close();
    assert.equal(errors.length, 2);
  });
});

Deno.test("createHttpServer() reports a handler that returns no Response", async () => {
  let message = "";
  await withServer(
    (() => ({ not: "a response" })) as unknown as FetchHandler,
    {
      onAppError: (err) => {
        message = (err as Error).message;
        return new Response("nope", { status: 500 });
      },
    },
    async (port) => {
      const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal(r.status, 500);
      assert.match(message, /returned an object \(Object\) instead of a Response/);
    },
  );
});

Deno.test("createHttpServer() treats Response.error() as an app error", async () => {
  await withServer(() => Response.error(), {}, async (port) => {
    const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), "app error: app handler returned Response.error()");
  });
});

Deno.test("createHttpServer() sends onAppError's reply when the body fails at once", async () => {
  await withServer(
    () => {
      const body = new ReadableStream({
        pull() {
          throw new Error("stream broke");
        },
      });
      return new Response(body);
    },
    {},
    async (port) => {
      const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal(r.status, 500);
      assert.equal(r.body.toString(), "app error: stream broke");
    },
  );
});

Deno.test("createHttpServer() cuts the connection when a body breaks mid-stream", async () => {
  await withServer(
    (req) => {
      if (new URL(req.url).pathname === "/ok") return new Response("ok");
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (n++ < 2) c.enqueue(new TextEncoder().encode("part"));
          else c.error(new Error("mid-stream failure"));
        },
      });
      return new Response(body);
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      await assert.rejects(c.read());
      c.close();
      const r = await rawExchange(port, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal(r.body.toString(), "ok");
    },
  );
});

Deno.test("createHttpServer() calls onRequestDone after each written response", async () => {
  const done: [string, number][] = [];
  await withServer(() => new Response("x", { status: 201 }), {
    onRequestDone: (req, res, ms) => {
      assert.ok(ms >= 0);
      done.push([new URL(req.url).pathname, res.status]);
    },
  }, async (port) => {
    const c = await RawClient.connect({ port });
    await c.write("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    await c.read();
    await c.read();
    c.close();
  });
  assert.deepEqual(done, [["/a", 201], ["/b", 201]]);
});

// ---------------------------------------------------------------- shutdown and transports

Deno.test("createHttpServer() close() waits for an in-flight request, answered with close", async () => {
  let entered!: () => void;
  const inHandler = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const server = createHttpServer(async (req) => {
    if (new URL(req.url).pathname === "/fast") return new Response("fast");
    entered();
    await gate;
    return new Response("slow");
  }, options());
  await server.listen({ port: 0, host: "127.0.0.1" });
  const addr = server.address();
  assert.ok(addr !== null && addr.transport === "tcp");
  const busy = await RawClient.connect({ port: addr.port });
  const idle = await RawClient.connect({ port: addr.port });
  await idle.write("GET /fast HTTP/1.1\r\nHost: h\r\n\r\n");
  assert.equal((await idle.read()).headers["connection"], "keep-alive");
  await busy.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  await inHandler;
  assert.equal(server.inFlight, 1);
  assert.equal(server.connections, 2);

  let resolved = false;
  const closed = server.close().then(() => (resolved = true));
  // The idle keep-alive connection goes at once; the busy one stays until its response is out.
  await idle.closed();
  await delay(20);
  assert.equal(resolved, false);
  release();
  const r = await busy.read();
  assert.equal(r.body.toString(), "slow");
  assert.equal(r.headers["connection"], "close");
  await busy.closed();
  await closed;
  assert.equal(server.connections, 0);
  assert.equal(server.inFlight, 0);
});

Deno.test("createHttpServer() closeNow() drops every connection", async () => {
  const server = createHttpServer(() => new Promise<Response>(() => {}), options());
  await server.listen({ port: 0, host: "127.0.0.1" });
  const addr = server.address();
  assert.ok(addr !== null && addr.transport === "tcp");
  const c = await RawClient.connect({ port: addr.port });
  await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  while (server.inFlight < 1) await delay(5);
  const closed = server.close();
  server.closeNow();
  await c.closed();
  await closed;
  assert.equal(server.connections, 0);
});

Deno.test("createHttpServer() on a unix socket reports transport unix", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/appserve.sock`;
  let seen: RemoteAddr | null = null;
  let ip: unknown = "unset";
  const server = createHttpServer((req, info) => {
    seen = info.remoteAddr;
    ip = info.requestIP(req);
    return new Response(`unix ${new URL(req.url).host}`);
  }, options());
  await server.listen({ path });
  try {
    assert.deepEqual(server.address(), { transport: "unix", path });
    const c = await RawClient.connect({ path });
    await c.write("GET / HTTP/1.1\r\nHost: sock.test\r\n\r\n");
    assert.equal((await c.read()).body.toString(), "unix sock.test");
    c.close();
    assert.deepEqual(seen, { transport: "unix", hostname: "", port: 0 });
    assert.equal(ip, null);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createHttpServer() listen() rejects an address in use", async () => {
  await withServer(() => new Response("x"), {}, async (port) => {
    const other = createHttpServer(() => new Response("y"), options());
    await assert.rejects(other.listen({ port, host: "127.0.0.1" }));
    await other.close();
  });
});
