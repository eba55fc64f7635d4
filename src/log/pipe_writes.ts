// A pipe or socket keeps a write(2) whole, never interleaved with another
// process's, only up to PIPE_BUF bytes (POSIX; 4096 on Linux). A batch of
// access lines is up to 64 KiB, and every worker writes its batches to the
// same pipe (stdout under journald, docker or `| logger`): written at once, a
// batch cut short by a slow reader had another worker's line land inside one
// of its lines. So to a pipe or socket a batch goes in pieces that end at line
// ends, each its own write(2), made here: Bun's stdout stream, after a write
// that would block, joins what waits into one larger write again.

import { fstatSync, writeSync } from "node:fs";

/** The bytes a write to a pipe keeps whole (Linux's PIPE_BUF). */
export const PIPE_BUF = 4096;

const NEWLINE = 0x0a;
const RETRY_MS = 1;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Whether `fd` is a pipe or a socket, whose writers' lines interleave past PIPE_BUF. */
export function isPipeLike(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * `bytes` as views of at most PIPE_BUF bytes, each ending at a line end: as many whole lines as
 * fit; a line longer than PIPE_BUF goes alone (no write keeps it whole), as does text after the
 * last line end.
 */
export function pipePieces(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length <= PIPE_BUF) return [bytes];
  const pieces: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length) {
    if (bytes.length - start <= PIPE_BUF) {
      pieces.push(bytes.subarray(start));
      break;
    }
    // The last line end within PIPE_BUF bytes of start, else the end of the first line.
    let end = bytes.lastIndexOf(NEWLINE, start + PIPE_BUF - 1) + 1;
    if (end <= start) {
      end = bytes.indexOf(NEWLINE, start) + 1;
      if (end === 0) end = bytes.length;
    }
    pieces.push(bytes.subarray(start, end));
    start = end;
  }
  return pieces;
}

/**
 * Writes `bytes` to the pipe or socket `fd` before it returns, a write(2) per piece. A pipe
 * made non-blocking (Bun does so to its stdout, and the flag is shared by every process
 * writing to it) refuses a piece whole while it is full: this waits and tries again, as a
 * blocking write would wait. Throws what else the write throws (EPIPE: the reader is gone).
 */
export function writePieces(fd: number, bytes: Uint8Array): void {
  for (const piece of pipePieces(bytes)) {
    for (let at = 0; at < piece.length;) {
      try {
        at += writeSync(fd, piece, at, piece.length - at);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== "EAGAIN" && code !== "EWOULDBLOCK") throw error;
        Atomics.wait(sleeper, 0, 0, RETRY_MS);
      }
    }
  }
}
