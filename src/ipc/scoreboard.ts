// The scoreboard: a page of memory the master shares with every worker (as Apache's is), one
// slot per worker. A worker writes how many connections it has and when it last did so; its
// siblings read that to take their share of new connections (src/worker/balance.ts). The
// master creates it, gives each worker a slot, and clears the slot when the worker is gone.
// After the slots' counts, each slot has a table of the worker's requests in flight
// (inflight.ts), which the master reads when the worker's event loop is stuck.

import { INFLIGHT_BYTES, InflightTable } from "./inflight.ts";
import { METRIC_COUNTERS, REQUEST_METRICS_BYTES } from "./request_metrics.ts";

export const SCOREBOARD_SLOTS = 128;
const SLOT_BYTES = 16;
const COUNTS_BYTES = SCOREBOARD_SLOTS * SLOT_BYTES;
const PER_SLOT_BYTES = INFLIGHT_BYTES + REQUEST_METRICS_BYTES;
/**
 * The whole page: the counts, then per slot an in-flight table and the request counters
 * (pages never touched cost nothing).
 */
export const SCOREBOARD_BYTES = COUNTS_BYTES + SCOREBOARD_SLOTS * PER_SLOT_BYTES;

// Per slot: float64 time of the last write (ms since the epoch; 0 = nobody), int32 connections,
// int32 pid. Aligned writes of these sizes are single stores, so a reader sees old or new.
const BEAT = 0;
const OPEN = 2;
const PID = 3;

/** A connection count that never is the fewest: the worker does not accept now. */
export const NOT_ACCEPTING = 0x3fffffff;

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

  /** Empties a slot (the master, before a worker gets it and after the worker is gone). */
  clear(slot: number): void {
    this.inflight(slot).clear();
    this.counters(slot).fill(0);
    this.#beats[slot * 2 + BEAT] = 0;
    this.#ints[slot * 4 + OPEN] = 0;
    this.#ints[slot * 4 + PID] = 0;
  }

  /** A worker's report: `open` connections (or NOT_ACCEPTING), at `now`. */
  write(slot: number, pid: number, open: number, now: number): void {
    this.#ints[slot * 4 + PID] = pid;
    this.#ints[slot * 4 + OPEN] = open;
    this.#beats[slot * 2 + BEAT] = now;
  }

  /** The fewest connections of a slot other than `slot` written since `since`; -1 if none. */
  fewestBesides(slot: number, since: number): number {
    let fewest = -1;
    const ints = this.#ints;
    const beats = this.#beats;
    for (let i = 0; i < SCOREBOARD_SLOTS; i++) {
      if (i === slot || beats[i * 2 + BEAT] < since) continue;
      const open = ints[i * 4 + OPEN];
      if (fewest < 0 || open < fewest) fewest = open;
    }
    return fewest;
  }

  /** Connections of every slot written since `since`, by pid (for tests and, later, metrics). */
  read(since: number): Map<number, number> {
    const out = new Map<number, number>();
    for (let i = 0; i < SCOREBOARD_SLOTS; i++) {
      if (this.#beats[i * 2 + BEAT] >= since) {
        out.set(this.#ints[i * 4 + PID], this.#ints[i * 4 + OPEN]);
      }
    }
    return out;
  }
}
