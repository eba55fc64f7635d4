// Range requests on file bodies end to end: a Bun worker on the shared socket answers them from a
// Bun.file() body (Hono's serveStatic for Bun, or made by hand) as Bun.serve does, with the 206
// and the part's bytes in the access log; a Deno worker answers the whole file, as `deno serve`
// does (it answers no Range).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, start, type Target, tempDir } from "../_helpers.ts";
import { differences, type Probe, serveWithBun } from "../_bun_routes_diff.ts";

const APP = join(FIXTURES, "apps", "file_range_app.ts");
// The file the app serves: itself.
const WHOLE = readFileSync(APP, "latin1");

// Asked of Bun workers and of Bun.serve, with the fields a Range answer decides. Not a 416 of
// /raw: Bun.serve leaves its Content-Type out when the app never touched the Response's headers,
// which appserve's writer cannot tell (docs/architecture.md); serveStatic's 416 has it in both.
const RANGES = ["bytes=100-199", "bytes=-10", "bytes=600-", "bytes=0-1,5-6", "bytes=9-2", "x=0-1"];
const PROBES: Probe[] = [
  ...RANGES.map((range) => ({ path: "/static/file_range_app.ts", headers: { range } })),
  { path: "/static/file_range_app.ts", headers: { range: `bytes=${WHOLE.length}-` } },
  ...RANGES.map((range) => ({ path: "/raw", headers: { range } })),
  { path: "/raw" },
  { method: "HEAD", path: "/raw", headers: { range: "bytes=0-1" }, headTypeDiffers: true },
  { path: "/text", headers: { range: "bytes=2-5" } },
];

for (
  const [kind, args] of [
    ["async", ["-w", "1"]],
    ["gthread", ["-w", "1", "--threads", "2"]],
  ] as const
) {
  e2e(
    `[${kind}] a Range on a file body is answered as the runtime's own server answers it`,
    async (target: Target) => {
      const dir = tempDir();
      const log = join(dir.path, "access.log");
      try {
        const server = start(target, [
          ...args,
          "--access-logfile",
          log,
          "--access-logformat",
          "%(r)s %(s)s %(B)s",
          "-b",
          "127.0.0.1:0",
          APP,
        ]);
        const url = await server.ready(1);
        const bun = target.workers === "bun";
        const paths = bun ? ["/static/file_range_app.ts", "/raw"] : ["/static/file_range_app.ts"];
        const expected: string[] = [];
        for (const path of paths) {
          const part = await get(`${url}${path}`, { headers: { range: "bytes=100-199" } });
          if (bun) {
            assert.equal(part.status, 206, path);
            assert.equal(part.headers["content-range"], `bytes 100-199/${WHOLE.length}`, path);
            assert.equal(part.headers["accept-ranges"], "bytes", path);
            assert.equal(part.headers["content-length"], "100", path);
            assert.equal(part.body, WHOLE.slice(100, 200), path);
            expected.push(`GET ${path} HTTP/1.1 206 100`);
          } else {
            assert.equal(part.status, 200, path);
            assert.equal(part.headers["content-range"], undefined, path);
            assert.equal(part.body, WHOLE, path);
            expected.push(`GET ${path} HTTP/1.1 200 ${WHOLE.length}`);
          }
          const suffix = await get(`${url}${path}`, { headers: { range: "bytes=-10" } });
          assert.equal(suffix.body, bun ? WHOLE.slice(-10) : WHOLE, path);
          expected.push(`GET ${path} HTTP/1.1 ${bun ? "206 10" : `200 ${WHOLE.length}`}`);
          const past = await get(`${url}${path}`, { headers: { range: `bytes=${WHOLE.length}-` } });
          assert.equal(past.status, bun ? 416 : 200, path);
          if (bun) assert.equal(past.headers["content-range"], `bytes */${WHOLE.length}`, path);
          expected.push(`GET ${path} HTTP/1.1 ${bun ? "416 0" : `200 ${WHOLE.length}`}`);
        }
        // Not a file: the Range is the app's business, and it ignored it.
        const text = await get(`${url}/text`, { headers: { range: "bytes=2-5" } });
        assert.deepEqual([text.status, text.body], [200, "0123456789abcdefghij"]);
        expected.push("GET /text HTTP/1.1 200 20");
        // Not the readiness probe's line (GET /).
        const lines = () =>
          readFileSync(log, "utf8").split("\n").filter((l) => /^GET \/\S/.test(l));
        await eventually(() => lines().length === expected.length, "every access line");
        // gthread's two threads may write their lines in another order.
        assert.deepEqual(lines().sort(), expected.sort());
        if (bun) {
          // The same app on the real Bun.serve: the same status, fields and bytes.
          const native = await serveWithBun(APP);
          try {
            const diff = await differences(native.url, url, PROBES, [
              "content-range",
              "accept-ranges",
            ]);
            assert.deepEqual(diff, []);
          } finally {
            native.stop();
          }
        }
        await server.stop();
      } finally {
        dir.remove();
      }
    },
  );
}
