// The master's record of one worker process: identity, boot state, what it
// says on its channel and the escalation from a polite signal to SIGKILL.

import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { addressSpaceLimitKb } from "../address_space.ts";
import { receive } from "../ipc/channel.ts";
import { REOPEN_LOGS_BYTE, type ToMaster } from "../ipc/messages.ts";

/** Whether a worker's exit line has named the address-space limit (said once). */
let cageNamed = false;

/**
 * How long after a worker's exit its channel may stay open (a process the app
 * started still holds it) before the master stops waiting for its last words.
 */
const CHANNEL_GRACE_MS = 2000;

export class WorkerHandle {
  /** Set when the worker reported it serves. */
  booted = false;
  /** Monotonic ms of the last heartbeat. */
  lastBeat = performance.now();
  /** The master asked this worker to stop (or it is recycling itself); its exit is expected. */
  retiring = false;
  /** Recycling (max_requests, --max-worker-memory): SIGTERM once its replacement has booted. */
  recycling = false;
  /**
   * Why it retires itself or is retired to be replaced (a restart, for the metrics); `fds`: its
   * listener stopped accepting (it drains at once, not recycling).
   */
  retiredFor: "max_requests" | "memory" | "fds" | undefined;
  /**
   * It booted over --max-worker-memory while the server ran and has stayed over it since: not
   * retired for its memory (cleared once it is seen under the limit).
   */
  bootedOverLimit = false;
  /** Monotonic ms of its start. */
  readonly startedAt = performance.now();
  /** SIGABRT was sent for a timeout; the next stale tick sends SIGKILL. */
  aborted = false;
  /** The master sent SIGKILL itself: no "Perhaps out of memory?" when it dies of it. */
  killed = false;
  /** Why the worker could not boot or load the app, as it said before exiting 3 or 4. */
  #failure: string | undefined;
  #spoke = false;
  /** Settles when the worker's channel has ended (everything it sent has arrived). */
  #channelDone: Promise<void> = Promise.resolve();

  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly age: number,
    /** Bumped by every HUP: workers of an older generation retire once the new one boots. */
    readonly generation: number,
    /** Its scoreboard slot, -1 for none. */
    readonly slot: number,
  ) {}

  /**
   * Reads the worker's channel: a failure is recorded at once (the exit that follows may be
   * reaped before queued events), every other message goes to `onMessage`, and a line that is
   * no message to `warn` as a log line naming this worker.
   */
  listen(
    channel: Readable,
    onMessage: (message: ToMaster) => void,
    warn: (line: string) => void,
  ): void {
    this.#channelDone = new Promise<void>((done) => {
      channel.on("end", done).on("close", done).on("error", done);
    });
    receive(channel, {
      onMessage: (message) => {
        this.#spoke = true;
        if (message.t === "failed") this.#failure = message.message;
        else if (message.t !== "hello") onMessage(message);
      },
      onMalformed: (start) =>
        warn(`Dropped a malformed message from worker (pid:${this.pid}): ${JSON.stringify(start)}`),
    });
  }

  /**
   * Why the worker could not boot or load the app, once it has exited: its message may still be in
   * the channel, so wait for the channel's end, at most CHANNEL_GRACE_MS from now.
   */
  async lastWords(): Promise<string | undefined> {
    if (this.#failure === undefined) await this.#channelEnd();
    return this.#failure;
  }

  /** Whether the worker said anything on its channel, once it has exited (as lastWords()). */
  async spoke(): Promise<boolean> {
    if (!this.#spoke) await this.#channelEnd();
    return this.#spoke;
  }

  async #channelEnd(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((done) => (timer = setTimeout(done, CHANNEL_GRACE_MS)));
    await Promise.race([this.#channelDone, grace]);
    clearTimeout(timer);
  }

  /**
   * Whether this worker ended (exit code `code`, or `signal`) otherwise than the master asked: an
   * exit code, or a signal the master did not send (the OOM killer's SIGKILL, a crash), also while
   * it drains. A stop signal (TERM, QUIT, or a terminal's INT) reaching a retiring one is asked.
   */
  diedUnasked(code: number | null, signal: string | null): boolean {
    if (code) return true;
    if (signal === null) return false;
    if (signal === "SIGKILL") return !this.killed;
    if (signal === "SIGABRT") return !this.aborted;
    return !(this.retiring && ["SIGTERM", "SIGQUIT", "SIGINT"].includes(signal));
  }

  /** The master's log line for this worker's exit (gunicorn's wording); none for a clean one. */
  exitReport(
    code: number | null,
    signal: string | null,
  ): { level: "error" | "warning" | "info"; message: string } | undefined {
    const who = `Worker (pid:${this.pid})`;
    if (signal === "SIGKILL") {
      // After a timeout the master sent it itself; otherwise the OOM killer is the usual suspect.
      const hint = this.killed ? "" : " Perhaps out of memory?";
      return { level: "error", message: `${who} was sent SIGKILL!${hint}` };
    }
    if (signal === "SIGTERM") return { level: "info", message: `${who} was sent SIGTERM!` };
    if (signal) {
      return { level: "warning", message: `${who} was sent ${signal}!${this.#cage(signal)}` };
    }
    if (code) return { level: "error", message: `${who} exited with code ${code}.` };
    return undefined;
  }

  /**
   * V8 aborts (SIGTRAP, SIGABRT) when it cannot reserve its heap cage under a low `ulimit -v`: a
   * worker that dies so while booting gets the limit named, once per master.
   */
  #cage(signal: string): string {
    if (this.booted || this.aborted || (signal !== "SIGTRAP" && signal !== "SIGABRT")) return "";
    const limit = addressSpaceLimitKb();
    if (limit === undefined || cageNamed) return "";
    cageNamed = true;
    return ` An address-space limit is set (ulimit -v ${limit} kB): V8 may be unable to ` +
      "reserve its heap under it; raise or remove it";
  }

  /** Graceful stop (SIGTERM) or quick stop (SIGQUIT), as gunicorn's workers expect. */
  stop(graceful: boolean): void {
    this.retiring = true;
    this.recycling = false;
    this.signal(graceful ? "SIGTERM" : "SIGQUIT");
  }

  kill(): void {
    this.retiring = true;
    this.recycling = false;
    this.killed = true;
    this.signal("SIGKILL");
  }

  /** USR1's part for a worker: reopen its log files (told on its stdin, not by the signal). */
  reopenLogs(): void {
    const stdin = this.child.stdin;
    if (stdin && stdin.writable) stdin.write(new Uint8Array([REOPEN_LOGS_BYTE]));
  }

  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone: its exit event is on the way.
    }
  }
}
