import assert from "node:assert/strict";
import { FdStarved } from "../src/master/fd_starved.ts";

// One worker out of fds is its own ERROR; replacements that keep running out are a limit too low
// for the load, said once a minute at most.
Deno.test("FdStarved warns of a run of fd-starved workers, once a minute at most", () => {
  const starved = new FdStarved();
  assert.equal(starved.stopped(0, 64), undefined, "a single stop");
  assert.equal(
    starved.stopped(3_000, 64),
    "Workers keep running out of file descriptors (ulimit -n 64): 2 in a row stopped accepting, " +
      "each within 10 s of the one before, and were replaced at once; raise the limit, or serve " +
      "without --reuse-port (the shared socket's workers keep accepting through a shortage)",
  );
  // The run goes on: said already within the minute.
  assert.equal(starved.stopped(9_000, 64), undefined);
  assert.equal(starved.stopped(18_000, 64), undefined);
  // A lone stop long after is no run.
  assert.equal(starved.stopped(100_000, 64), undefined);
  assert.match(starved.stopped(101_000, 64) ?? "", /: 2 in a row stopped accepting/);
});

Deno.test("FdStarved: a run goes on while each stop comes within 10 s of the one before", () => {
  const starved = new FdStarved();
  assert.equal(starved.stopped(0, 64), undefined);
  assert.ok(starved.stopped(5_000, 64));
  for (let at = 14_000; at < 60_000; at += 9_000) {
    assert.equal(starved.stopped(at, 64), undefined, `at ${at} ms`);
  }
  // 61 s after the warning, the same run: said again, with its length.
  assert.match(starved.stopped(66_000, 64) ?? "", /: 9 in a row stopped accepting/);
});
