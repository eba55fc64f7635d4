// A worker's share of the connections. Workers accepting on one shared socket do not share them
// out by themselves: whoever wakes first takes a whole burst (wrk's 64 connections all went to
// one worker), and kept-alive connections stay where they landed. So each worker writes its
// count of kept-alive connections to the scoreboard and stops accepting for a moment while it
// has clearly more than the sibling with the fewest; the one with the fewest never stops.
// Connections that close after one response spread by themselves (a busy worker accepts later).

import type { ConnectionShare } from "../net/admission.ts";
import type { WorkerBoot } from "../ipc/messages.ts";
import { Scoreboard, SCOREBOARD_BYTES } from "../ipc/scoreboard.ts";
import type { Libc } from "../runtime/types.ts";

// A sibling that has not written for this long is stuck or gone: it is not counted on. Workers
// write at least once per heartbeat (at most a second apart).
const LIVE_MS = 3000;

export class Balance implements ConnectionShare {
  readonly #board: Scoreboard;
  readonly #slot: number;
  readonly #pid: number;

  constructor(board: Scoreboard, slot: number, pid: number) {
    this.#board = board;
    this.#slot = slot;
    this.#pid = pid;
  }

  publish(share: number, open: number, accepting: boolean): void {
    this.#board.write(this.#slot, this.#pid, share, open, accepting, Date.now());
  }

  excess(kept: number, incoming: number, open: number): number {
    const found = this.#fewest(open);
    if (found < 0) return 0;
    const fewest = found + incoming;
    if (kept <= fewest + slack(kept)) return 0;
    return Math.floor((kept - fewest) / 2);
  }

  someoneHasFewer(kept: number, open: number): boolean {
    const fewest = this.#fewest(open);
    return fewest >= 0 && fewest < kept;
  }

  // Only siblings clearly less busy in all are compared with: one with as many connections is as
  // busy (its own close after a response), and what it lacks in kept-alive ones may be
  // WebSockets or streams here that are never shed; holding for it would leave this worker idle
  // while requests wait.
  #fewest(open: number): number {
    return this.#board.fewestBesides(this.#slot, Date.now() - LIVE_MS, open - slack(open) + 1);
  }
}

// A fifth more than the fewest (at least two more) is within the share: counts stay within about
// ±10% of even. Beyond it, half the difference moves, which evens the two out.
function slack(count: number): number {
  return Math.max(2, Math.floor(count / 5));
}

/** The scoreboard the master gave this worker, mapped once; undefined when it gave none. */
export function mapScoreboard(
  libc: Libc,
  scoreboard: WorkerBoot["scoreboard"],
): Scoreboard | undefined {
  if (scoreboard === undefined) return undefined;
  const memory = libc.mapShared(scoreboard.fd, SCOREBOARD_BYTES);
  // The mapping stays when the fd goes; nothing the app starts should inherit it.
  libc.close(scoreboard.fd);
  return memory === null ? undefined : new Scoreboard(memory);
}
