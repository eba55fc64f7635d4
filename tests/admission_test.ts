// The share balance between workers on one socket (src/net/admission.ts with
// src/worker/balance.ts over a real scoreboard in plain memory): two workers' admissions
// side by side, the gates recording their holds.

import assert from "node:assert/strict";
import { Admission, type Holdable } from "../src/net/admission.ts";
import type { HoldReason } from "../src/net/accept_gate.ts";
import { Scoreboard, SCOREBOARD_BYTES } from "../src/ipc/scoreboard.ts";
import { Balance } from "../src/worker/balance.ts";
import { sleep } from "./_helpers.ts";

/** A gate that records why it is held. */
class RecordingGate implements Holdable {
  readonly holds = new Set<HoldReason>();
  hold(reason: HoldReason): void {
    this.holds.add(reason);
  }
  release(reason: HoldReason): void {
    this.holds.delete(reason);
  }
}

interface Worker {
  admission: Admission;
  gate: RecordingGate;
}

/** Two workers of one master sharing a scoreboard. */
function twoWorkers(): [Worker, Worker, Scoreboard] {
  const board = new Scoreboard(new Uint8Array(SCOREBOARD_BYTES));
  const make = (slot: number): Worker => {
    const admission = new Admission(1000, new Balance(board, slot, 100 + slot));
    const gate = new RecordingGate();
    admission.add(gate);
    return { admission, gate };
  };
  return [make(0), make(1), board];
}

/** `count` connections accepted and kept alive after their first response. */
function keptAlive(worker: Worker, count: number): void {
  for (let i = 0; i < count; i++) {
    worker.admission.opened();
    worker.admission.persisted();
  }
}

/** `count` kept-alive connections closed; `shed`: the balance told them to. */
function closeKept(worker: Worker, count: number, shed = false): void {
  for (let i = 0; i < count; i++) worker.admission.closed(shed, true);
}

/** One response on each of `count` kept-alive connections: how many were told to close. */
function respond(worker: Worker, count: number): number {
  let shed = 0;
  for (let i = 0; i < count; i++) if (worker.admission.shed()) shed++;
  return shed;
}

// Longer than the admission's settling time (50 ms) and a few of its rechecks (10 ms each).
const RECHECKS_MS = 150;

Deno.test("Admission: a burst accepted in one turn is shed once, not again while it closes", async () => {
  const [a, b] = twoWorkers();
  // Deno accepts all of wrk's 64 connections in one batch; the requests on them are answered
  // in the same turn, before any of the shed connections has closed or reached the sibling.
  keptAlive(a, 64);
  assert.ok(a.gate.holds.has("share"), "over its share: it stops accepting");
  assert.equal(respond(a, 64), 32, "half the difference is told to close");
  // Those 32 are still open here (their responses are being written) and not yet at b: the
  // rechecks in between must not count them here again.
  await sleep(RECHECKS_MS);
  assert.equal(respond(a, 32), 0, "nothing more is shed while the first ones are under way");
  assert.ok(a.gate.holds.has("share"), "it holds while they are on their way to b");
  // They close here and reopen at b.
  closeKept(a, 32, true);
  keptAlive(b, 32);
  await sleep(RECHECKS_MS);
  assert.equal(a.admission.open, 32);
  assert.equal(b.admission.open, 32);
  assert.deepEqual([...a.gate.holds], [], "even again: a accepts");
  assert.deepEqual([...b.gate.holds], [], "b never had more than its share");
  assert.equal(respond(a, 32) + respond(b, 32), 0);
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: the siblings see only the connections that stay", () => {
  const [a, b, board] = twoWorkers();
  keptAlive(a, 40);
  assert.equal(respond(a, 40), 20);
  // The 20 told to close still count against worker_connections (and in the metrics), but no
  // longer to siblings: b may take them without seeming to be over its share.
  assert.equal(board.connections(0), 40);
  assert.equal(board.fewestBesides(1, 1), 20, "what b sees of a");
  keptAlive(b, 20);
  assert.deepEqual([...b.gate.holds], []);
  assert.equal(respond(b, 20), 0);
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: a worker left with more than its share by a sibling's fall sheds at its next beat", () => {
  const [a, b] = twoWorkers();
  for (let i = 0; i < 30; i++) {
    keptAlive(a, 1);
    keptAlive(b, 1);
  }
  assert.deepEqual([...a.gate.holds, ...b.gate.holds], []);
  // a's clients leave; nothing opens or closes at b, which has twice its share now.
  closeKept(a, 20);
  assert.equal(respond(b, 30), 0, "b has not looked yet");
  b.admission.beat();
  assert.ok(b.gate.holds.has("share"));
  assert.equal(respond(b, 30), 10, "half the difference moves to a");
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: a connection shed and closed is not counted twice", async () => {
  const [a, b] = twoWorkers();
  keptAlive(a, 10);
  assert.equal(respond(a, 10), 5);
  closeKept(a, 5, true);
  keptAlive(b, 5);
  // A client that leaves without being shed is an ordinary close.
  closeKept(a, 1);
  closeKept(b, 1);
  await sleep(RECHECKS_MS);
  assert.equal(a.admission.open, 4);
  assert.deepEqual([...a.gate.holds], []);
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: connections that close after one response never hold the gates", async () => {
  const [a, b] = twoWorkers();
  // Behind nginx without upstream keepalive every connection is one request: a burst of them
  // at one worker is no reason to stop accepting (holding left workers idle while requests
  // waited: half the throughput behind nginx).
  for (let i = 0; i < 64; i++) a.admission.opened();
  assert.deepEqual([...a.gate.holds], []);
  assert.equal(respond(a, 64), 0, "nothing is shed");
  for (let i = 0; i < 64; i++) a.admission.closed();
  // Once some stay, they count: 40 kept alive here against none at b is over the share.
  keptAlive(a, 40);
  assert.ok(a.gate.holds.has("share"));
  closeKept(a, 40);
  await sleep(RECHECKS_MS);
  assert.deepEqual([...a.gate.holds], []);
  assert.equal(a.admission.open, 0);
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: worker_connections counts every open connection, kept alive or not", () => {
  const admission = new Admission(3);
  const gate = new RecordingGate();
  admission.add(gate);
  admission.opened();
  admission.opened();
  admission.persisted();
  assert.deepEqual([...gate.holds], []);
  admission.opened();
  assert.deepEqual([...gate.holds], ["full"]);
  admission.closed(false, true);
  assert.deepEqual([...gate.holds], []);
  admission.stop();
});

Deno.test("Admission: kept connections a sibling cannot take (WebSockets) hold no gate while the sibling is as busy", async () => {
  const [a, b] = twoWorkers();
  // Three WebSockets at a: more than its share next to b's none, and never shed.
  keptAlive(a, 3);
  assert.ok(a.gate.holds.has("share"), "b has none: new connections go to b");
  // b is busy with connections that close after one response: as many as a has in all.
  for (let i = 0; i < 3; i++) b.admission.opened();
  a.admission.beat();
  await sleep(RECHECKS_MS);
  assert.deepEqual([...a.gate.holds], [], "a accepts again: holding would leave it idle");
  // b's traffic goes; a holds again while b is idle.
  for (let i = 0; i < 3; i++) b.admission.closed();
  a.admission.beat();
  assert.ok(a.gate.holds.has("share"));
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: a sibling busy with one-request connections is passed over for an idle one", () => {
  const board = new Scoreboard(new Uint8Array(SCOREBOARD_BYTES));
  const [a, busy, idle] = [0, 1, 2].map((slot) => {
    const admission = new Admission(1000, new Balance(board, slot, 100 + slot));
    const gate = new RecordingGate();
    admission.add(gate);
    return { admission, gate };
  });
  // busy (the lower slot) has no kept-alive connection but 100 under way; idle has nothing.
  for (let i = 0; i < 100; i++) busy.admission.opened();
  keptAlive(a, 64);
  assert.ok(a.gate.holds.has("share"));
  assert.equal(respond(a, 64), 32, "half of them move, to the idle worker");
  for (const w of [a, busy, idle]) w.admission.stop();
});

Deno.test("Admission: a worker whose shed connection stays open holds no longer once its sibling is as busy", async () => {
  const [a, b] = twoWorkers();
  keptAlive(a, 10);
  assert.equal(respond(a, 10), 5);
  // Four of them leave; one stays open for a while (a long answer on it), so a keeps holding.
  closeKept(a, 4, true);
  await sleep(RECHECKS_MS);
  assert.ok(a.gate.holds.has("share"));
  // b gets busy with connections that close after one response: holding helps no one now.
  for (let i = 0; i < 50; i++) b.admission.opened();
  a.admission.beat();
  await sleep(RECHECKS_MS);
  assert.deepEqual([...a.gate.holds], []);
  a.admission.stop();
  b.admission.stop();
});

Deno.test("Admission: a part of none holds from the start; crowded elsewhere holds too", () => {
  const none = new Admission(0);
  const gate = new RecordingGate();
  none.add(gate);
  assert.deepEqual([...gate.holds], ["full"], "a gthread thread whose part is none");
  let crowded = false;
  const part = new Admission(2, undefined, () => crowded);
  const g = new RecordingGate();
  part.add(g);
  part.opened();
  assert.deepEqual([...g.holds], []);
  crowded = true; // a sibling thread went over its part: the worker's limit is reached
  part.beat();
  assert.deepEqual([...g.holds], ["full"]);
  crowded = false;
  part.beat();
  assert.deepEqual([...g.holds], []);
});

Deno.test("Admission: holdForShare holds every gate for another's share, also gates added later", () => {
  const admission = new Admission(10);
  const a = new RecordingGate();
  admission.add(a);
  admission.holdForShare(true);
  const b = new RecordingGate();
  admission.add(b);
  assert.deepEqual([[...a.holds], [...b.holds]], [["share"], ["share"]]);
  admission.holdForShare(false);
  assert.deepEqual([[...a.holds], [...b.holds]], [[], []]);
});

Deno.test("Admission: connections past the limit wait, in order, and each close lets one in with the gates still held", () => {
  const admission = new Admission(2);
  const gate = new RecordingGate();
  admission.add(gate);
  const admitted: string[] = [];
  const take = (name: string) => () => {
    admitted.push(name);
    admission.opened();
  };
  admission.opened();
  admission.opened();
  assert.equal(admission.room, false);
  admission.wait(take("a"), (error) => assert.fail(String(error)));
  const leaveB = admission.wait(take("b"), (error) => assert.fail(String(error)));
  admission.wait(take("c"), (error) => assert.fail(String(error)));
  assert.equal(admission.waiting, 3);
  leaveB(); // b's client left while it waited
  admission.closed();
  assert.deepEqual(admitted, ["a"]);
  assert.ok(gate.holds.has("full"), "full again at once: the gates never listened");
  admission.closed();
  assert.deepEqual(admitted, ["a", "c"]);
  assert.equal(admission.waiting, 0);
  admission.closed();
  assert.equal(admission.room, true);
  assert.ok(!gate.holds.has("full"));
});

Deno.test("Admission: an admit that throws goes to its own `failed`; the others are admitted and the close counted", () => {
  const admission = new Admission(2);
  const freed: number[] = [];
  const gate = new RecordingGate() as RecordingGate & { freed(): void };
  gate.freed = () => freed.push(admission.open);
  admission.add(gate);
  admission.opened();
  admission.opened();
  const admitted: string[] = [];
  const failures: unknown[] = [];
  admission.wait(() => {
    throw new Error("no socket of that fd");
  }, (error) => failures.push(error));
  admission.wait(() => {
    admitted.push("b");
    admission.opened();
  }, () => assert.fail("b failed"));
  admission.closed();
  assert.equal(failures.length, 1);
  assert.match(String(failures[0]), /no socket of that fd/);
  assert.deepEqual(admitted, ["b"], "the next one takes the place the failed one left");
  assert.equal(admission.waiting, 0);
  assert.deepEqual(freed, [2], "the close went on to the gates");
});

Deno.test("Admission: stop() holds every gate for good, whatever the share or the room says", async () => {
  const [a, b] = twoWorkers();
  // Held outside (a gthread thread told by its process), then stopped: the word to release
  // that comes later must not start it accepting again.
  a.admission.holdForShare(true);
  a.admission.stop();
  a.admission.holdForShare(false);
  assert.ok(a.gate.holds.has("share"), "held outside, then stopped");
  // Over its share, then stopped: the recheck that would release it does not.
  const [c] = twoWorkers();
  keptAlive(c, 64);
  assert.ok(c.gate.holds.has("share"), "over its share");
  c.admission.stop();
  closeKept(c, 64);
  await sleep(RECHECKS_MS);
  assert.ok(c.gate.holds.has("share"), "over its share, then stopped");
  assert.ok(!b.gate.holds.has("share"), "its sibling accepts");
  // Neither held: stop() holds the gates, and one added later too; room that frees keeps it.
  const lone = new Admission(1);
  const gate = new RecordingGate();
  lone.add(gate);
  lone.opened();
  assert.ok(gate.holds.has("full"));
  lone.stop();
  assert.ok(gate.holds.has("share"), "stopped");
  lone.closed();
  assert.ok(gate.holds.has("share"), "a connection closed: still held");
  const late = new RecordingGate();
  lone.add(late);
  assert.ok(late.holds.has("share"), "a gate added after the stop");
});
