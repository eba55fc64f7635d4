// /readyz of a stopping master (src/master/health.ts): "stopping" is this master's, not the
// service's, once its USR2 child accepts on the metrics listener the two share.

import assert from "node:assert/strict";
import { readiness } from "../src/master/health.ts";

const base = { workers: [], configured: 1, timeout: 30, started: true, lastTurn: 0 };

Deno.test("a stopping master answers 503 stopping", () => {
  const answer = readiness({ ...base, stopping: true }, 0);
  assert.deepEqual(answer, {
    ok: false,
    lines: ["not ready: stopping, the workers finish what they serve"],
  });
});

Deno.test("a stopping master whose USR2 child accepts answers ready for the pair", () => {
  const answer = readiness({ ...base, stopping: true, successor: { pid: 4242, serves: true } }, 0);
  assert.deepEqual(answer, {
    ok: true,
    lines: ["ready: the new master (pid 4242) serves, this one stops"],
  });
});

Deno.test("a stopping master whose USR2 child has not served yet says so, not 'refused'", () => {
  const answer = readiness({ ...base, stopping: true, successor: { pid: 4242, serves: false } }, 0);
  assert.deepEqual(answer, {
    ok: false,
    lines: ["not ready: stopping, the new master (pid 4242) has not served yet"],
  });
});
