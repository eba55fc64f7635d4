// Where the logs' bytes go: a standard stream, or a file appended to. A file
// gets one blocking write(2) per error line and per access-log batch, as
// gunicorn's logging writes: nothing is held back, so a process that exits
// right after logging loses nothing, and USR1 (logrotate moved the file)
// simply opens the path again, losing no line and writing none twice. A pipe
// or socket gets a batch in pieces of whole lines (pipe_writes.ts).

import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { ConfigError } from "../errors.ts";
import { isPipeLike, writePieces } from "./pipe_writes.ts";
import { writeStd } from "./std_streams.ts";

/** One log's destination. */
export interface LogSink {
  /**
   * Writes `chunk`: to a file before it returns; a stream is given a copy of bytes, so the
   * buffer that holds a batch can be filled again at once.
   */
  write(chunk: string | Uint8Array): void;
  /** Opens the file again; throws (and keeps writing to the old file) when it cannot. */
  reopen(): void;
  /** Closes the file; whatever is written afterwards is dropped. */
  close(): void;
}

export interface SinkOptions {
  /** What the log is called in messages ("access log"). */
  what: string;
  /** The stream "-" and "" stand for. */
  stream: "stdout" | "stderr";
  /**
   * Told, once, that a write failed (a full disk, a pipe whose reader is gone), with one line
   * saying so; the sink drops the lines it cannot write and serving goes on.
   */
  failed?: (message: string) => void;
  /**
   * Told, with one line, that a file whose writes failed takes them again, and how many lines
   * were lost meanwhile; a later failure is then told again.
   */
  recovered?: (message: string) => void;
}

function openAppend(path: string, what: string): number {
  try {
    return openSync(path, "a");
  } catch (error) {
    throw new ConfigError(`Cannot open ${what} "${path}": ${(error as Error).message}`);
  }
}

/** Fails at start, in one line, when `path` cannot be appended to. */
export function checkWritable(path: string, what: string): void {
  closeSync(openAppend(path, what));
}

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/**
 * A sink for `path`: "-" or "" is the given standard stream, anything else a
 * file appended to (O_APPEND keeps lines of master and workers whole).
 */
export function openSink(path: string, options: SinkOptions): LogSink {
  const stream = !path || path === "-";
  // A write error is said once (a file: once per outage), and never stops serving, a reopen or
  // the exit.
  let reported = false;
  const failed = (error: unknown) => {
    if (reported) return;
    reported = true;
    const where = stream ? `to ${options.stream}` : `"${path}"`;
    options.failed?.(`Cannot write ${options.what} ${where}: ${(error as Error).message}`);
  };
  if (stream) {
    const streamFd = options.stream === "stdout" ? 1 : 2;
    let closed = false;
    // Written here, in pieces, when a pipe or socket (see pipe_writes.ts); checked again on
    // USR1, as --capture-output may have made the stream a file since.
    let pipe = isPipeLike(streamFd);
    let broken = false;
    return {
      // The stream may hold the chunk after this returns.
      write: (chunk) => {
        if (closed) return;
        if (!pipe) {
          return writeStd(
            options.stream,
            typeof chunk === "string" ? chunk : chunk.slice(),
            failed,
          );
        }
        // A reader that went does not come back.
        if (broken) return;
        try {
          writePieces(streamFd, typeof chunk === "string" ? encoder.encode(chunk) : chunk);
        } catch (error) {
          broken = true;
          // Deno's message lacks the code ("Broken pipe (os error 32)"); the stream's has it.
          const { code, message } = error as Error & { code?: string };
          failed(code && !message.includes(code) ? new Error(`${code}: ${message}`) : error);
        }
      },
      reopen: () => {
        pipe = isPipeLike(streamFd);
      },
      close: () => {
        closed = true;
      },
    };
  }
  let fd = openAppend(path, options.what);
  // A FIFO or /dev/stdout named as the path.
  let pipe = isPipeLike(fd);
  // Writes fail (a full disk): the lines lost since, said once writes are taken again.
  let failing = false;
  let lost = 0;
  const closeQuietly = (old: number) => {
    try {
      closeSync(old);
    } catch (error) {
      failed(error);
    }
  };
  return {
    write(chunk) {
      if (fd < 0) return;
      const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
      try {
        // A regular file opened O_APPEND keeps each write whole: one write(2) (the cheaper).
        if (pipe) writePieces(fd, bytes);
        // write(2) may take less than it was given.
        else for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      } catch (error) {
        // A full disk: the rest of the line or batch is lost, serving goes on.
        lost += linesIn(bytes.subarray(pipe ? 0 : keepWholeLines(fd, bytes)));
        failing = true;
        failed(error);
        return;
      }
      if (!failing) return;
      failing = false;
      reported = false;
      const count = lost;
      lost = 0;
      options.recovered?.(
        `Can write ${options.what} "${path}" again; ${count} line${
          count === 1 ? "" : "s"
        } lost while it failed`,
      );
    },
    reopen() {
      if (fd < 0) return;
      const old = fd;
      try {
        fd = openSync(path, "a");
      } catch (error) {
        // Worded for "Cannot reopen logs: ...", naming the log, and what becomes of its lines.
        throw new ConfigError(
          `${options.what} "${path}": ${(error as Error).message}; its lines go on to the old file`,
        );
      }
      pipe = isPipeLike(fd);
      closeQuietly(old);
    },
    close() {
      if (fd < 0) return;
      const old = fd;
      // The fd may be reused once closed: nothing more goes to it.
      fd = -1;
      closeQuietly(old);
    },
  };
}

/**
 * After a write the disk took only part of (it filled up), the file ends in a torn line, to which
 * the next line written once there is room again would be glued: it is cut off. Returns how many
 * bytes of `bytes` (whole lines) the file kept, read off its end, as Deno's writeSync tells nothing
 * of a write it took in part. While the disk is full no other write lands: the end is this one's.
 */
function keepWholeLines(fd: number, bytes: Uint8Array): number {
  let reader = -1;
  try {
    const stat = fstatSync(fd);
    // A device (/dev/full) has no end to read.
    if (!stat.isFile()) return 0;
    const size = stat.size;
    const tail = new Uint8Array(Math.min(size, bytes.length));
    // The fd is write-only; its file (not the path: logrotate may have moved it) read anew.
    reader = openSync(`/proc/self/fd/${fd}`, "r");
    readSync(reader, tail, 0, tail.length, size - tail.length);
    const end = tail.lastIndexOf(NEWLINE) + 1;
    if (end < tail.length && (end > 0 || size === tail.length)) {
      ftruncateSync(fd, size - tail.length + end);
    }
    // The longest run of this write's whole lines the file now ends with, never all of them: a
    // write that failed did not land whole (the file may end with the same line written before).
    const from = Math.min(end, bytes.length - 1) - 1;
    for (let at = from >= 0 ? bytes.lastIndexOf(NEWLINE, from) : -1; at >= 0;) {
      if (sameBytes(tail.subarray(end - at - 1, end), bytes.subarray(0, at + 1))) return at + 1;
      at = at ? bytes.lastIndexOf(NEWLINE, at - 1) : -1;
    }
  } catch {
    // Not readable: left as it is, and every line counted as lost.
  } finally {
    if (reader >= 0) closeSync(reader);
  }
  return 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function linesIn(bytes: Uint8Array): number {
  let count = 0;
  for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) count++;
  return count;
}
