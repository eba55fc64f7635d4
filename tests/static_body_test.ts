// A Response's body without its stream (Runtime.staticBody, src/runtime/_deno_static_body.ts and,
// under Bun, src/runtime/_bun_static_body.ts) and the writer's use of it: the same bytes and
// framing on the wire as the stream gives.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { detectRuntime } from "../src/runtime/mod.ts";
import { rawExchange, withServer } from "./_http_server.ts";
import { PATHS, ROOT } from "./_procs.ts";

const runtime = await detectRuntime();

Deno.test("Runtime.staticBody() gives the text, JSON and bytes of an unread Response", () => {
  // Deno keeps them (these tests run under Deno); a Deno that stops would fail here first.
  assert.equal(runtime.staticBody(new Response("héllo")), "héllo");
  assert.equal(runtime.staticBody(new Response("a", { status: 201, headers: { x: "y" } })), "a");
  assert.equal(runtime.staticBody(Response.json({ a: 1 })), '{"a":1}');
  assert.deepEqual(
    runtime.staticBody(new Response(new Uint8Array([1, 2]))),
    new Uint8Array([1, 2]),
  );
  const read = new Response("abc");
  read.headers.forEach(() => {});
  assert.equal(runtime.staticBody(read), "abc", "reading the headers leaves the body alone");
});

Deno.test("Runtime.staticBody() is null for streams, null bodies and bodies already read", async () => {
  assert.equal(runtime.staticBody(new Response(new ReadableStream())), null);
  assert.equal(runtime.staticBody(new Response(new Blob(["abc"]))), null);
  assert.equal(runtime.staticBody(new Response(null)), null);
  const streamed = new Response("abc");
  streamed.body;
  assert.equal(runtime.staticBody(streamed), null);
  const used = new Response("abc", { headers: { x: "y" } });
  await used.text();
  assert.equal(runtime.staticBody(used), null);
});

const BIG = "é".repeat(10_000); // 20 000 bytes: past the size copied next to the head

for (
  const [name, make] of [
    ["a UTF-8 text", () => new Response("héllo wörld")],
    ["a text larger than one copied write", () => new Response(BIG)],
    [
      "a UTF-8 text with a Latin-1 header value",
      () => new Response("héllo", { headers: { "x-name": "caf\u00e9" } }),
    ],
    ["a text with a lone surrogate", () => new Response("a\ud800b")],
    [
      "a UTF-8 text with an ASCII header field",
      () => new Response("héllo", { headers: { "x-a": "1" } }),
    ],
    [
      "a UTF-8 text with a Latin-1 cookie",
      () => new Response("héllo", { headers: { "set-cookie": "n=caf\u00e9" } }),
    ],
    ["bytes with an init", () => new Response(new Uint8Array([104, 105]), { status: 202 })],
    ["an empty text", () => new Response("")],
  ] as const
) {
  Deno.test(`createHttpServer() writes ${name} without its stream as the stream would`, async () => {
    const answers: {
      method: string;
      status: number;
      headers: Record<string, string>;
      body: string;
    }[] = [];
    for (const staticBody of [undefined, runtime.staticBody]) {
      await withServer(make, { staticBody }, async (port) => {
        for (const method of ["GET", "HEAD"]) {
          const r = await rawExchange(
            port,
            `${method} / HTTP/1.1\r\nHost: h\r\n\r\n`,
            method === "HEAD",
          );
          delete r.headers["date"];
          answers.push({ method, status: r.status, headers: r.headers, body: r.body.toString() });
        }
      });
    }
    const length = new TextEncoder().encode(await make().text()).length;
    // HEAD: the length of a body known without its stream goes out, as Deno.serve sends it; the
    // stream's length is not known without reading it.
    assert.equal(answers[3].headers["content-length"], String(length));
    assert.equal(answers[1].headers["content-length"], undefined);
    answers[1].headers["content-length"] = String(length);
    assert.deepEqual(answers.slice(2), answers.slice(0, 2));
    assert.equal(answers[0].headers["content-length"], String(length));
    assert.equal(Buffer.byteLength(answers[0].body), length);
  });
}

Deno.test("under Bun: string bodies are known once rememberStaticBodies() ran, every Response stays one, and they go out as Bun.serve writes them", () => {
  // The checks run in a Bun process (tests/fixtures/bun/static_body_check.ts): they change
  // the global Response, as a Bun worker on the shared socket does.
  const run = spawnSync(PATHS.bun, ["tests/fixtures/bun/static_body_check.ts"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(run.stdout.trim(), "ok", run.stderr.slice(0, 4000));
  assert.equal(run.status, 0);
});
