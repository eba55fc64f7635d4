// The scoreboard: a page of memory the master shares with every worker (as Apache's is), one
// slot per worker. A worker writes how many connections it has and when it last did so; its
// siblings read that to take their share of new connections (src/worker/balance.ts), and the
// master to show them (--metrics-bind, appserve ctl). The
// master creates it, gives each worker a slot, and clears the slot when the worker is gone.
// After the slots' counts, each slot has a table of the worker's requests in flight
// (inflight.ts), which the master reads when the worker's event loop is stuck, and the access
// lines waiting for their batch (pending_access.ts), which it writes out for a killed worker.

import { INFLIGHT_BYTES, InflightTable } from "./inflight.ts";
import { PENDING_ACCESS_BYTES, PendingAccess } from "./pending_access.ts";
import { METRIC_COUNTERS, REQUEST_METRICS_BYTES } from "./request_metrics.ts";

/** The name of the scoreboard's memfd (as /proc/PID/maps shows it: `/memfd:NAME`). */
export const SCOREBOARD_MEMFD = "appserve-scoreboard";
export const SCOREBOARD_SLOTS = 128;
const SLOT_BYTES = 24;
const COUNTS_BYTES = SCOREBOARD_SLOTS * SLOT_BYTES;
const PER_SLOT_BYTES = INFLIGHT_BYTES + REQUEST_METRICS_BYTES + PENDING_ACCESS_BYTES;
/**
 * The whole page: the counts, then per slot an in-flight table, the request counters and the
 * waiting access lines (pages never touched cost nothing).
 */
export const SCOREBOARD_BYTES = COUNTS_BYTES + SCOREBOARD_SLOTS * PER_SLOT_BYTES;

// Per slot: float64 time of the last write (ms since the epoch; 0 = nobody), int32 share (the
// connections the balance counts, or NOT_ACCEPTING), int32 pid, int32 connections (all open),
// 4 bytes unused. Aligned writes of these sizes are single stores, so a reader sees old or new.
const FLOATS = SLOT_BYTES / 8;
const INTS = SLOT_BYTES / 4;
const BEAT = 0;
const SHARE = 2;
const PID = 3;
const OPEN = 4;

/** A connection count that never is the fewest: the worker does not accept now. */
const NOT_ACCEPTING = 0x3fffffff;

export class Scoreboard {
  readonly #beats: Float64Array;
  readonly #ints: Int32Array;
  readonly #memory: Uint8Array;

  constructor(memory: Uint8Array) {
    this.#memory = memory;
    this.#beats = new Float64Array(memory.buffer, memory.byteOffset, COUNTS_BYTES / 8);
    this.#ints = new Int32Array(memory.buffer, memory.byteOffset, COUNTS_BYTES / 4);
  }

  /** The in-flight table of `slot`. */
  inflight(slot: number): InflightTable {
    const at = COUNTS_BYTES + slot * PER_SLOT_BYTES;
    return new InflightTable(this.#memory.subarray(at, at + INFLIGHT_BYTES));
  }

  /** The request counters of `slot` (src/ipc/request_metrics.ts). */
  counters(slot: number): Float64Array {
    const at = this.#memory.byteOffset + COUNTS_BYTES + slot * PER_SLOT_BYTES + INFLIGHT_BYTES;
    return new Float64Array(this.#memory.buffer, at, METRIC_COUNTERS);
  }

  /** The access lines the worker of `slot` has not written yet (src/ipc/pending_access.ts). */
  pendingAccess(slot: number): PendingAccess {
    const at = COUNTS_BYTES + slot * PER_SLOT_BYTES + INFLIGHT_BYTES + REQUEST_METRICS_BYTES;
    return new PendingAccess(this.#memory.subarray(at, at + PENDING_ACCESS_BYTES));
  }

  /** Empties a slot (the master, before a worker gets it and after the worker is gone). */
  clear(slot: number): void {
    this.inflight(slot).clear();
    this.pendingAccess(slot).clear();
    this.counters(slot).fill(0);
    this.#beats[slot * FLOATS + BEAT] = 0;
    this.#ints[slot * INTS + SHARE] = 0;
    this.#ints[slot * INTS + PID] = 0;
    this.#ints[slot * INTS + OPEN] = 0;
  }

  /**
   * A worker's report at `now`: `open` connections, `share` of them counted for the balance
   * (src/worker/balance.ts), whether it takes more (`accepting`).
   */
  write(
    slot: number,
    pid: number,
    share: number,
    open: number,
    accepting: boolean,
    now: number,
  ): void {
    const at = slot * INTS;
    this.#ints[at + PID] = pid;
    this.#ints[at + SHARE] = accepting ? share : NOT_ACCEPTING;
    this.#ints[at + OPEN] = open;
    this.#beats[slot * FLOATS + BEAT] = now;
  }

  /** The connections the worker of `slot` last said it has; undefined before it said any. */
  connections(slot: number): number | undefined {
    if (this.#beats[slot * FLOATS + BEAT] === 0) return undefined;
    return this.#ints[slot * INTS + OPEN];
  }

  /**
   * The smallest share of a slot other than `slot` written since `since` with fewer than
   * `openBelow` connections in all (NOT_ACCEPTING if none of them accepts); -1 if none.
   */
  fewestBesides(slot: number, since: number, openBelow = Infinity): number {
    let fewest = -1;
    const ints = this.#ints;
    const beats = this.#beats;
    for (let i = 0; i < SCOREBOARD_SLOTS; i++) {
      if (i === slot || beats[i * FLOATS + BEAT] < since) continue;
      if (ints[i * INTS + OPEN] >= openBelow) continue;
      const share = ints[i * INTS + SHARE];
      if (fewest < 0 || share < fewest) fewest = share;
    }
    return fewest;
  }
}
