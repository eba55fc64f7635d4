// Where a gthread thread keeps its requests in flight: in a region of its worker's in-flight
// table on the scoreboard (src/ipc/inflight.ts, InflightTable.region()), so that the master
// counts and names them as it does an async or sync worker's (the wait line of a graceful stop,
// the lines of a worker that dies or is killed under them, WORKER TIMEOUT). A view of the
// scoreboard's mapping cannot be posted to a Web Worker (it is no SharedArrayBuffer): each
// thread makes its own view of the same bytes from their address. Without a scoreboard, or for
// threads past INFLIGHT_REGIONS, a thread's table is memory of its process's, as before, which
// the master cannot read.

import {
  INFLIGHT_BYTES,
  INFLIGHT_REGIONS,
  type InflightShare,
  InflightTable,
} from "../ipc/inflight.ts";
import type { Libc } from "../runtime/types.ts";

/** Where a thread's table is: its region of the worker's, or memory of its own. */
export type ThreadInflight = InflightShare | SharedArrayBuffer;

/**
 * The tables of a pool's threads: regions of `shared` (the worker's table on the scoreboard,
 * WorkerContext.inflight) when it is given, else memory of their own.
 */
export class ThreadTables {
  readonly #shared: { address: number; table: InflightTable } | undefined;
  readonly #regions: number;

  constructor(libc: Libc, threads: number, shared: InflightTable | undefined) {
    this.#regions = Math.min(threads, INFLIGHT_REGIONS);
    if (shared) this.#shared = { address: libc.addressOf(shared.memory), table: shared };
  }

  /** Where the thread at `index` on the board keeps its table, and the process's view of it. */
  forThread(index: number): { where: ThreadInflight; table: InflightTable } {
    const shared = this.#shared;
    if (shared === undefined || index >= this.#regions) {
      const where = new SharedArrayBuffer(INFLIGHT_BYTES);
      return { where, table: new InflightTable(new Uint8Array(where)) };
    }
    const where = { address: shared.address, region: index, regions: this.#regions };
    return { where, table: shared.table.region(index, this.#regions) };
  }
}

/** A thread's own view of its table (workers/thread_entry.ts). */
export function threadTable(libc: Libc, where: ThreadInflight): InflightTable {
  if (where instanceof SharedArrayBuffer) return new InflightTable(new Uint8Array(where));
  return new InflightTable(libc.memory(where.address, INFLIGHT_BYTES), where.region, where.regions);
}

/** Whether a thread's table is a region of the worker's, which the master reads. */
export function sharedWithMaster(where: ThreadInflight): boolean {
  return !(where instanceof SharedArrayBuffer);
}
