// Connections handed to a gthread thread without room (src/worker/handoff_waits.ts), over a real
// Admission: they wait as fds, in order with the rest, and go on to a sibling with room.

import assert from "node:assert/strict";
import { Admission } from "../src/net/admission.ts";
import { type Handoff, HandoffWaits } from "../src/worker/handoff_waits.ts";
import { newSlots, SlotReader, SlotWriter } from "../src/worker/thread_slots.ts";

/** A thread's admission with `max` places, all taken, and its waits serving into `served`. */
function full(max: number): {
  admission: Admission;
  waits: HandoffWaits;
  served: number[];
  process: SlotReader;
} {
  const admission = new Admission(max);
  for (let i = 0; i < max; i++) admission.opened();
  const served: number[] = [];
  // The thread's slots, and the process's view of them.
  const slots = newSlots();
  const waits = new HandoffWaits(
    admission,
    ({ fd }) => {
      served.push(fd);
      admission.opened();
    },
    new SlotWriter(slots, Date.now(), () => -1),
    () => assert.fail("serve threw"),
  );
  return { admission, waits, served, process: new SlotReader(slots, Date.now()) };
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
  waits.handOn(() => room-- > 0 ? 1 : -1, (h, to) => sent.push([h.fd, to]), () => {});
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

Deno.test("HandoffWaits: the process claims what waits on a thread it gave up on, once", () => {
  const { admission, waits, served, process } = full(1);
  for (const fd of [40, 41, 42]) waits.take(handoff(fd));
  assert.deepEqual(process.claimWaiting(), [40, 41, 42], "shown to the process while waiting");
  assert.deepEqual(process.claimWaiting(), [], "claimed once");
  // The thread comes back: none of them is handed on, released or served by it.
  const back: number[] = [];
  waits.handOn(
    () => 1,
    () => assert.fail("handed on after the process answered it"),
    (to) => back.push(to),
  );
  assert.deepEqual(back, [1, 1, 1], "the sibling's counts given back");
  waits.release(() => assert.fail("released after the process answered it"));
  assert.equal(waits.size, 0);
  assert.equal(admission.waiting, 0);
  waits.take(handoff(43));
  process.claimWaiting();
  admission.closed();
  assert.deepEqual(served, [], "not served after the process answered it");
  assert.equal(waits.size, 0);
});

Deno.test("HandoffWaits: what leaves the wait is no longer shown to the process", () => {
  const { admission, waits, served, process } = full(1);
  for (const fd of [50, 51, 52]) waits.take(handoff(fd));
  admission.closed();
  let room = 1;
  waits.handOn(() => room-- > 0 ? 1 : -1, () => {}, () => {});
  assert.deepEqual(served, [50]);
  assert.deepEqual(process.claimWaiting(), [52], "only the one still waiting");
});
