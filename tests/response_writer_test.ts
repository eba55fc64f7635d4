// How a Response goes on the wire (src/http/response_writer.ts), checked byte for byte through a
// real socket: one-piece, chunked and raw bodies, repeated headers, HEAD, 204/304 and HTTP/1.0.

import assert from "node:assert/strict";
import { RawClient, rawExchange, withServer } from "./_http_server.ts";

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

Deno.test("the status line has the standard reason phrase, not the app's statusText", async () => {
  // As Deno.serve and Bun.serve (docs/architecture.md, "HTTP on the shared socket").
  const cases: [number, string, string][] = [[200, "Fine", "OK"], [599, "Custom", "Unknown"]];
  for (const [status, statusText, reason] of cases) {
    await withServer(() => new Response("x", { status, statusText }), {}, async (port) => {
      const r = await rawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal(r.status, status);
      assert.equal(r.reason, reason);
    });
  }
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

function abcdefghi(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (const part of ["abc", "def", "ghi"]) c.enqueue(new TextEncoder().encode(part));
      c.close();
    },
  });
}

Deno.test("a declared length shorter than the stream: sent, the body cut to it, the connection kept", async () => {
  await withServer(
    () => new Response(abcdefghi(), { headers: { "content-length": "4" } }),
    {},
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      const r = await c.read();
      assert.equal(r.headers["content-length"], "4");
      assert.equal(r.body.toString(), "abcd");
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      assert.equal((await c.read()).body.toString(), "abcd");
      c.close();
    },
  );
});

Deno.test("streamLength 'actual': an app's length on a stream is ignored (chunked)", async () => {
  await withServer(
    () => new Response(abcdefghi(), { headers: { "content-length": "4" } }),
    { streamLength: "actual" },
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      const r = await c.read();
      assert.equal(r.headers["content-length"], undefined);
      assert.equal(r.body.toString(), "abcdefghi");
      c.close();
    },
  );
});

Deno.test("a body the runtime's fetch() decoded loses its content-encoding and content-length", async () => {
  const headers = { "content-encoding": "gzip", "content-length": "4" };
  await withServer(
    (request) => {
      const response = new Response(abcdefghi(), { headers });
      if (request.url.endsWith("/decoded")) decoded.add(response);
      return response;
    },
    { decodedBody: (response) => decoded.has(response) },
    async (port) => {
      const c = await RawClient.connect({ port });
      await c.write("GET /decoded HTTP/1.1\r\nHost: h\r\n\r\n");
      let r = await c.read();
      assert.equal(r.headers["content-encoding"], undefined);
      assert.equal(r.headers["content-length"], undefined);
      assert.equal(r.body.toString(), "abcdefghi");
      // Not decoded: the app's headers are true of its bytes, and kept.
      await c.write("GET /as-is HTTP/1.1\r\nHost: h\r\n\r\n");
      r = await c.read();
      assert.equal(r.headers["content-encoding"], "gzip");
      assert.equal(r.headers["content-length"], "4");
      c.close();
    },
  );
});
const decoded = new WeakSet<Response>();
