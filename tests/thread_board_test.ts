import assert from "node:assert/strict";
import { ThreadBoard } from "../src/worker/thread_board.ts";

function board(threads: number, max = 1000): ThreadBoard {
  const b = new ThreadBoard(threads, max);
  for (let i = 0; i < threads; i++) b.setTaking(i, true);
  return b;
}

Deno.test("ThreadBoard: the threads' parts of worker_connections add up to it", () => {
  for (const [threads, max] of [[2, 1000], [3, 10], [4, 2], [1, 7], [5, 5]]) {
    const b = new ThreadBoard(threads, max);
    const parts = Array.from({ length: threads }, (_, i) => b.limit(i));
    assert.equal(parts.reduce((x, y) => x + y, 0), max, `${threads} threads, ${max}`);
    assert.ok(Math.max(...parts) - Math.min(...parts) <= 1, JSON.stringify(parts));
  }
});

Deno.test("ThreadBoard: a connection stays unless a sibling has two fewer pending", () => {
  const b = board(2);
  assert.equal(b.divert(0), -1, "1 against 0: stays");
  b.setOpen(0, 1);
  b.setPending(0, 1);
  assert.equal(b.divert(0), 1, "2 against 0: goes");
  // On its way, it counts for the sibling already: a burst does not all go to one.
  assert.equal(b.queue(1), 1);
  assert.equal(b.load(1), 1);
  assert.equal(b.divert(0), -1, "2 against 1: stays");
  b.arrived(1);
  b.setOpen(1, 1);
  b.setPending(1, 1);
  assert.equal(b.load(1), 1);
  assert.equal(b.total(), 2);
});

Deno.test("ThreadBoard: connections between exchanges do not count against a sibling", () => {
  const b = board(2);
  // Thread 1 holds a connection whose response went out (closing, or kept alive and idle).
  b.setOpen(1, 1);
  b.setPending(1, 0);
  b.setOpen(0, 1);
  b.setPending(0, 1);
  assert.equal(b.divert(0), 1, "it waits behind nothing there");
});

Deno.test("ThreadBoard: connections open but not seen yet (a TLS handshake) count as new", () => {
  const b = board(2);
  // Thread 0 took one whose handshake has not begun: its slots know nothing of it.
  b.setOpen(0, 1);
  b.setUnseen(0, 1);
  assert.equal(b.queue(0), 1);
  assert.equal(b.divert(0), 1, "2 against 0: goes");
  b.arrived(1);
  b.setOpen(1, 1);
  b.setUnseen(1, 1);
  assert.equal(b.divert(1), -1, "2 against 1: stays");
  // Seen, its request under way: pending as before, not twice.
  b.setUnseen(0, 0);
  b.setPending(0, 1);
  assert.equal(b.queue(0), 1);
  // A sibling whose only connection is not seen yet is not idle: the saved wait decides.
  b.setUnseen(1, 0);
  b.setPending(1, 0);
  b.setOpen(1, 1);
  b.setUnseen(1, 1);
  b.took(0, 0.01);
  b.took(1, 0.01);
  b.served(0, 1);
  b.setPending(0, 5);
  assert.equal(b.divert(0), -1, "6 against 1 of 10 µs: saves 0.04 ms, stays");
  b.setUnseen(1, 0);
  assert.equal(b.divert(0), 1, "6 against nothing: goes");
});

Deno.test("ThreadBoard: a thread at its part hands over to any sibling with room", () => {
  const b = board(2, 3); // parts 2, 1
  b.setOpen(0, 2);
  b.setPending(1, 5);
  assert.equal(b.divert(0), 1, "2 of 2 here: goes, however busy the sibling");
  b.arrived(1);
  b.setOpen(1, 1);
  assert.equal(b.divert(0), -1, "no room anywhere: stays");
});

Deno.test("ThreadBoard: of many, a quarter fewer is needed", () => {
  const b = board(2);
  b.setPending(0, 31);
  b.setPending(1, 25);
  assert.equal(b.divert(0), -1, "32 against 25: stays");
  b.setPending(1, 24);
  assert.equal(b.divert(0), 1, "32 against 24: goes");
});

Deno.test("ThreadBoard: a connection moves only when the wait it saves is worth a hand-over", () => {
  const b = board(2);
  b.took(0, 0.02); // 20 µs per exchange here
  b.served(0, 1); // clients close after one request
  b.setPending(0, 6);
  b.setPending(1, 2);
  assert.equal(b.divert(0), -1, "7 against 2, 20 µs each: saves 0.08 ms, stays");
  b.setPending(1, 1);
  assert.equal(b.divert(0), -1, "7 against 1: saves 0.1 ms, stays");
  b.setPending(0, 60);
  assert.equal(b.divert(0), 1, "61 against 1: saves 1.2 ms, goes");
  b.arrived(1);
  b.setPending(0, 1);
  b.setPending(1, 0);
  assert.equal(b.divert(0), 1, "2 against nothing: goes (this one may be slow)");
  b.arrived(1);
  // The sibling's own exchange time counts for what waits there.
  b.setPending(0, 6);
  b.setPending(1, 2);
  for (let i = 0; i < 40; i++) b.took(0, 5);
  b.took(1, 0.05);
  assert.equal(b.divert(0), 1, "7 against 2, 5 ms each here and 0.05 ms there: goes");
  b.arrived(1);
  for (let i = 0; i < 40; i++) b.took(1, 20);
  assert.equal(b.divert(0), -1, "… and with 20 ms exchanges there, stays");
  // Still no more than the quarter rule allows, however much it would save.
  for (let i = 0; i < 40; i++) b.took(1, 0.05);
  b.setPending(1, 6);
  assert.equal(b.divert(0), -1, "7 against 6, 5 ms each here and 0.05 ms there: stays");
  b.setPending(1, 5);
  assert.equal(b.divert(0), 1, "7 against 5: goes");
});

Deno.test("ThreadBoard: a burst taken in one wake-up spreads while the sibling is not at work", () => {
  const b = board(2);
  // Quick requests and one exchange per connection so far: then eight slow ones arrive at once.
  b.took(0, 0.02);
  b.took(1, 0.02);
  b.served(0, 1);
  const went: number[] = [];
  let mine = 0;
  for (let i = 0; i < 8; i++) {
    const to = b.divert(0);
    went.push(to);
    if (to < 0) b.setPending(0, ++mine);
  }
  // What is on its way to the sibling counts for the quarter rule, not as its being at work.
  assert.deepEqual(went, [-1, 1, -1, 1, -1, 1, -1, 1]);
});

Deno.test("ThreadBoard: the averages move however small the steps", () => {
  const b = board(2);
  b.took(0, 0.15);
  b.setPending(0, 5);
  b.setPending(1, 3);
  b.served(0, 1); // one health check first
  assert.equal(b.divert(0), -1, "6 against 3, one exchange each: saves 0.3 ms, stays");
  for (let i = 0; i < 100; i++) b.served(0, 4); // then clients with four requests each
  assert.equal(b.divert(0), 1, "… four each: saves 1.2 ms, goes");
  b.arrived(1);
  b.served(0, 1);
  for (let i = 0; i < 100; i++) b.took(0, 0.0004); // 0.4 µs each, below one whole µs
  for (let i = 0; i < 100; i++) b.took(0, 0.05);
  b.setPending(0, 30);
  b.setPending(1, 2);
  assert.equal(b.divert(0), 1, "31 against 2 of 50 µs: saves 1.4 ms, goes");
});

Deno.test("ThreadBoard: a kept-alive connection is placed for all its exchanges", () => {
  const b = board(2);
  b.took(0, 0.02);
  b.took(1, 0.02);
  b.served(0, 1);
  b.setPending(0, 6);
  b.setPending(1, 2);
  assert.equal(b.divert(0), -1, "one exchange per connection: saves 0.08 ms, stays");
  for (let i = 0; i < 60; i++) b.served(0, 500);
  assert.equal(b.divert(0), 1, "about 500 per connection: saves 500 × 0.08 ms, goes");
});

Deno.test("ThreadBoard: a thread's exchange time is a moving average, unknown again once it is gone", () => {
  const b = board(2);
  b.setPending(0, 6);
  b.setPending(1, 2);
  assert.equal(b.divert(0), 1, "unknown: as if long, the quarter rule decides");
  b.arrived(1);
  b.took(0, 0.01);
  assert.equal(b.divert(0), 1, "exchanges per connection unknown: as if many");
  b.arrived(1);
  b.served(0, 1);
  assert.equal(b.divert(0), -1, "the first exchange sets it: 10 µs");
  b.took(0, 10); // one long exchange among quick ones moves it an eighth of the way: 1.26 ms
  assert.equal(b.divert(0), 1, "6 × 1.26 ms here against 2 × 1.26 ms there: goes");
  b.arrived(1);
  b.gone(0);
  b.setPending(0, 6);
  assert.equal(b.divert(0), 1, "a replacement starts unknown");
  b.arrived(1);
  b.served(0, 1);
  b.took(0, 3 * 3600_000); // a three-hour exchange: more than an Int32 of µs, kept at its most
  b.setPending(1, 4);
  assert.equal(b.divert(0), 1, "6 against 4, each hours long here: goes");
});

Deno.test("ThreadBoard: the sibling with the fewest gets it, within its part and only if taking", () => {
  const b = board(3, 7); // parts 3, 2, 2
  b.setPending(0, 5);
  b.setPending(1, 2);
  b.setOpen(2, 1);
  b.setPending(2, 1);
  assert.equal(b.divert(0), 2);
  b.arrived(2);
  b.setPending(1, 0);
  b.setTaking(1, false);
  assert.equal(b.divert(0), 2, "a thread that stopped taking gets none");
  b.arrived(2);
  b.setOpen(2, 2); // its part
  assert.equal(b.divert(0), -1, "a thread at its part gets none");
});

Deno.test("ThreadBoard: a gone thread counts nothing and gets nothing; fewest() passes one on", () => {
  const b = board(2);
  b.setOpen(1, 4);
  b.setPending(1, 4);
  b.gone(1);
  assert.equal(b.load(1), 0);
  assert.equal(b.queue(1), 0);
  b.setOpen(0, 3);
  b.setPending(0, 3);
  assert.equal(b.divert(0), -1);
  assert.equal(b.fewest(), 0);
  assert.equal(b.load(0), 4, "counted on its way");
  b.gone(0);
  assert.equal(b.fewest(), -1);
});

Deno.test("ThreadBoard: fewest() prefers a thread with room in its part, then the fewest pending", () => {
  const b = board(2, 2); // parts 1, 1
  b.setOpen(0, 1); // at its part
  b.setOpen(1, 0);
  b.setPending(1, 3);
  assert.equal(b.fewest(), 1, "room beats fewer pending");
  assert.equal(b.taking(1), true);
  b.setTaking(1, false);
  assert.equal(b.taking(1), false);
  assert.equal(b.fewest(), 0, "over its part rather than nowhere");
});

Deno.test("ThreadBoard: two boards over one buffer see each other (threads share it)", () => {
  const a = board(2);
  const b = new ThreadBoard(2, 1000, a.buffer);
  a.setPending(0, 3);
  assert.equal(b.queue(0), 3);
  assert.equal(b.divert(1), -1);
  assert.equal(a.divert(0), 1);
});

Deno.test("ThreadBoard: the worker's open and kept-alive connections are the threads' sums", () => {
  const b = board(3);
  b.setOpen(0, 4, 1);
  b.setOpen(1, 2, 2);
  b.setTaking(2, false); // draining: its connections still count
  b.setOpen(2, 1, 0);
  assert.deepEqual([b.total(), b.kept()], [7, 3]);
});

Deno.test("ThreadBoard: what is on its way to a thread stays counted after it stops taking", () => {
  const b = board(2);
  b.setOpen(0, 2);
  b.setPending(0, 2);
  assert.equal(b.divert(0), 1);
  // The sibling drains now: the connection handed to it is still on its way (its drain waits).
  b.setTaking(1, false);
  assert.equal(b.incoming(1), 1);
  assert.equal(b.divert(0), -1, "a draining thread gets nothing new");
  b.arrived(1);
  assert.equal(b.incoming(1), 0);
});

Deno.test("ThreadBoard: connections waiting at each thread count for the process's fds", () => {
  const board = new ThreadBoard(2, 4);
  board.setOpen(0, 2);
  board.setOpen(1, 2);
  board.setWaiting(0, 3);
  board.setWaiting(1, 1);
  assert.equal(board.total(), 4, "open ones: what the limit counts");
  assert.equal(board.fds(), 8, "with those waiting unread, each an fd");
  board.gone(0);
  assert.equal(board.fds(), 3);
});
