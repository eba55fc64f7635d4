// What the socket of one WebSocket on appserve's layer has written, counted as its writes complete
// (docs/websockets.md, "Logging and metrics"). node:net's bytesWritten counts what waits in the
// socket's buffer too, and under Deno a whole batch handed to one writev from its start, so a
// client that took 1 MiB of a 40 MiB burst and left was logged as 40 MiB.

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";

/**
 * A writev is cut into writes of about this size: a socket reports a write only once it is whole,
 * so a backlog handed over in one would show no progress (and count nothing) until all of it went
 * out. The answers to one chunk (writeAnswersPerChunk) are far smaller: still one write.
 */
export const BATCH_BYTES = 64 * 1024;

type Done = (error?: Error | null) => void;
/** A Writable's chunk: a string's encoding, "buffer" for bytes. */
type Encoding = BufferEncoding | "buffer";
interface Chunk {
  chunk: Buffer | string;
  encoding: Encoding;
}
/** The node:net Writable's own write methods (Node, Deno and Bun have both). */
interface Writes {
  _write(chunk: Buffer | string, encoding: Encoding, done: Done): void;
  _writev?: ((chunks: Chunk[], done: Done) => void) | null;
}

function bytes({ chunk, encoding }: Chunk): Buffer {
  return typeof chunk === "string" ? Buffer.from(chunk, encoding as BufferEncoding) : chunk;
}

/** Counts the bytes `socket` writes from now on, as each write completes. */
export class SentBytes {
  #bytes = 0;

  constructor(socket: Socket) {
    const w = socket as unknown as Writes;
    // The runtime's own writev is not used: Bun's calls _write (counted twice), and Deno's and
    // Bun's join the chunks into one buffer anyway, as this does a batch at a time.
    const write = w._write;
    const counted = (n: number, done: Done): Done => (error) => {
      if (!error) this.#bytes += n;
      done(error);
    };
    w._write = function (chunk, encoding, done) {
      const n = typeof chunk === "string"
        ? Buffer.byteLength(chunk, encoding as BufferEncoding)
        : chunk.byteLength;
      write.call(this, chunk, encoding, counted(n, done));
    };
    w._writev = function (chunks, done) {
      let i = 0;
      const next = (): void => {
        const batch: Buffer[] = [];
        let n = 0;
        while (i < chunks.length && n < BATCH_BYTES) {
          const b = bytes(chunks[i++]);
          batch.push(b);
          n += b.byteLength;
        }
        const buffer = batch.length === 1 ? batch[0] : Buffer.concat(batch, n);
        // The next batch once this call returned: Bun calls back from inside its _write.
        const then = i === chunks.length
          ? done
          : (error?: Error | null) => error ? done(error) : queueMicrotask(next);
        write.call(this, buffer, "buffer", counted(n, then));
      };
      next();
    };
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }
}
