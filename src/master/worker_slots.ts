// The master's side of the scoreboard (src/ipc/scoreboard.ts): creates the shared page once,
// hands each new worker a free slot and clears it when the worker is gone, so a slot never
// carries a dead worker's numbers into a new one.

import type { Libc } from "../runtime/types.ts";
import {
  Scoreboard,
  SCOREBOARD_BYTES,
  SCOREBOARD_MEMFD,
  SCOREBOARD_SLOTS,
} from "../ipc/scoreboard.ts";
import type { InflightTable } from "../ipc/inflight.ts";
import { moveToInheritedRange } from "../net/listeners.ts";
import { F_SETFD, FD_CLOEXEC } from "../net/socket_constants.ts";

export class WorkerSlots {
  /**
   * The shared page's fd, close-on-exec: each worker is given it as it starts (spawnWorker), and
   * nothing else is (a USR2 child makes its own; a Deno master's spawn closes no fd).
   */
  readonly fd: number;
  readonly #board: Scoreboard;
  readonly #used = new Set<number>();

  private constructor(fd: number, board: Scoreboard) {
    this.fd = fd;
    this.#board = board;
  }

  /** The scoreboard, or undefined where shared memory cannot be had (workers then go without). */
  static open(libc: Libc): WorkerSlots | undefined {
    const created = libc.memfd(SCOREBOARD_MEMFD, SCOREBOARD_BYTES);
    if (created < 0) return undefined;
    const fd = moveToInheritedRange(libc, created);
    if (fd < 0) libc.close(created);
    // The move (F_DUPFD) made it inheritable again.
    else libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
    const memory = fd < 0 ? null : libc.mapShared(fd, SCOREBOARD_BYTES);
    if (memory === null) {
      if (fd >= 0) libc.close(fd);
      return undefined;
    }
    return new WorkerSlots(fd, new Scoreboard(memory));
  }

  /** A free slot, cleared; -1 when every slot is taken (that worker is not balanced). */
  take(): number {
    for (let slot = 0; slot < SCOREBOARD_SLOTS; slot++) {
      if (this.#used.has(slot)) continue;
      this.#used.add(slot);
      this.#board.clear(slot);
      return slot;
    }
    return -1;
  }

  /** The requests the worker of `slot` has in flight (its in-flight table, read now). */
  inflight(slot: number): ReturnType<InflightTable["read"]> | undefined {
    return slot >= 0 ? this.#board.inflight(slot).read() : undefined;
  }

  /** A copy of the access lines the worker of `slot` left unwritten (src/ipc/pending_access.ts). */
  pendingAccess(slot: number): Uint8Array | undefined {
    return slot >= 0 ? this.#board.pendingAccess(slot).read() : undefined;
  }

  /** The request counters of `slot` (src/ipc/request_metrics.ts), live. */
  counters(slot: number): Float64Array | undefined {
    return slot >= 0 ? this.#board.counters(slot) : undefined;
  }

  /** The connections the worker of `slot` has open, as it last wrote them. */
  connections(slot: number): number | undefined {
    return slot >= 0 ? this.#board.connections(slot) : undefined;
  }

  free(slot: number): void {
    if (!this.#used.delete(slot)) return;
    this.#board.clear(slot);
  }
}
