// Bun's `routes` as src/app/bun_routes.ts serves them, against what Bun 1.4.4's Bun.serve was
// measured to do (tests/e2e/bun_routes_test.ts compares the two on the wire).

import assert from "node:assert/strict";
import { decodeParam, pathOf } from "../src/app/bun_routes.ts";
import { toHandler } from "../src/app/load_app.ts";
import { routesHandler } from "../src/app/bun_routes.ts";
import { AppLoadError } from "../src/errors.ts";
import type { FetchHandler, ServeInfo } from "../src/fetch_handler.ts";

const info: ServeInfo = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  requestIP: () => null,
};

type Routed = Request & { params?: Record<string, string> };

// A handler that answers its name, the method and the params it saw.
const named = (name: string) => (request: Routed) =>
  new Response(`${name} ${request.method} ${JSON.stringify(request.params)}`);

const fetchFallback: FetchHandler = (request: Routed) =>
  new Response(`fetch ${pathOf(request.url)} ${"params" in request}`, { status: 299 });

async function ask(handler: FetchHandler, path: string, method = "GET"): Promise<string> {
  const response = await handler(new Request(`http://x${path}`, { method }), info);
  return `${response.status} ${await response.text()}`;
}

Deno.test("routes: exact before param before wildcard, searched segment by segment", async () => {
  const handler = routesHandler({
    "/users/me": named("me"),
    "/users/:id": named("user"),
    "/users/:id/posts/:post": named("post"),
    "/users/*": named("users*"),
    "/*": named("root*"),
    "/a/:x/c": named("a:x/c"),
    "/a/b/*": named("a/b/*"),
    "/p/:x/*": named("p:x/*"),
    "/p/b/:y": named("p/b/:y"),
  }, fetchFallback);
  assert.equal(await ask(handler, "/users/me"), "200 me GET {}");
  assert.equal(await ask(handler, "/users/42"), '200 user GET {"id":"42"}');
  assert.equal(await ask(handler, "/users/42/posts/7?x=1"), '200 post GET {"id":"42","post":"7"}');
  assert.equal(await ask(handler, "/users/42/other"), "200 users* GET {}");
  // An empty segment is no parameter, but is what a wildcard takes.
  assert.equal(await ask(handler, "/users/"), "200 users* GET {}");
  assert.equal(await ask(handler, "/users"), "200 root* GET {}");
  assert.equal(await ask(handler, "/"), "200 root* GET {}");
  // Static `b` is tried first and its wildcard takes `c`: Bun's tree, not a ranking of routes.
  assert.equal(await ask(handler, "/a/b/c"), "200 a/b/* GET {}");
  assert.equal(await ask(handler, "/a/z/c"), '200 a:x/c GET {"x":"z"}');
  // Backtracking: /p/b/:y cannot take two segments, /p/:x/* can.
  assert.equal(await ask(handler, "/p/b/c"), '200 p/b/:y GET {"y":"c"}');
  assert.equal(await ask(handler, "/p/b/c/d"), '200 p:x/* GET {"x":"b"}');
});

Deno.test("routes: trailing slashes are other paths, the query is no part of one", async () => {
  const handler = routesHandler({ "/x": named("x"), "/y/": named("y/") }, fetchFallback);
  assert.equal(await ask(handler, "/x?a=1"), "200 x GET {}");
  assert.equal(await ask(handler, "/x/"), "299 fetch /x/ false");
  assert.equal(await ask(handler, "/y/"), "200 y/ GET {}");
  assert.equal(await ask(handler, "/y"), "299 fetch /y false");
  assert.equal(await ask(handler, "/X"), "299 fetch /X false");
});

Deno.test("routes: per-method objects, HEAD by GET, the rest to fetch or a wider route", async () => {
  const handler = routesHandler({
    "/m": { GET: named("get"), POST: named("post"), PUT: false, DELETE: undefined },
    "/h": { GET: named("get"), HEAD: named("head") },
    "/a/b": { GET: named("a/b") },
    "/a/:x": { POST: named("a:x") },
    "/a/*": { PUT: named("a*") },
  }, fetchFallback);
  assert.equal(await ask(handler, "/m"), "200 get GET {}");
  assert.equal(await ask(handler, "/m", "POST"), "200 post POST {}");
  assert.equal((await handler(new Request("http://x/m", { method: "HEAD" }), info)).status, 200);
  const head = await handler(new Request("http://x/h", { method: "HEAD" }), info);
  assert.equal(await head.text(), "head HEAD {}");
  // Object's own names are no methods of a route (a client may send any token).
  for (const method of ["PUT", "DELETE", "PATCH", "OPTIONS", "constructor", "toString"]) {
    assert.equal(await ask(handler, "/m", method), "299 fetch /m false");
  }
  assert.equal(await ask(handler, "/a/b", "POST"), '200 a:x POST {"x":"b"}');
  assert.equal(await ask(handler, "/a/b", "PUT"), "200 a* PUT {}");
  assert.equal(await ask(handler, "/a/b", "DELETE"), "299 fetch /a/b false");
});

Deno.test("routes: false sends its path to fetch, past a wildcard; undefined is no route", async () => {
  const handler = routesHandler({
    "/api/*": named("api*"),
    "/api/skip": false,
    "/api/u": undefined,
  }, fetchFallback);
  assert.equal(await ask(handler, "/api/skip"), "299 fetch /api/skip false");
  assert.equal(await ask(handler, "/api/u"), "200 api* GET {}");
});

Deno.test("routes: a static Response answers every method, each time with a fresh body", async () => {
  const original = new Response("static", { status: 201, headers: { "x-static": "1" } });
  const handler = routesHandler({ "/s": original }, null);
  for (const method of ["GET", "GET", "POST", "DELETE"]) {
    const response = await handler(new Request("http://x/s", { method }), info);
    assert.deepEqual(
      [response.status, response.headers.get("x-static"), await response.text()],
      [201, "1", "static"],
    );
  }
  assert.equal(original.bodyUsed, false);
});

Deno.test("routes: without fetch, what no route takes is a 404 without a body", async () => {
  const handler = routesHandler({ "/a": named("a"), "/b": false }, null);
  for (const path of ["/nope", "/b"]) {
    const response = await handler(new Request(`http://x${path}`), info);
    assert.deepEqual([response.status, await response.text()], [404, ""]);
  }
});

Deno.test("routes: a handler gets the request with its params, and info as this and server", async () => {
  let seen: unknown[] = [];
  const handler = routesHandler({
    "/p/:id": function (this: unknown, request: Routed, server: unknown) {
      seen = [this, server, request.params];
      return new Response("ok");
    },
  }, null);
  await handler(new Request("http://x/p/a%20b"), info);
  assert.deepEqual(seen, [info, info, { id: "a b" }]);
});

Deno.test("decodeParam() percent-decodes, invalid escapes and UTF-8 as U+FFFD, + kept", () => {
  assert.equal(decodeParam("plain+text"), "plain+text");
  assert.equal(decodeParam("a%20b%2Fc"), "a b/c");
  assert.equal(decodeParam("%E2%9C%93"), "✓");
  assert.equal(decodeParam("%ZZ"), "\uFFFD");
  assert.equal(decodeParam("a%ZZb"), "a\uFFFDb");
  assert.equal(decodeParam("a%C3b"), "a\uFFFDb");
  assert.equal(decodeParam("a%2"), "a\uFFFD2");
});

Deno.test("pathOf() is the URL's path, without query or fragment", () => {
  assert.equal(pathOf("http://x/a/b?c=/d"), "/a/b");
  assert.equal(pathOf("http://[::1]:8000/a#f"), "/a");
  assert.equal(pathOf("http://x"), "/");
  assert.equal(pathOf("http://x/"), "/");
});

Deno.test("routes: what Bun refuses at serve() is one load error", () => {
  const refused: [unknown, RegExp][] = [
    [{ "a": named("a") }, /Route "a" must start with "\/"/],
    [{ "/é": named("a") }, /Route "\/é" has a character to percent-encode/],
    [{ "/n": 42 }, /Route "\/n" is a number; expected a Response, a handler/],
    [{ "/n": null }, /Route "\/n" is null/],
    [{ "/n": true }, /Route "\/n" is a boolean/],
    [{ "/n": {} }, /Route "\/n" is an empty object/],
    [{ "/n": { get: named("a") } }, /Route "\/n" has key "get"; a per-method route takes GET, /],
    [{ "/n": { GET: 1 } }, /Route "\/n"\.GET is a number/],
    [{ "/d/:x/:x": named("a") }, /Route "\/d\/:x\/:x" names the parameter "x" twice/],
    [{ "/h": { index: "./index.html" } }, /Route "\/h" is an HTML import: Bun's bundler serves/],
    [{ "/s/*": { dir: "./public" } }, /Route "\/s\/\*" is a directory route/],
    [{ "/f": new Blob(["x"]) }, /Route "\/f" is a file \(a Blob\)/],
  ];
  for (const [routes, message] of refused) {
    assert.throws(() => routesHandler(routes, null), (e: Error) => {
      assert.ok(e instanceof AppLoadError);
      assert.match(e.message, message);
      return true;
    });
  }
  const read = new Response("x");
  void read.text();
  assert.throws(() => routesHandler({ "/r": read }, null), /already read/);
});

Deno.test("toHandler() serves routes (or static, their older name), with or without fetch", async () => {
  const routesOnly = toHandler({ routes: { "/a": named("a") } }, "app");
  assert.equal(await ask(routesOnly, "/a"), "200 a GET {}");
  assert.equal(await ask(routesOnly, "/b"), "404 ");
  assert.equal(routesOnly.ignored, undefined);
  const both = toHandler({
    static: { "/old": new Response("old"), "/both": new Response("static") },
    routes: { "/both": new Response("routes") },
    fetch: fetchFallback,
  }, "app");
  // Beside routes, Bun ignores static.
  assert.equal(await ask(both, "/old"), "299 fetch /old false");
  assert.equal(await ask(both, "/both"), "200 routes");
  const old = toHandler({ static: { "/old": new Response("old") }, fetch: fetchFallback }, "app");
  assert.equal(await ask(old, "/old"), "200 old");
  assert.equal(await ask(both, "/else"), "299 fetch /else false");
  // A route's error goes to the app's error handler, as fetch's does.
  const withError = toHandler({
    routes: { "/t": () => Promise.reject(new Error("boom")) },
    error: (e: Error) => new Response(`handled ${e.message}`, { status: 503 }),
  }, "app");
  assert.equal(await ask(withError, "/t"), "503 handled boom");
  // Nothing to serve: the same error as an object without fetch.
  assert.throws(
    () => toHandler({ routes: { "/x": false } }, "app"),
    /expected an object with a fetch/,
  );
  assert.throws(() => toHandler({ routes: 1, fetch: fetchFallback }, "app"), /routes is a number/);
  // A framework's app keeps its own `routes` to itself.
  class Framework {
    routes = { "/a": named("a") };
    fetch = fetchFallback;
  }
  assert.equal(await ask(toHandler(new Framework(), "app"), "/a"), "299 fetch /a false");
});

// A static route's ETag is set once its body has been read at load: a few turns later.
const settled = () => new Promise((resolve) => setTimeout(resolve, 20));

Deno.test("routes: a static Response with immutable fields gets its ETag on a copy", async () => {
  // fetch()'s Response has immutable headers in Deno.
  const fetched = await fetch("data:text/plain,hello");
  const handler = routesHandler({ "/f": fetched }, null);
  await settled();
  const response = await handler(new Request("http://x/f"), info);
  assert.match(response.headers.get("etag") ?? "", /^"[0-9a-f]{16}"$/);
  assert.equal(await response.text(), "hello");
  const again = await handler(
    new Request("http://x/f", { headers: { "if-none-match": response.headers.get("etag")! } }),
    info,
  );
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("content-type"), fetched.headers.get("content-type"));
});

Deno.test("routes: a static Response whose body cannot be read goes out untagged", async () => {
  const failing = new Response(new ReadableStream({ pull: (c) => c.error(new Error("gone")) }));
  const handler = routesHandler({ "/x": failing }, null);
  await settled();
  const response = await handler(
    new Request("http://x/x", { headers: { "if-none-match": "*" } }),
    info,
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("etag"), null);
  await assert.rejects(response.text());
});

Deno.test("routes: a static Response gets Bun.serve's fields once its body is read", async () => {
  // What Bun's Response keeps out of its fields (Runtime.impliedType): a string's type (bytes
  // here, Deno's Response has a string's in its fields); a bytes' is not sent by Bun.serve.
  const implied = (r: Response) =>
    r.headers.has("x-string") ? "text/plain;charset=utf-8" : "application/octet-stream";
  const handler = routesHandler(
    {
      "/text": new Response(new TextEncoder().encode("text"), { headers: { "x-string": "1" } }),
      "/bytes": new Response(new Uint8Array([1, 2])),
      "/empty": new Response(""),
      "/typed-empty": new Response("", { headers: { "content-type": "text/html" } }),
      "/blob": new Response(new Blob(["abc"], { type: "image/png" })),
      "/none": new Response(null, { status: 204 }),
    },
    null,
    null,
    implied,
  );
  await settled();
  const fields = async (path: string, method = "HEAD") => {
    const response = await handler(new Request(`http://x${path}`, { method }), info);
    return [response.headers.get("content-type"), response.headers.get("content-length")];
  };
  assert.deepEqual(await fields("/text"), ["text/plain;charset=utf-8", "4"]);
  assert.deepEqual(await fields("/bytes"), [null, "2"]);
  // Deno's Response types an empty string; Bun.serve sends no type for one.
  assert.deepEqual(await fields("/empty"), [null, null]);
  assert.deepEqual(await fields("/empty", "GET"), [null, null]);
  assert.deepEqual(await fields("/typed-empty"), ["text/html", null]);
  assert.deepEqual(await fields("/blob"), ["image/png", "3"]);
  assert.deepEqual(await fields("/none"), [null, null]);
});
