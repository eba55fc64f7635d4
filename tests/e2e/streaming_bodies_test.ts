// Request and response bodies stream in every worker class: 1 GiB goes up and
// comes back through an echo route at the same time while the worker's memory
// stays far below the body's size.

import assert from "node:assert/strict";
import { join } from "node:path";
import { childPids, e2e, FIXTURES, start } from "../_helpers.ts";
import { GiB, peakOf, rssMiB, streamThrough } from "../_streaming.ts";

const APP = join(FIXTURES, "apps", "threads_app.ts");
const CLASSES: [string, string[]][] = [
  ["sync", ["-k", "sync"]],
  ["async", ["-k", "async"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
];

for (const [name, flags] of CLASSES) {
  e2e(`${name}: 1 GiB streams up and back down without being held in memory`, async (target) => {
    const server = start(target, ["-w", "1", ...flags, "-b", "127.0.0.1:0", "-t", "300", APP]);
    const url = await server.ready(1);
    const [worker] = childPids(server.pid);
    const peak = peakOf(() => rssMiB(worker));
    const result = await streamThrough(`${url}/echo`, GiB);
    const peakMiB = peak();
    assert.equal(result.status, 200);
    assert.equal(result.received, GiB);
    assert.ok(peakMiB < 400, `worker RSS peaked at ${peakMiB.toFixed(0)} MiB`);
    await server.stop();
  });
}
