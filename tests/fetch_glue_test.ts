// Where a parsed head becomes the app's Request (src/http/fetch_glue.ts): the scheme and host of
// request.url, and methods the runtime's Request cannot carry unchanged.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { buildRequest, fetchMethod } from "../src/http/fetch_glue.ts";
import { HeadScanner, ParseError, parseHead } from "../src/http/parser.ts";
import type { RequestHead } from "../src/http/parser.ts";
import type { HttpOptions } from "../src/http/types.ts";

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

// Bun's Request, reduced to what matters here: methods it does not know become GET.
class RewritingRequest extends Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    const m = init?.method;
    const known = m === undefined || ["GET", "POST", "PATCH", "PURGE"].includes(m.toUpperCase());
    // (Bun also upper-cases the ones it knows; the parser lets no lower-case method through.)
    super(input, { ...init, method: m === undefined ? "GET" : known ? m.toUpperCase() : "GET" });
  }
}

Deno.test("buildRequest() answers 501 where the runtime's Request would rewrite the method", () => {
  const real = globalThis.Request;
  globalThis.Request = RewritingRequest;
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
    globalThis.Request = real;
  }
});
