// The access lines a worker has formatted but not yet written (they wait up to 20 ms for their
// batch), kept in its scoreboard slot: when the worker's event loop is stuck and it is killed
// for --timeout, the master writes them out, so no finished request's line is lost. Plain bytes
// and a length, as the in-flight table: master and worker may be different runtimes.

/** Bytes of the lines' area: the batch's byte limit (64 KiB) and room for the line that ends it. */
export const PENDING_ACCESS_LINES = 72 * 1024;
const HEADER_BYTES = 8;
/** Bytes of one slot's area. */
export const PENDING_ACCESS_BYTES = HEADER_BYTES + PENDING_ACCESS_LINES;

// Header: int32 bytes of whole lines waiting (written after each line's newline; 0 once the
// worker wrote them), 4 bytes unused.
const LENGTH = 0;

/** One worker's waiting access lines over `memory` (PENDING_ACCESS_BYTES, 4-byte aligned). */
export class PendingAccess {
  /** Where the worker formats its lines (src/log/line_buffer.ts writes into it). */
  readonly bytes: Uint8Array;
  readonly #ints: Int32Array;

  constructor(memory: Uint8Array) {
    if (memory.length < PENDING_ACCESS_BYTES) throw new RangeError("pending area too small");
    this.#ints = new Int32Array(memory.buffer, memory.byteOffset, HEADER_BYTES / 4);
    this.bytes = memory.subarray(HEADER_BYTES, PENDING_ACCESS_BYTES);
  }

  /** The worker: the first `length` bytes of `bytes` are whole lines not yet written. */
  publish(length: number): void {
    this.#ints[LENGTH] = length;
  }

  /** The master, once the worker is gone: a copy of the lines it never wrote (maybe none). */
  read(): Uint8Array {
    const length = this.#ints[LENGTH];
    if (!(length > 0 && length <= this.bytes.length)) return new Uint8Array();
    return this.bytes.slice(0, length);
  }

  /** Nothing waiting (the master, before a worker gets the slot and after it is gone). */
  clear(): void {
    this.#ints[LENGTH] = 0;
  }
}
