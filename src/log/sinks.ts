// logtape sinks for appserve's logs. Lines arrive fully formatted (gunicorn's
// format is byte-exact), so every sink writes them as they are: error lines as
// the record's `rawMessage`, access-log batches as bytes in `properties[BYTES]`.
//
// logtape's file sinks keep the fd they opened and have no reopen: after
// logrotate moves the file they would write on into the moved file. A
// ReopenableSink swaps in a fresh logtape sink on USR1 and disposes the old
// one, which first writes what it still holds into the old file: no line is
// lost and none lands twice.

import { closeSync, openSync, writeSync } from "node:fs";
import process from "node:process";
import { getFileSink } from "@logtape/file";
import type { LogRecord, Sink } from "@logtape/logtape";
import { ConfigError } from "../errors.ts";

/** The record property that carries a batch of access lines, already UTF-8. */
export const BYTES = "appserve.bytes";

const raw = (record: LogRecord): string => record.rawMessage as string;
const rawOrBytes = (record: LogRecord): string | Uint8Array =>
  (record.properties[BYTES] as Uint8Array | undefined) ?? (record.rawMessage as string);

type Disposing = Sink & Partial<Disposable & AsyncDisposable>;

async function dispose(sink: Disposing): Promise<void> {
  const asyncDispose = sink[Symbol.asyncDispose];
  if (asyncDispose) await asyncDispose.call(sink);
  else sink[Symbol.dispose]?.();
}

/**
 * How a file sink writes: "sync" (each line written and fsynced before the call
 * returns: logtape's file sink) or "batch" (each record, a batch of access lines,
 * appended with one write(2) and no fsync).
 */
export type FileMode = "sync" | "batch";

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

function openFile(path: string, mode: FileMode): Disposing {
  // The error log is small and must survive process.exit: logtape's file sink,
  // unbuffered. The access log is the hot path, see appendSink.
  return mode === "sync" ? getFileSink(path, { formatter: raw, bufferSize: 0 }) : appendSink(path);
}

/**
 * The access log's sink: one write(2) per batch, synchronously, as gunicorn's
 * FileHandler writes. logtape's own file sinks measured dearer on this hot path:
 * getFileSink fsyncs every write, and getStreamFileSink spent about 40 µs inside
 * each 25 KB write() plus an I/O thread's work, where a write(2) takes 16 µs.
 * A failed write (disk full) drops that batch and is reported once, on stderr.
 */
function appendSink(path: string): Disposing {
  const fd = openSync(path, "a");
  let reported = false;
  const sink: Disposing = (record) => {
    const data = rawOrBytes(record);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
    } catch (error) {
      if (reported) return;
      reported = true;
      process.stderr.write(`appserve: cannot write to "${path}": ${(error as Error).message}\n`);
    }
  };
  sink[Symbol.dispose] = () => closeSync(fd);
  return sink;
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
      sink: (record) => void out.write(rawOrBytes(record)),
      reopen: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  }
  checkWritable(path, what);
  let current = openFile(path, mode);
  let closed = false;
  return {
    sink: (record) => current(record),
    async reopen() {
      if (closed) return;
      const old = current;
      current = openFile(path, mode); // throws (and keeps the old file) when it cannot open
      await dispose(old);
    },
    async close() {
      if (closed) return;
      closed = true;
      await dispose(current);
    },
  };
}
