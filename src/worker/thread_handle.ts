// The pool's record of one gthread thread (as master/worker_handle.ts is the
// master's record of one worker process): its Web Worker, its shared-memory
// slots, its place on the pool's board, and whether it has loaded the app.

import { firstLine } from "../errors.ts";
import type { InflightTable } from "../ipc/inflight.ts";
import { REQUEST_METRICS_BYTES } from "../ipc/request_metrics.ts";
import type { ToThread } from "../ipc/messages.ts";
import type { UnparsedConnections } from "../http/server.ts";
import { SEALED, SlotReader } from "./thread_slots.ts";
import type { ThreadInflight } from "./thread_inflight.ts";

export class ThreadHandle {
  readonly worker: Worker;
  readonly slots: SlotReader;
  /** Its request counters, which the pool sums into the worker's (--metrics-bind). */
  readonly counters: SharedArrayBuffer = new SharedArrayBuffer(REQUEST_METRICS_BYTES);
  /** It loaded the app and takes connections. */
  loaded = false;
  /** Connections the process handed to it: the last one's number, and those it may not have taken. */
  posted = 0;
  handed: { n: number; fd: number }[] = [];
  /** Ended, or given up on (hung): it takes nothing more. */
  dead = false;
  /** Set while the pool waits for it to accept on the worker's listeners. */
  listening: { resolve(): void; reject(error: Error): void } | undefined;
  /** Set while the pool waits for it to drain. */
  drained: (() => void) | undefined;
  /** It said it drained: nothing more is handed to it. */
  drainedAll = false;
  /** Set while the pool waits for it to send its statsd batch (and, quick, what it closed). */
  flushed: ((unparsed?: UnparsedConnections) => void) | undefined;
  /** Set while the pool waits for it to stop accepting (a quick stop). */
  acceptingStopped: (() => void) | undefined;

  constructor(
    readonly id: number,
    /** Its place on the pool's ThreadBoard, which a replacement takes over. */
    readonly index: number,
    /** Starts the thread's Web Worker under this name (Runtime.startThread). */
    start: (name: string) => Worker,
    readonly buffer: SharedArrayBuffer,
    origin: number,
    /** The requests it has in flight, as it writes them (thread_inflight.ts): where, and read. */
    readonly inflight: { where: ThreadInflight; table: InflightTable },
  ) {
    this.worker = start(`appserve-thread-${id}`);
    this.slots = new SlotReader(buffer, origin);
  }

  /**
   * The number of the next connection handed to it: counted on as an Int32, as its slots store
   * it (after() compares across the wrap), never the slots' SEALED.
   */
  nextHandoff(): number {
    this.posted = (this.posted + 1) | 0;
    if (this.posted === SEALED) this.posted = (this.posted + 1) | 0;
    return this.posted;
  }

  post(message: ToThread): void {
    this.worker.postMessage(message);
  }

  /** Whether it serves: loaded the app, and not given up on. */
  get live(): boolean {
    return this.loaded && !this.dead;
  }

  /** Ends the thread (where the runtime can stop a busy one: Runtime.stopsBusyThreads). */
  terminate(): void {
    this.dead = true;
    this.worker.terminate();
  }
}

/** The error of a crashed thread as one line; Bun's message carries a code frame first. */
export function crashLine(event: ErrorEvent): string {
  if (event.error instanceof Error) return firstLine(event.error);
  const lines = String(event.message).split("\n");
  for (const line of lines) {
    const m = /^\s*(?:Uncaught\s+)?(\w*Error|error):\s*(.*)$/.exec(line);
    if (m) return `${m[1] === "error" ? "Error" : m[1]}: ${m[2]}`;
  }
  return lines[0];
}
