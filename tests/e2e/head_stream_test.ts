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
