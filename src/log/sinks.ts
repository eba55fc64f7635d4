// Where the logs' bytes go: a standard stream, or a file appended to. A file
// gets one blocking write(2) per error line and per access-log batch, as
// gunicorn's logging writes: nothing is held back, so a process that exits
// right after logging loses nothing, and USR1 (logrotate moved the file)
// simply opens the path again, losing no line and writing none twice. A pipe
// or socket gets a batch in pieces of whole lines (pipe_writes.ts).

import { closeSync, openSync, writeSync } from "node:fs";
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

/**
 * A sink for `path`: "-" or "" is the given standard stream, anything else a
 * file appended to (O_APPEND keeps lines of master and workers whole).
 */
export function openSink(path: string, options: SinkOptions): LogSink {
  const stream = !path || path === "-";
  // A write error is said once at most, and never stops serving, a reopen or the exit.
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
        // A full disk: the line or batch is lost, serving goes on.
        failed(error);
      }
    },
    reopen() {
      if (fd < 0) return;
      const old = fd;
      fd = openSync(path, "a");
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
