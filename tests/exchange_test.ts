// One request through the app (src/http/exchange.ts) over a real socket: throws, non-Responses and
// broken bodies become onAppError's reply or a cut connection; onRequestDone follows each answer,
// one whose client went away included, but not one closeNow() cut off; request.signal aborts for
// a client gone or a connection cut off.

import assert from "node:assert/strict";
import net from "node:net";
import { createHttpServer } from "../src/http/server.ts";
import type { FetchHandler } from "../src/http/types.ts";
import { WebSocketHub } from "../src/http/websocket/hub.ts";
import { delay, options, RawClient, rawExchange, withServer } from "./_http_server.ts";
import { connect } from "./_ws_client.ts";

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

/** An event every 20 ms, `count` of them (each "data: N\n\n" padded to 32 bytes). */
function ticking(count: number): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (n === count) return c.close();
      if (n > 0) await delay(20);
      c.enqueue(new TextEncoder().encode(`data: ${n++}\n\n`.padEnd(32, " ")));
    },
  }, { highWaterMark: 0 });
}

type Done = { status: number; bytes: number; ms: number };

/**
 * Connects, sends a GET, waits until `bytes` of the answer arrived (0: until the request is
 * sent), then drops the socket (with a reset for 0: a client gone, not one that half-closed).
 */
async function abandonAfter(port: number, bytes: number): Promise<void> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  let got = 0;
  await new Promise<void>((resolve) => {
    socket.on("data", (d: Uint8Array) => {
      got += d.length;
      if (got >= bytes) resolve();
    });
    socket.write("GET /sse HTTP/1.1\r\nHost: h\r\n\r\n", () => {
      if (bytes === 0) resolve();
    });
  });
  if (bytes === 0) socket.resetAndDestroy();
  else socket.destroy();
}

Deno.test("createHttpServer() calls onRequestDone once for a stream its client abandoned", async () => {
  const done: Done[] = [];
  await withServer(() => new Response(ticking(1000)), {
    onRequestDone: (_req, res, ms, details) =>
      done.push({ status: res.status, bytes: details.bodyBytes, ms }),
  }, async (port) => {
    // The head and a few events, then the client is gone.
    await abandonAfter(port, 200);
    for (let i = 0; i < 100 && done.length === 0; i++) await delay(20);
    await delay(100);
  });
  assert.equal(done.length, 1, JSON.stringify(done));
  assert.equal(done[0].status, 200);
  assert.ok(done[0].bytes > 0 && done[0].bytes < 1000 * 32, `${done[0].bytes} bytes`);
  assert.ok(done[0].ms < 5000, `${done[0].ms} ms`);
});

Deno.test("createHttpServer() logs a request whose client left before its head: app's status, 0 bytes", async () => {
  const done: Done[] = [];
  let answered!: () => void;
  const answer = new Promise<void>((resolve) => answered = resolve);
  await withServer(async () => {
    await answer;
    return new Response("late", { status: 201 });
  }, {
    onRequestDone: (_req, res, ms, details) =>
      done.push({ status: res.status, bytes: details.bodyBytes, ms }),
  }, async (port) => {
    await abandonAfter(port, 0);
    await delay(50);
    answered();
    for (let i = 0; i < 100 && done.length === 0; i++) await delay(20);
    await delay(50);
  });
  assert.deepEqual(done.map(({ status, bytes }) => ({ status, bytes })), [{
    status: 201,
    bytes: 0,
  }]);
});

/**
 * A server of `app` on a loopback port, its onRequestDone calls kept in `done`, and one client
 * connected to it (`closed` once its connection closed): what closeNow() does to a connection.
 */
async function clientOf(app: FetchHandler) {
  const done: Done[] = [];
  const server = createHttpServer(
    app,
    options({
      onRequestDone: (_req, res, ms, details) =>
        done.push({ status: res.status, bytes: details.bodyBytes, ms }),
    }),
  );
  await server.listen({ port: 0, host: "127.0.0.1" });
  const addr = server.address();
  assert.ok(addr !== null && addr.transport === "tcp");
  const socket = net.connect({ port: addr.port, host: "127.0.0.1" });
  socket.on("error", () => {});
  const closed = new Promise((resolve) => socket.on("close", resolve));
  return { server, socket, done, closed };
}

// Twice: a gthread thread's end closes its servers again while its drain's cut is under way.
for (const twice of [false, true]) {
  Deno.test(`createHttpServer() logs a response closeNow() cuts mid-body once, as its client got it${twice ? " (closeNow() twice)" : ""}`, async () => {
    const { server, socket, done, closed } = await clientOf(() => new Response(ticking(1000)));
    await new Promise<void>((resolve) => {
      socket.once("data", () => resolve());
      socket.write("GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
    });
    const cuts = twice ? [server.closeNow(), server.closeNow()] : [server.closeNow()];
    // At the cut, not when the writer stops: the process may be about to end.
    assert.equal(done.length, 1);
    await Promise.all(cuts);
    await closed;
    await delay(200);
    assert.equal(done.length, 1, JSON.stringify(done));
    assert.equal(done[0].status, 200);
    assert.ok(done[0].bytes > 0, `${done[0].bytes}`);
  });
}

Deno.test("createHttpServer() answers a stream closeNow() cuts before its first chunk with the 504, and logs that", async () => {
  let cancelled = false;
  const { server, socket, done, closed } = await clientOf(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull: () => new Promise<void>(() => {}),
        cancel: () => {
          cancelled = true;
        },
      }, { highWaterMark: 0 }),
    )
  );
  let got = "";
  socket.on("data", (d) => (got += d));
  socket.write("GET /late HTTP/1.1\r\nHost: h\r\n\r\n");
  await delay(100);
  await server.closeNow();
  await closed;
  await delay(100);
  assert.match(got, /^HTTP\/1\.1 504 /);
  assert.doesNotMatch(got, /200/);
  assert.deepEqual(done.map((d) => [d.status, d.bytes]), [[504, 16]]);
  assert.ok(cancelled, "the app's stream is cancelled");
});

Deno.test("createHttpServer() leaves the access line of a request closeNow() answers with a 504 to its caller", async () => {
  const { server, socket, done, closed } = await clientOf(() => new Promise<Response>(() => {}));
  let got = "";
  socket.on("data", (d) => (got += d));
  socket.write("GET /hang HTTP/1.1\r\nHost: h\r\n\r\n");
  await delay(100);
  await server.closeNow();
  await closed;
  assert.match(got, /^HTTP\/1\.1 504 /);
  assert.deepEqual(done, []);
});

/** What an app saw of `request.signal`: each abort event's reason, and other marks. */
function signalSeen(): { events: string[]; watch(request: Request): void } {
  const events: string[] = [];
  return {
    events,
    watch(request) {
      const signal = request.signal;
      signal.addEventListener("abort", () => {
        const reason = signal.reason as DOMException;
        events.push(`abort ${reason instanceof DOMException} ${reason.name}: ${reason.message}`);
      });
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await delay(20);
}

const GONE = "abort true AbortError: The connection was closed.";

Deno.test("createHttpServer() aborts request.signal when the client goes away while the app works", async () => {
  const seen = signalSeen();
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => answer = resolve);
  await withServer(
    async (request) => {
      seen.watch(request);
      await answered;
      seen.events.push(`answering, aborted ${request.signal.aborted}`);
      return new Response("late");
    },
    {},
    async (port) => {
      await abandonAfter(port, 0);
      await until(() => seen.events.length > 0);
      answer();
      await until(() => seen.events.length > 1);
    },
  );
  assert.deepEqual(seen.events, [GONE, "answering, aborted true"]);
});

Deno.test("createHttpServer() aborts request.signal when the client goes away mid-stream, before the stream's cancel", async () => {
  const seen = signalSeen();
  await withServer(
    (request) => {
      seen.watch(request);
      const body = ticking(1000);
      const reader = body.getReader();
      return new Response(
        new ReadableStream({
          pull: async (c) => {
            const r = await reader.read();
            if (r.done) c.close();
            else c.enqueue(r.value);
          },
          cancel: () => void seen.events.push("cancel"),
        }, { highWaterMark: 0 }),
      );
    },
    {},
    async (port) => {
      await abandonAfter(port, 200);
      await until(() => seen.events.length > 1);
    },
  );
  assert.deepEqual(seen.events, [GONE, "cancel"]);
});

Deno.test("createHttpServer() aborts request.signal of a half-closed client, and still answers it", async () => {
  const seen = signalSeen();
  await withServer(
    async (request) => {
      seen.watch(request);
      await delay(50);
      return new Response(`aborted ${request.signal.aborted}`);
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      c.socket.end("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal((await c.read()).body.toString(), "aborted true");
      await c.closed();
    },
  );
  assert.deepEqual(seen.events, [GONE]);
});

Deno.test("createHttpServer() leaves request.signal alone after a response that went out whole", async () => {
  const seen = signalSeen();
  const requests: Request[] = [];
  await withServer(
    (request) => {
      requests.push(request);
      if (new URL(request.url).pathname === "/read") seen.watch(request);
      return new Response(new URL(request.url).pathname === "/stream" ? ticking(3) : "x");
    },
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      for (const path of ["/read", "/stream", "/late"]) {
        await c.write(`GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`);
        await c.read();
      }
      c.close();
      await delay(50);
    },
  );
  assert.deepEqual(seen.events, []);
  // Read only now, after the response and the connection's close.
  assert.deepEqual(requests.map((r) => r.signal.aborted), [false, false, false]);
});

Deno.test("createHttpServer() with requestSignal.afterResponse aborts it once a response went out whole", async () => {
  const seen = signalSeen();
  const requests: Request[] = [];
  const message = "The request has been cancelled.";
  await withServer(
    (request) => {
      requests.push(request);
      seen.watch(request);
      seen.events.push("app");
      return new Response(new URL(request.url).pathname === "/stream" ? ticking(3) : "x");
    },
    { requestSignal: { message, afterResponse: true } },
    async (port) => {
      const c = await RawClient.connect({ port });
      for (const path of ["/", "/stream"]) {
        await c.write(`GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`);
        await c.read();
        await until(() => seen.events.length % 2 === 0);
      }
      c.close();
    },
  );
  const after = `abort true AbortError: ${message}`;
  assert.deepEqual(seen.events, ["app", after, "app", after]);
  assert.deepEqual(requests.map((r) => r.signal.aborted), [true, true]);
});

Deno.test("createHttpServer() closeNow() aborts request.signal of the request it cuts off", async () => {
  const seen = signalSeen();
  const server = createHttpServer((request) => {
    seen.watch(request);
    return new Response(ticking(1000));
  }, options());
  await server.listen({ port: 0, host: "127.0.0.1" });
  const addr = server.address();
  assert.ok(addr !== null && addr.transport === "tcp");
  const socket = net.connect({ port: addr.port, host: "127.0.0.1" });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => {
    socket.once("data", () => resolve());
    socket.write("GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
  });
  // At once: the process may be about to end.
  server.closeNow();
  assert.deepEqual(seen.events, [GONE]);
  socket.destroy();
});

Deno.test("createHttpServer() aborts an upgraded request's signal when its session ends (at the upgrade with requestSignal.afterResponse)", async () => {
  for (const afterResponse of [false, true]) {
    const seen = signalSeen();
    const hub = new WebSocketHub({
      maxMessage: 1024,
      idleTimeout: 0,
      sendLimit: 1024 * 1024,
      warn: () => {},
      appError: () => {},
    });
    hub.setHandlers({ message: (ws, m) => ws.send(m) });
    await withServer(
      (request, info) => {
        seen.watch(request);
        info.upgrade!(request);
        return undefined as unknown as Response;
      },
      { websocket: hub, requestSignal: { message: "gone", afterResponse } },
      async (port) => {
        const ws = await connect("native", `ws://127.0.0.1:${port}/`);
        ws.send("x");
        assert.equal(await ws.next(), "x");
        // Bun.serve: not while the session lasts; Deno.serve: once the 101 went out.
        assert.deepEqual(seen.events, afterResponse ? ["abort true AbortError: gone"] : []);
        ws.close();
        await ws.closed;
        await until(() => seen.events.length > 0);
      },
    );
    assert.deepEqual(
      seen.events,
      ["abort true AbortError: gone"],
      `afterResponse ${afterResponse}`,
    );
  }
});
