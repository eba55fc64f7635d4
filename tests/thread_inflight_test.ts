// Where a gthread thread keeps its requests in flight (src/worker/thread_inflight.ts): a region
// of its worker's table on the scoreboard, reached through the table's address, so that what a
// thread writes is what the master reads; memory of its own without one.

import assert from "node:assert/strict";
import { detectRuntime } from "../src/runtime/mod.ts";
import { INFLIGHT_REGIONS } from "../src/ipc/inflight.ts";
import { Scoreboard, SCOREBOARD_BYTES, SCOREBOARD_MEMFD } from "../src/ipc/scoreboard.ts";
import { sharedWithMaster, threadTable, ThreadTables } from "../src/worker/thread_inflight.ts";

const runtime = await detectRuntime();
const libc = runtime.libc();

Deno.test("without the worker's table, each thread's table is memory of its own", () => {
  const tables = new ThreadTables(libc, 2, undefined);
  const { where, table } = tables.forThread(0);
  assert.ok(!sharedWithMaster(where));
  table.put(0, "GET", "/own", "127.0.0.1:1", 1000);
  assert.equal(threadTable(libc, where).at(0)?.target, "/own");
});

Deno.test("a thread writes its requests into its region of its worker's table on the scoreboard", () => {
  const fd = libc.memfd(SCOREBOARD_MEMFD, SCOREBOARD_BYTES);
  assert.ok(fd >= 0);
  const mapped = libc.mapShared(fd, SCOREBOARD_BYTES)!;
  libc.close(fd);
  // A slot past the first: the table's address is not the mapping's.
  const slot = 3;
  const board = new Scoreboard(mapped);
  board.inflight(slot).clear();
  const tables = new ThreadTables(libc, 2, board.inflight(slot));
  const [first, second] = [tables.forThread(0), tables.forThread(1)];
  assert.ok(sharedWithMaster(first.where) && sharedWithMaster(second.where));
  // The thread's own view (from the address it is given), as the thread makes it.
  const mine = threadTable(libc, second.where);
  assert.deepEqual([mine.first, mine.end], [16, 32]);
  mine.put(20, "GET", "/thread", "127.0.0.1:1", 1000);
  mine.overflow(1);
  // What the master reads of the worker's slot (another mapping of the same memfd would read the
  // same), and the process of the thread's region.
  assert.deepEqual(board.inflight(slot).read().requests.map((r) => r.target), ["/thread"]);
  assert.equal(board.inflight(slot).read().more, 1);
  assert.deepEqual(board.inflight(slot - 1).read(), { requests: [], more: 0 });
  assert.equal(second.table.read().requests[0].target, "/thread");
  assert.deepEqual(first.table.read(), { requests: [], more: 0 });
  // Past INFLIGHT_REGIONS, a thread keeps a table of its own.
  const many = new ThreadTables(libc, INFLIGHT_REGIONS + 1, board.inflight(slot));
  assert.ok(sharedWithMaster(many.forThread(INFLIGHT_REGIONS - 1).where));
  assert.ok(!sharedWithMaster(many.forThread(INFLIGHT_REGIONS).where));
});
