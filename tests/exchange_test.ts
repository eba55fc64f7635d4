// One request through the app (src/http/exchange.ts) over a real socket: throws, non-Responses and
// broken bodies become onAppError's reply or a cut connection; onRequestDone follows each answer.

import assert from "node:assert/strict";
import type { FetchHandler } from "../src/http/types.ts";
import { delay, RawClient, rawExchange, withServer } from "./_http_server.ts";

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
