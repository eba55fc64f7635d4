// The request-head parser (src/http/parser.ts): Host rules, absolute-form targets, duplicate
// fields and header_map on their own, then the limits and malformed heads through a real socket
// (the status on the wire, then the close). The raw-socket corpus covers the same rules end to end.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { HeadScanner, ParseError, parseHead } from "../src/http/parser.ts";
import type { HeadLimits, RequestHead } from "../src/http/parser.ts";
import { RawClient, rawExchange, withServer } from "./_http_server.ts";

const DEFAULTS: HeadLimits = {
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
};

/** Scans and parses one head written with \n line ends (turned into CRLF). */
function parse(head: string, limits: Partial<HeadLimits> = {}): RequestHead {
  const buf = Buffer.from(head.replaceAll("\n", "\r\n"), "latin1");
  const scanner = new HeadScanner({ ...DEFAULTS, ...limits });
  const end = scanner.scan(buf);
  assert.equal(end, buf.length, "the head should end at the blank line");
  return parseHead(buf, scanner, end);
}

function refused(head: string, status: number, message: RegExp, limits?: Partial<HeadLimits>) {
  assert.throws(
    () => parse(head, limits),
    (e) => e instanceof ParseError && e.status === status && message.test(e.message),
  );
}

Deno.test("parseHead() refuses an HTTP/1.1 request without Host", () => {
  refused("GET / HTTP/1.1\nAccept: */*\n\n", 400, /^missing Host header$/);
});

Deno.test("parseHead() flags a WebSocket upgrade only with both headers, in any case, on GET", () => {
  const up = (fields: string, method = "GET") =>
    parse(`${method} /ws HTTP/1.1\nHost: x\n${fields}\n`).upgrade;
  assert.equal(up("Connection: Upgrade\nUpgrade: websocket\n"), true);
  assert.equal(up("connection: keep-alive, UPGRADE\nupgrade: WebSocket\n"), true);
  assert.equal(up("Connection: keep-alive\nConnection: upgrade\nUpgrade: websocket\n"), true);
  assert.equal(up("Upgrade: websocket\n"), false);
  assert.equal(up("Connection: upgrade\n"), false);
  assert.equal(up("Connection: upgrade\nUpgrade: h2c\n"), false);
  assert.equal(up("Connection: upgrade\nUpgrade: websocket\n", "POST"), false);
  assert.equal(up(""), false);
});

Deno.test("parseHead() takes an HTTP/1.0 request without Host", () => {
  const head = parse("GET /old HTTP/1.0\n\n");
  assert.equal(head.host, null);
  assert.equal(head.minor, 0);
});

Deno.test("parseHead() takes an empty Host value", () => {
  assert.equal(parse("OPTIONS * HTTP/1.1\nHost:\n\n").host, "");
});

Deno.test("parseHead() refuses a second Host or Content-Type, in any case", () => {
  refused("GET / HTTP/1.1\nHost: a\nhost: a\n\n", 400, /^multiple Host headers$/);
  refused(
    "POST / HTTP/1.1\nHost: a\nContent-Type: text/plain\nCONTENT-TYPE: text/plain\n\n",
    400,
    /^multiple Content-Type headers$/,
  );
});

Deno.test("parseHead() keeps one Content-Type and other 12-letter names", () => {
  const head = parse(
    "POST / HTTP/1.1\nHost: a\nContent-Type: a/b\nX-Request-Id: 1\nX-Request-Id: 2\n\n",
  );
  assert.deepEqual(head.headers.slice(1), [
    ["Content-Type", "a/b"],
    ["X-Request-Id", "1"],
    ["X-Request-Id", "2"],
  ]);
});

Deno.test("parseHead() lets an absolute-form target's authority replace Host", () => {
  const head = parse("GET http://a.example:81/x?y=1 HTTP/1.1\nHost: b.example\nAccept: */*\n\n");
  assert.equal(head.host, "a.example:81");
  assert.equal(head.path, "/x?y=1");
  assert.equal(head.target, "http://a.example:81/x?y=1", "the raw target is kept for the log");
  assert.deepEqual(head.headers, [["Host", "a.example:81"], ["Accept", "*/*"]]);
});

Deno.test("parseHead() drops an absolute-form target's scheme from the path it builds", () => {
  const head = parse("GET HTTPS://good.example/x HTTP/1.1\nHost: good.example\n\n");
  assert.equal(head.path, "/x");
  assert.equal(head.host, "good.example");
});

Deno.test("parseHead() gives an absolute-form target without a path the path /", () => {
  assert.equal(parse("GET http://a.example HTTP/1.1\nHost: a.example\n\n").path, "/");
  assert.equal(parse("GET http://a.example?q=1 HTTP/1.1\nHost: a.example\n\n").path, "/?q=1");
});

Deno.test("parseHead() takes an HTTP/1.0 absolute-form target without Host", () => {
  const head = parse("GET http://a.example/old HTTP/1.0\n\n");
  assert.equal(head.host, "a.example");
  assert.deepEqual(head.headers, []);
});

Deno.test("parseHead() refuses an absolute-form target without Host in HTTP/1.1", () => {
  refused("GET http://a.example/ HTTP/1.1\n\n", 400, /^missing Host header$/);
});

Deno.test("parseHead() refuses an absolute-form target with userinfo or no host", () => {
  for (const target of ["http://u:p@a.example/", "http:///x", "http://", "http://a\\b/"]) {
    refused(`GET ${target} HTTP/1.1\nHost: a\n\n`, 400, /^invalid authority in request target$/);
  }
});

Deno.test("parseHead() leaves out fields named with _ by default (header_map drop)", () => {
  const head = parse("GET / HTTP/1.1\nHost: a\nX_Forwarded_For: 6.6.6.6\nX-Kept: k\n\n");
  assert.deepEqual(head.headers, [["Host", "a"], ["X-Kept", "k"]]);
});

Deno.test("parseHead() never frames a body from a dropped Content_Length", () => {
  const head = parse("POST / HTTP/1.1\nHost: a\nContent_Length: 5\nTransfer_Encoding: chunked\n\n");
  assert.equal(head.contentLength, -1);
  assert.equal(head.chunked, false);
});

Deno.test("parseHead() still checks the value of a dropped field", () => {
  refused("GET / HTTP/1.1\nHost: a\nX_Y: a\x01b\n\n", 400, /invalid character in header value/);
});

Deno.test("parseHead() refuses fields named with _ when header_map is refuse", () => {
  refused("GET / HTTP/1.1\nHost: a\nX_Y: 1\n\n", 400, /^underscore in header name/, {
    headerMap: "refuse",
  });
});

Deno.test("parseHead() passes fields named with _ on when header_map is dangerous", () => {
  const head = parse("GET / HTTP/1.1\nHost: a\nX_Y: 1\n\n", { headerMap: "dangerous" });
  assert.deepEqual(head.headers, [["Host", "a"], ["X_Y", "1"]]);
});

Deno.test("HeadScanner counts dropped fields against limit_request_fields", () => {
  assert.throws(
    () => parse("GET / HTTP/1.1\nHost: a\nA_1: x\nA_2: x\n\n", { limitRequestFields: 2 }),
    (e) => e instanceof ParseError && e.status === 431,
  );
});

Deno.test("parseHead() keeps an extension method token as sent", () => {
  for (const m of ["FOO", "M-SEARCH", "ABCDEFGHIJKLMNOPQRST", "A!$%&'*+.^_`|~9"]) {
    assert.equal(parse(`${m} / HTTP/1.1\nHost: a\n\n`).method, m);
  }
});

Deno.test("parseHead() refuses methods gunicorn's default refuses", () => {
  // Lower-case letters, "#", fewer than 3 or more than 20 characters.
  for (const m of ["patch", "Post", "get", "GE#T", "GT", "ABCDEFGHIJKLMNOPQRSTU"]) {
    refused(`${m} / HTTP/1.1\nHost: a\n\n`, 400, /^invalid method$/);
  }
});

// Through a socket: each refused head gets its status and a closed connection.

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

Deno.test("parseHead() joins Cookie fields into one by '; ', where Headers would join by ', '", () => {
  const head = parse(
    "GET / HTTP/1.1\nHost: h\ncookie: a=1\nAccept: */*\nCOOKIE: b=2; c=3\nCookie: d=4\n\n",
  );
  assert.deepEqual(head.headers, [
    ["Host", "h"],
    ["cookie", "a=1; b=2; c=3; d=4"],
    ["Accept", "*/*"],
  ]);
});
