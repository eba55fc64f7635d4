// Worker classes observed from outside: how many requests one worker runs at once.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, get, start } from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

interface Timed {
  pid: number;
  start: number;
  end: number;
}

async function timed(url: string, count: number, ms: number): Promise<Timed[]> {
  const answers = await Promise.all(
    Array.from({ length: count }, () => get(`${url}/timed?ms=${ms}`)),
  );
  return answers.map((a) => JSON.parse(a.body) as Timed);
}

/** The largest number of requests running at the same moment. */
function maxOverlap(runs: Timed[]): number {
  const edges = runs.flatMap((r) => [[r.start, 1], [r.end, -1]] as const).sort((a, b) =>
    a[0] - b[0] || a[1] - b[1]
  );
  let now = 0;
  let max = 0;
  for (const [, step] of edges) max = Math.max(max, now += step);
  return max;
}

e2e("-k sync runs one request at a time per worker", async (target) => {
  const server = start(target, ["-w", "1", "-k", "sync", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready(1);
  await server.waitFor(/\[INFO\] Using worker: sync/);
  const runs = await timed(url, 2, 300);
  assert.equal(maxOverlap(runs), 1, JSON.stringify(runs));
  await server.stop();
});

e2e("the async worker overlaps 100 sleeping requests", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready(1);
  const runs = await timed(url, 100, 500);
  assert.ok(maxOverlap(runs) >= 50, `at most ${maxOverlap(runs)} at once`);
  await server.stop();
});

e2e(
  "--worker-connections caps the requests one async worker runs at once; the rest wait",
  async (target) => {
    const server = start(target, [
      "-w",
      "1",
      "--worker-connections",
      "3",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready(1);
    const runs = await timed(url, 9, 200);
    assert.equal(runs.length, 9);
    assert.equal(maxOverlap(runs), 3, JSON.stringify(runs));
    await server.stop();
  },
);

for (const alias of ["gevent", "eventlet"]) {
  e2e(`-k ${alias} is accepted as an alias of async`, async (target) => {
    const server = start(target, ["-k", alias, "-b", "127.0.0.1:0", PID_APP]);
    await server.ready(1);
    await server.waitFor(new RegExp(`\\[INFO\\] Using worker: async \\(alias ${alias}\\)`));
    await server.stop();
  });
}
