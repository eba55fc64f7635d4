// The request-head parser on its own (src/http/parser.ts): Host rules, absolute-form targets,
// duplicate fields and header_map, without sockets. The raw-socket corpus covers the same rules
// end to end.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { HeadScanner, ParseError, parseHead } from "../src/http/parser.ts";
import type { HeadLimits, RequestHead } from "../src/http/parser.ts";

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
