// Where a gthread thread keeps its requests in flight: in a region of its worker's in-flight
// table on the scoreboard (src/ipc/inflight.ts, InflightTable.region()), so that the master
// counts and names them as it does an async or sync worker's (the wait line of a graceful stop,
// the lines of a worker that dies or is killed under them, WORKER TIMEOUT). A view of the
// scoreboard's mapping cannot be posted to a Web Worker (it is no SharedArrayBuffer), and the
// process closed the scoreboard's fd once mapped: each thread makes its own view of the same
// bytes from their address, which the process reads once from /proc/self/maps. Without a
// scoreboard, or for threads past INFLIGHT_REGIONS, a thread's table is memory of its process's,
// as before, which the master cannot read.

import { readFileSync } from "node:fs";
import {
  INFLIGHT_BYTES,
  INFLIGHT_REGIONS,
  type InflightShare,
  InflightTable,
} from "../ipc/inflight.ts";
import { Scoreboard, SCOREBOARD_BYTES, SCOREBOARD_MEMFD } from "../ipc/scoreboard.ts";
import type { Libc } from "../runtime/types.ts";

/** Where a thread's table is: its region of the worker's, or memory of its own. */
export type ThreadInflight = InflightShare | SharedArrayBuffer;

/**
 * Where this process mapped the scoreboard (src/worker/balance.ts, mapScoreboard), read from
 * /proc/self/maps; undefined when it is not mapped once, whole.
 */
export function scoreboardAddress(): number | undefined {
  let maps: string;
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    return undefined;
  }
  const found: number[] = [];
  const name = `/memfd:${SCOREBOARD_MEMFD}`;
  for (const line of maps.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw.s \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (!m || !(m[3] === name || m[3].startsWith(`${name} `))) continue;
    const start = parseInt(m[1], 16);
    // Whole: the kernel rounds the mapping's length up to a page.
    if (parseInt(m[2], 16) - start >= SCOREBOARD_BYTES) found.push(start);
  }
  return found.length === 1 ? found[0] : undefined;
}

/**
 * The tables of a pool's threads: their regions of the worker's table on the scoreboard when
 * `slot` (the worker's, whose table it keeps: WorkerContext.inflight) is given and the mapping
 * is found, else memory of their own.
 */
export class ThreadTables {
  readonly #whole: { address: number; slot: number; table: InflightTable } | undefined;
  readonly #regions: number;

  constructor(libc: Libc, threads: number, slot: number | undefined) {
    this.#regions = Math.min(threads, INFLIGHT_REGIONS);
    const address = slot === undefined ? undefined : scoreboardAddress();
    if (slot !== undefined && address !== undefined) {
      const table = new Scoreboard(libc.memory(address, SCOREBOARD_BYTES)).inflight(slot);
      this.#whole = { address, slot, table };
    }
  }

  /** Where the thread at `index` on the board keeps its table, and the process's view of it. */
  forThread(index: number): { where: ThreadInflight; table: InflightTable } {
    const whole = this.#whole;
    if (whole === undefined || index >= this.#regions) {
      const where = new SharedArrayBuffer(INFLIGHT_BYTES);
      return { where, table: new InflightTable(new Uint8Array(where)) };
    }
    const { address, slot } = whole;
    const where = { address, slot, region: index, regions: this.#regions };
    return { where, table: whole.table.region(index, this.#regions) };
  }
}

/** A thread's own view of its table (workers/thread_entry.ts). */
export function threadTable(libc: Libc, where: ThreadInflight): InflightTable {
  if (where instanceof SharedArrayBuffer) return new InflightTable(new Uint8Array(where));
  const board = new Scoreboard(libc.memory(where.address, SCOREBOARD_BYTES));
  return board.inflight(where.slot).region(where.region, where.regions);
}

/** Whether a thread's table is a region of the worker's, which the master reads. */
export function sharedWithMaster(where: ThreadInflight): boolean {
  return !(where instanceof SharedArrayBuffer);
}
