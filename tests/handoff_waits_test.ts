// Connections handed to a gthread thread without room (src/worker/handoff_waits.ts), over a real
// Admission: they wait as fds, in order with the rest, and go on to a sibling with room.

import assert from "node:assert/strict";
import { Admission } from "../src/net/admission.ts";
import { type Handoff, HandoffWaits } from "../src/worker/handoff_waits.ts";

/** A thread's admission with `max` places, all taken, and its waits serving into `served`. */
function full(max: number): { admission: Admission; waits: HandoffWaits; served: number[] } {
  const admission = new Admission(max);
  for (let i = 0; i < max; i++) admission.opened();
  const served: number[] = [];
  const waits = new HandoffWaits(admission, ({ fd }) => {
    served.push(fd);
    admission.opened();
  });
  return { admission, waits, served };
}

const handoff = (fd: number): Handoff => ({ fd, listener: 0, unix: false });

Deno.test("HandoffWaits: served at once with room, else in order as places free", () => {
  const { admission, waits, served } = full(1);
  waits.take(handoff(10));
  waits.take(handoff(11));
  assert.deepEqual(served, [], "no room: both wait");
  assert.equal(admission.waiting, 2, "in the admission's queue (counted among its fds)");
  admission.closed();
  assert.deepEqual(served, [10], "one close lets the first in");
  admission.closed();
  assert.deepEqual(served, [10, 11]);
  assert.equal(waits.size, 0);
  admission.closed();
  waits.take(handoff(12));
  assert.deepEqual(served, [10, 11, 12], "with room: served at once");
});

Deno.test("HandoffWaits: handed on to a sibling with room, in order, and out of the queue", () => {
  const { admission, waits, served } = full(1);
  for (const fd of [20, 21, 22]) waits.take(handoff(fd));
  const sent: [number, number][] = [];
  // The sibling has room for one.
  let room = 1;
  waits.handOn(() => room-- > 0 ? 1 : -1, (h, to) => sent.push([h.fd, to]));
  assert.deepEqual(sent, [[20, 1]], "the first waiting one goes");
  assert.equal(waits.size, 2);
  admission.closed();
  assert.deepEqual(served, [21], "the one handed on is no longer admitted here");
});

Deno.test("HandoffWaits: a drain serves what waits, past the limit", () => {
  const { admission, waits, served } = full(1);
  waits.take(handoff(30));
  waits.take(handoff(31), true);
  assert.deepEqual(served, [31], "told to serve now (draining): served");
  waits.release(({ fd }) => served.push(fd));
  assert.deepEqual(served, [31, 30]);
  assert.equal(admission.waiting, 0, "none left in the admission's queue");
});
