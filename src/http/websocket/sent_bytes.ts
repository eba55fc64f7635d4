// What the socket of one WebSocket on appserve's layer has written, counted as its writes complete
// (docs/websockets.md, "Logging and metrics"). node:net's bytesWritten counts what waits in the
// socket's buffer too, and under Deno a whole batch handed to one writev from its start, so a
// client that took 1 MiB of a 15 MiB burst and left was logged as 15 MiB.

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";

/**
 * A writev is cut into batches of about this size, and one larger chunk (a big message) into pieces
 * of it: a socket reports a write only once it is whole, so a backlog handed over in one would show
 * no progress (and count nothing) until all of it went out. The answers to one chunk
 * (writeAnswersPerChunk) are far smaller: still one write.
 */
export const BATCH_BYTES = 64 * 1024;

type Done = (error?: Error | null) => void;
/** A Writable's chunk: a string's encoding, "buffer" for bytes. */
type Encoding = BufferEncoding | "buffer";
interface Chunk {
  chunk: Buffer | string;
  encoding: Encoding;
}
type Chunks = Chunk[] & { allBuffers?: boolean };
/** The node:net Writable's own write methods (Node, Deno and Bun have both). */
interface Writes {
  _write(chunk: Buffer | string, encoding: Encoding, done: Done): void;
  _writev?: ((chunks: Chunks, done: Done) => void) | null;
}

function size({ chunk, encoding }: Chunk): number {
  return typeof chunk === "string"
    ? Buffer.byteLength(chunk, encoding as BufferEncoding)
    : chunk.byteLength;
}

/** Counts the bytes `socket` writes from now on, as each write completes. */
export class SentBytes {
  #bytes = 0;

  constructor(socket: Socket) {
    const w = socket as unknown as Writes;
    const write = w._write;
    const writev = w._writev;
    const counted = (n: number, done: Done): Done => (error) => {
      if (!error) this.#bytes += n;
      done(error);
    };
    // One chunk: bytes over BATCH_BYTES go in pieces, each counted once written.
    const writeOne = (self: Writes, chunk: Buffer | string, encoding: Encoding, done: Done) => {
      if (typeof chunk === "string" || chunk.byteLength <= BATCH_BYTES) {
        return write.call(self, chunk, encoding, counted(size({ chunk, encoding }), done));
      }
      let at = 0;
      const next = (): void => {
        const piece = chunk.subarray(at, at + BATCH_BYTES);
        at += piece.byteLength;
        const then = at === chunk.byteLength
          ? done
          : (error?: Error | null) => error ? done(error) : queueMicrotask(next);
        write.call(self, piece, "buffer", counted(piece.byteLength, then));
      };
      next();
    };
    // Bun's writev writes its batch through _write: counted once, as the batch.
    let inBatch = false;
    w._write = function (chunk, encoding, done) {
      if (inBatch) return write.call(this, chunk, encoding, done);
      writeOne(this, chunk, encoding, done);
    };
    if (typeof writev !== "function") return;
    w._writev = function (chunks, done) {
      let i = 0;
      const next = (): void => {
        const from = i;
        let n = 0;
        // A chunk of a batch's size or more goes alone: joined, it would be copied (Bun's writev).
        while (i < chunks.length && n < BATCH_BYTES) {
          const m = size(chunks[i]);
          if (i > from && m >= BATCH_BYTES) break;
          n += m;
          i++;
        }
        // The next batch once this call returned: Bun calls back from inside its _write.
        const then = i === chunks.length
          ? done
          : (error?: Error | null) => error ? done(error) : queueMicrotask(next);
        if (i - from === 1) return writeOne(this, chunks[from].chunk, chunks[from].encoding, then);
        const batch: Chunks = from === 0 && i === chunks.length ? chunks : chunks.slice(from, i);
        batch.allBuffers = chunks.allBuffers;
        inBatch = true;
        try {
          writev.call(this, batch, counted(n, then));
        } finally {
          inBatch = false;
        }
      };
      next();
    };
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }
}
