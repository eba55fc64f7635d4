// Slow clients of one large shared body: appserve keeps no copy of its own per client.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { childPids, e2e, FIXTURES, get, sleep, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "big_body_app.ts");
const MB = 1024 * 1024;

function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1];
  return Number(kb) * 1024;
}

/** 20 clients ask for `path` and read nothing; returns the worker's RSS growth meanwhile. */
async function growthWithSlowClients(port: number, worker: number, path: string) {
  const before = rss(worker);
  const sockets = Array.from({ length: 20 }, () => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      s.pause();
    });
    s.on("error", () => {});
    return s;
  });
  await sleep(3000);
  const during = rss(worker);
  for (const s of sockets) s.destroy();
  return during - before;
}

for (
  const [path, limit, what] of [
    ["/?stream", 30 * MB, "streamed in 64 KB views"],
    // The Response constructor's own copy (20 × 10 MB, in raw Deno.serve and Bun.serve alike)
    // plus at most 80 MB: appserve no longer copies the body next to its head per client.
    ["/", 280 * MB, "given as one buffer"],
  ] as const
) {
  e2e(`20 slow clients of one 10 MB body ${what} grow a worker by at most ${limit / MB} MB`, async (
    target,
  ) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", APP]);
    const url = new URL(await server.ready(1));
    const [worker] = childPids(server.pid);
    // One full answer first, so what the first request allocates once is not counted.
    assert.equal((await get(`${url.origin}${path}`)).body.length, 10 * MB);
    const growth = await growthWithSlowClients(Number(url.port), worker, path);
    assert.ok(growth <= limit, `the worker grew by ${(growth / MB).toFixed(0)} MB`);
    await server.stop();
  });
}
