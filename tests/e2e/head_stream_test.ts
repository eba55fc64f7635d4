// A HEAD answer carries the head the GET would (RFC 9110 9.3.2), with no false Content-Length: none
// for a stream of unknown length (the shared socket, Deno.serve; Bun.serve says it is chunked), the
// app's own for a stream it declared one for (Bun.serve dropped it under --reuse-port), and, under
// --reuse-port with Bun workers, the length Bun.serve knows of a Blob (appserve's stream tap hid it).

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "head_app.ts");
const MODES: [string, string[]][] = [
  ["async", []],
  ["sync", ["-k", "sync"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
  ["--reuse-port", ["--reuse-port"]],
];

for (const [name, flags] of MODES) {
  e2e(
    `HEAD answers keep the GET's length and claim none for a stream (${name})`,
    async (target) => {
      const native = flags.includes("--reuse-port");
      const bind = `127.0.0.1:${native ? await freePort() : 0}`;
      const server = start(target, ["-w", "1", ...flags, "-b", bind, APP]);
      try {
        const url = await server.ready(1);
        const head = async (path: string) => {
          const response = await fetch(`${url}${path}`, { method: "HEAD" });
          await response.body?.cancel();
          assert.equal(response.status, 200, path);
          return response.headers.get("content-length");
        };
        const get = async (path: string) => (await (await fetch(`${url}${path}`)).text()).length;
        assert.equal(await head("/stream"), null);
        assert.equal(await head("/declared"), "5");
        assert.equal(await head("/string"), "11");
        const blob = await head("/blob");
        if (native && target.workers === "bun") assert.equal(blob, "5");
        else assert.ok(blob === null || blob === "5", `${blob}`);
        // The GETs the HEADs stand for.
        for (const path of ["/stream", "/declared", "/blob"]) {
          assert.equal(await get(path), 5, path);
        }
      } finally {
        await server.stop();
      }
    },
  );
}

// A Response returned to a HEAD and then, the same object, to a GET: the HEAD's body is not sent,
// and the natives consume it all the same (measured: Deno.serve 2.9.6 every kind, Bun.serve 1.4.4
// all but a Blob's), then refuse the GET with a 500 (Bun.serve still answers a HEAD of it). The
// shared socket, which cancels a stream left unsent, sent that spent body as an empty 200; under
// Bun it cancelled a file's too, where Bun.serve sends the GET whole.
for (const [name, flags] of MODES) {
  e2e(
    `a Response answered to a HEAD is never sent again as an empty GET (${name})`,
    async (target) => {
      const native = flags.includes("--reuse-port");
      const bind = `127.0.0.1:${native ? await freePort() : 0}`;
      const server = start(target, ["-w", "1", ...flags, "-b", bind, APP]);
      try {
        const url = await server.ready(1);
        for (const kind of ["stream", "blob", ...(target.workers === "bun" ? ["file"] : [])]) {
          const head = await fetch(`${url}/same/${kind}`, { method: "HEAD" });
          await head.body?.cancel();
          assert.equal(head.status, 200, kind);
          const get = await fetch(`${url}/same/${kind}`);
          const text = await get.text();
          // Bun.serve sends a Blob or a file a HEAD left unread; the shared socket leaves unread
          // only a body whose length Bun knows without reading it (a file's): a plain Blob streams.
          const unread = kind === "file" || (native && kind === "blob" && target.workers === "bun");
          if (get.status === 200 || unread) {
            assert.equal(`${get.status} ${text}`, "200 hello", kind);
          } else assert.equal(get.status, 500, kind);
          if (!native && !unread) {
            assert.equal(get.status, 500, kind);
            // A HEAD needs no body: answered as before, as Bun.serve does (Deno.serve says 500).
            const again = await fetch(`${url}/same/${kind}`, { method: "HEAD" });
            await again.body?.cancel();
            assert.equal(again.status, 200, kind);
          }
        }
        // Said as the app's failure in every mode (--reuse-port printed a locked stream's
        // TypeError raw, with appserve's stack), in one line: no stack of appserve's own frames.
        const said = server.stdout + server.stderr;
        assert.match(
          said,
          /\[ERROR\] Error handling request GET \/same\/stream\nTypeError: app handler returned a Response whose body was already used/,
        );
        assert.doesNotMatch(said, /already used[^\n]*\n\s+at /);
        assert.doesNotMatch(said, /ReadableStream is locked/);
      } finally {
        await server.stop();
      }
    },
  );
}
