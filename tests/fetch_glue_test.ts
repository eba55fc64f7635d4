// Where a parsed head becomes the app's Request (src/http/fetch_glue.ts): the scheme and host of
// request.url, and methods the runtime's Request cannot carry unchanged; then, through a real
// socket, the ServeInfo the app gets and the URLs of absolute-form and OPTIONS * targets.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { buildRequest, fetchMethod } from "../src/http/fetch_glue.ts";
import { HeadScanner, ParseError, parseHead } from "../src/http/parser.ts";
import type { RequestHead } from "../src/http/parser.ts";
import type { HttpOptions, RemoteAddr, ServeInfo } from "../src/http/types.ts";
import { RawClient, rawExchange, withServer } from "./_http_server.ts";

const OPTIONS = {
  scheme: "http",
  defaultHost: "localhost",
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
} as HttpOptions;

function head(text: string): RequestHead {
  const buf = Buffer.from(text.replaceAll("\n", "\r\n"), "latin1");
  const scanner = new HeadScanner(OPTIONS);
  return parseHead(buf, scanner, scanner.scan(buf));
}

function build(text: string, scheme?: "http" | "https"): Request {
  const h = head(text);
  return buildRequest(h, fetchMethod(h.method), null, OPTIONS, scheme);
}

Deno.test("buildRequest() takes the scheme from the connection, not an absolute-form target", () => {
  const r = build("GET https://good.example/x HTTP/1.1\nHost: good.example\n\n");
  assert.equal(r.url, "http://good.example/x");
  assert.equal(
    build("GET http://a.example/x HTTP/1.1\nHost: a.example\n\n", "https").url,
    "https://a.example/x",
  );
});

Deno.test("buildRequest() puts an absolute-form authority in request.url and Host", () => {
  const r = build("GET http://a.example:81/p?q=1 HTTP/1.1\nHost: b.example\n\n");
  assert.equal(r.url, "http://a.example:81/p?q=1");
  assert.equal(r.headers.get("host"), "a.example:81");
});

Deno.test("buildRequest() passes an extension method the runtime keeps unchanged", () => {
  // Deno's Request keeps every token (deno test runs these under Deno).
  assert.equal(build("FOO / HTTP/1.1\nHost: a\n\n").method, "FOO");
  assert.equal(build("PATCH / HTTP/1.1\nHost: a\n\n").method, "PATCH");
  assert.equal(
    build("ABCDEFGHIJKLMNOPQRST / HTTP/1.1\nHost: a\n\n").method,
    "ABCDEFGHIJKLMNOPQRST",
  );
});

// Bun's Request, reduced to what matters here: methods it does not know become GET. Patched into
// the prototype every Request inherits from, so the app's Request (a subclass) has it too.
function rewritingMethods(): () => void {
  const native = Object.getOwnPropertyDescriptor(Request.prototype, "method")!;
  Object.defineProperty(Request.prototype, "method", {
    ...native,
    get(this: Request): string {
      const m: string = native.get!.call(this);
      // (Bun also upper-cases the ones it knows; the parser lets no lower-case method through.)
      return ["GET", "POST", "PATCH", "PURGE"].includes(m.toUpperCase()) ? m.toUpperCase() : "GET";
    },
  });
  return () => Object.defineProperty(Request.prototype, "method", native);
}

Deno.test("buildRequest() answers 501 where the runtime's Request would rewrite the method", () => {
  const restore = rewritingMethods();
  try {
    for (const method of ["FOO", "M-SEARCH"]) {
      assert.throws(
        () => build(`${method} / HTTP/1.1\nHost: a\n\n`),
        (e) =>
          e instanceof ParseError && e.status === 501 &&
          e.message === `method "${method}" cannot be passed on unchanged by this runtime`,
      );
    }
    assert.equal(build("PURGE / HTTP/1.1\nHost: a\n\n").method, "PURGE");
    assert.equal(build("GET / HTTP/1.1\nHost: a\n\n").method, "GET");
  } finally {
    restore();
  }
});

// Through a socket.

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
