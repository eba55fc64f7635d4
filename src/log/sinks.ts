// logtape sinks for appserve's logs. Lines arrive fully formatted (gunicorn's
// format is byte-exact), so every sink writes them as they are: error lines as
// the record's `rawMessage`, access-log batches as bytes in `properties[BYTES]`.
//
// logtape's file sinks keep the fd they opened and have no reopen: after
// logrotate moves the file they would write on into the moved file. A
// ReopenableSink swaps in a fresh logtape sink on USR1 and disposes the old
// one, which first writes what it still holds into the old file: no line is
// lost and none lands twice.

import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { getFileSink, getStreamFileSink } from "@logtape/file";
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

/** How a file sink writes: "sync" (every line written before the call returns) or "stream". */
export type FileMode = "sync" | "stream";

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
  // The error log is small and must survive process.exit: written synchronously
  // (bufferSize 0). The access log is the hot path: logtape's stream sink, no fsync.
  // (A write(2) per batch instead measured no cheaper in the server, 21 rounds each.)
  return mode === "sync"
    ? getFileSink(path, { formatter: raw, bufferSize: 0 })
    // A node stream takes the batches' bytes as well as text.
    : getStreamFileSink(path, {
      formatter: rawOrBytes as (record: LogRecord) => string,
      highWaterMark: 64 * 1024,
    });
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
  // The stream sink keeps a write error (a full disk) to itself until it is disposed: say it
  // then, once, and never let it stop a reopen or the process's exit.
  let reported = false;
  const retire = async (sink: Disposing) => {
    try {
      await dispose(sink);
    } catch (error) {
      if (reported) return;
      reported = true;
      process.stderr.write(
        `appserve: cannot write ${what} "${path}": ${(error as Error).message}\n`,
      );
    }
  };
  return {
    sink: (record) => current(record),
    async reopen() {
      if (closed) return;
      const old = current;
      current = openFile(path, mode); // throws (and keeps the old file) when it cannot open
      await retire(old);
    },
    async close() {
      if (closed) return;
      closed = true;
      await retire(current);
    },
  };
}
