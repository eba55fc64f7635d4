// logtape sinks for appserve's logs. Lines arrive fully formatted (gunicorn's
// format is byte-exact), so every sink writes them as they are: error lines as
// the record's `rawMessage`, access-log batches as bytes in `properties[BYTES]`.
//
// logtape's file sinks keep the fd they opened and have no reopen: after
// logrotate moves the file they would write on into the moved file. A
// ReopenableSink swaps in a fresh sink on USR1 and disposes the old one, which
// first writes what it still holds into the old file: no line is lost and none
// lands twice.

import { closeSync, openSync, writeSync } from "node:fs";
import process from "node:process";
import { getFileSink } from "@logtape/file";
import type { LogRecord, Sink } from "@logtape/logtape";
import { ConfigError } from "../errors.ts";

/** The record property that carries a batch of access lines, already UTF-8. */
export const BYTES = "appserve.bytes";

const raw = (record: LogRecord): string => record.rawMessage as string;

type Disposing = Sink & Partial<Disposable & AsyncDisposable>;

async function dispose(sink: Disposing): Promise<void> {
  const asyncDispose = sink[Symbol.asyncDispose];
  if (asyncDispose) await asyncDispose.call(sink);
  else sink[Symbol.dispose]?.();
}

/**
 * How a file sink writes: "lines" (the error log: each line written before the call
 * returns) or "batches" (the access log: each batch of lines written before the call
 * returns, so the LineBuffer that holds it can be filled again at once).
 */
export type FileMode = "lines" | "batches";

/** A logtape sink that can be pointed at a fresh file and closed. */
export interface ReopenableSink {
  readonly sink: Sink;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

/** Fails at start, in one line, when `path` cannot be appended to. */
export function checkWritable(path: string, what: string): void {
  try {
    closeSync(openSync(path, "a"));
  } catch (error) {
    throw new ConfigError(`Cannot open ${what} "${path}": ${(error as Error).message}`);
  }
}

// Why the access log has a sink of its own rather than one of logtape's file sinks:
// getStreamFileSink holds each chunk until its asynchronous write completes, so every batch
// needed a fresh buffer, which cost Bun 0.8 µs a request (A/B in the server, 13 rounds);
// getFileSink fsyncs on every flush and encodes each record again. One write(2) per batch
// lets the LineBuffer be reused, and it is what gunicorn's logging does too (a blocking
// write to the file). logtape still routes the records to it.
function batchSink(path: string, failed: (error: unknown) => void): Disposing {
  const fd = openSync(path, "a");
  const sink: Disposing = (record) => {
    const bytes = record.properties[BYTES] as Uint8Array;
    try {
      // write(2) may take less than it was given.
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    } catch (error) {
      // A full disk: the batch is lost, serving goes on.
      failed(error);
    }
  };
  sink[Symbol.dispose] = () => closeSync(fd);
  return sink;
}

function openFile(path: string, mode: FileMode, failed: (error: unknown) => void): Disposing {
  // The error log is small and must survive process.exit: written synchronously
  // (bufferSize 0) by logtape's file sink.
  return mode === "lines"
    ? getFileSink(path, { formatter: raw, bufferSize: 0 })
    : batchSink(path, failed);
}

/**
 * A sink for `path`: "-" or "" is the given standard stream, anything else a
 * file appended to (O_APPEND keeps lines of master and workers whole).
 */
export function openSink(
  path: string,
  what: string,
  stream: "stdout" | "stderr",
  mode: FileMode,
): ReopenableSink {
  if (!path || path === "-") {
    const out = process[stream];
    return {
      sink: (record) => {
        const bytes = record.properties[BYTES] as Uint8Array | undefined;
        // A batch's buffer is filled again once this returns; the stream may hold it longer.
        out.write(bytes ? bytes.slice() : raw(record));
      },
      reopen: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  }
  checkWritable(path, what);
  // A write error (a full disk) is said once, and never stops serving, a reopen or the exit.
  let reported = false;
  const failed = (error: unknown) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`appserve: cannot write ${what} "${path}": ${(error as Error).message}\n`);
  };
  const retire = async (sink: Disposing) => {
    try {
      await dispose(sink);
    } catch (error) {
      failed(error);
    }
  };
  let current = openFile(path, mode, failed);
  let closed = false;
  return {
    sink: (record) => current(record),
    async reopen() {
      if (closed) return;
      const old = current;
      current = openFile(path, mode, failed); // throws (and keeps the old file) when it cannot open
      await retire(old);
    },
    async close() {
      if (closed) return;
      closed = true;
      const last = current;
      // Its fd is about to close and may be reused: nothing more goes to it.
      current = () => {};
      await retire(last);
    },
  };
}
