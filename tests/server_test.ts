// The HTTP server's own duties (src/http/server.ts) through real sockets: a request round trip,
// listening on TCP and unix sockets, and the graceful and immediate shutdowns.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHttpServer } from "../src/http/server.ts";
import { tlsAcceptor } from "../src/http/tls_accept.ts";
import type { RemoteAddr } from "../src/http/types.ts";
import { delay, echo, options, RawClient, withServer } from "./_http_server.ts";
import { makePki } from "./_tls.ts";

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
    // Deno.serve's shape: the listener's path; what reads the tcp shape still finds "" and 0.
    const addr = seen as RemoteAddr | null;
    assert.deepEqual(addr, { transport: "unix", path });
    assert.equal(addr?.hostname, "");
    assert.equal(addr?.port, 0);
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

Deno.test("createHttpServer() with TLS: a client that never sends a byte is closed at the head timeout (said at DEBUG) or by dropUnparsed() (counted), and close() does not wait for one past its grace", async () => {
  const dir = mkdtempSync(join(tmpdir(), "appserve-tls-"));
  try {
    const pki = makePki(dir);
    const tls = await tlsAcceptor({
      cert: readFileSync(pki.cert, "utf8"),
      key: readFileSync(pki.key, "utf8"),
      ca: "",
      certReqs: 0,
      ciphers: "",
    });
    const debug: string[] = [];
    const onDebug = (message: string) => void debug.push(message);
    await withServer(
      () => new Response("x"),
      { tls, headerTimeout: 0.3, onDebug },
      async (port) => {
        const silent = await RawClient.connect({ port });
        await silent.closed();
      },
    );
    // Said as a plain connection's (Connection.timeout), at DEBUG.
    assert.deepEqual(debug.filter((line) => line.startsWith("Closed connection")), [
      "Closed connection from ip=127.0.0.1: no request received in 0.3 s",
    ]);
    // A quick stop closes and counts one still silent (not said: its own line counts it).
    await withServer(() => new Response("x"), { tls, onDebug }, async (port, server) => {
      const dropped = await RawClient.connect({ port });
      await delay(100);
      assert.deepEqual(server.dropUnparsed(), { connections: 1, partial: 0 });
      await dropped.closed();
    });
    assert.equal(debug.filter((line) => line.startsWith("Closed connection")).length, 1);
    const server = createHttpServer(() => new Response("x"), options({ tls }));
    await server.listen({ port: 0, host: "127.0.0.1" });
    const addr = server.address();
    assert.ok(addr !== null && addr.transport === "tcp");
    const silent = await RawClient.connect({ port: addr.port });
    // The default head timeout is 30 s: close() ends the wait after the shutdown grace.
    await server.close();
    await silent.closed();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
