// The master's record of one worker process: identity, boot state and the
// escalation from a polite signal to SIGKILL.

import type { ChildProcess } from "node:child_process";

export class WorkerHandle {
  /** Set when the worker reported it serves. */
  booted = false;
  /** Monotonic ms of the last heartbeat. */
  lastBeat = performance.now();
  /** The master asked this worker to stop (or it is recycling itself); its exit is expected. */
  retiring = false;
  /** SIGABRT was sent for a timeout; the next stale tick sends SIGKILL. */
  aborted = false;
  /** The master sent SIGKILL itself: no "Perhaps out of memory?" when it dies of it. */
  killed = false;
  /** Why the worker could not load the app, as it said before exiting 4. */
  failure: string | undefined;
  /** Settles when the worker's channel has ended (everything it sent has arrived). */
  channelDone: Promise<void> = Promise.resolve();

  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly age: number,
    /** Bumped by every HUP: workers of an older generation retire once the new one boots. */
    readonly generation: number,
    /** Its scoreboard slot, -1 for none. */
    readonly slot: number,
  ) {}

  /** Graceful stop (SIGTERM) or quick stop (SIGQUIT), as gunicorn's workers expect. */
  stop(graceful: boolean): void {
    this.retiring = true;
    this.signal(graceful ? "SIGTERM" : "SIGQUIT");
  }

  kill(): void {
    this.retiring = true;
    this.killed = true;
    this.signal("SIGKILL");
  }

  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone: its exit event is on the way.
    }
  }
}
