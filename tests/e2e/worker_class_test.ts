// Worker classes observed from outside: how many requests one worker runs at once.

import assert from "node:assert/strict";
import { join } from "node:path";
import { countConnections, e2e, eventually, FIXTURES, get, sleep, start } from "../_helpers.ts";

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

// The same contract for each single-threaded class (gthread has its own in gthread_test.ts).
const THREADS_APP = join(FIXTURES, "apps", "threads_app.ts");
for (const workerClass of ["sync", "async"]) {
  e2e(`-k ${workerClass}: a thrown error is a 500 and the worker keeps serving`, async (target) => {
    const server = start(target, ["-w", "1", "-k", workerClass, "-b", "127.0.0.1:0", THREADS_APP]);
    const url = await server.ready(1);
    const before = JSON.parse((await get(`${url}/whoami`)).body).pid;
    assert.equal((await get(`${url}/boom`)).status, 500);
    await server.waitFor(/\[ERROR\] Error handling request GET \/boom\nError: boom from the app/);
    const after = await get(`${url}/whoami`);
    assert.equal(after.status, 200);
    assert.equal(JSON.parse(after.body).pid, before);
    await server.stop();
  });

  e2e(`-k ${workerClass}: a graceful stop lets in-flight requests finish`, async (target) => {
    const server = start(target, ["-w", "1", "-k", workerClass, "-b", "127.0.0.1:0", THREADS_APP]);
    const url = await server.ready(1);
    const worker = await server.onlyWorker();
    const inFlight = get(`${url}/sleep?ms=1500`);
    // Accepted first (a loaded box may take longer than the sleep): one still in the listen
    // queue at the stop is refused, as it should be.
    const port = Number(new URL(url).port);
    await eventually(() => countConnections([worker], port)[0] === 1, "the request accepted");
    await sleep(500);
    server.signal("SIGTERM");
    assert.equal((await inFlight).status, 200);
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
  });
}
