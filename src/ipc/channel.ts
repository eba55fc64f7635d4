// The single codec between master and worker processes: the boot as JSON in
// the worker's environment, then the worker's messages as newline-delimited
// JSON on its channel. (A gthread process and its threads use postMessage,
// which needs no codec; their messages are typed in messages.ts as well.)

import type { Readable, Writable } from "node:stream";
import type { TlsFiles } from "../tls/tls_files.ts";
import {
  BOOT_ENV,
  PROTOCOL_VERSION,
  ROLE_ENV,
  type ToMaster,
  versionMismatch,
  type WorkerBoot,
} from "./messages.ts";

/** The variables that start a worker process with `boot` (the version is added here). */
export function bootEnv(boot: Omit<WorkerBoot, "version">): Record<string, string> {
  const full: WorkerBoot = { version: PROTOCOL_VERSION, ...boot };
  return { [ROLE_ENV]: "worker", [BOOT_ENV]: JSON.stringify(full) };
}

/** The TLS material as the master writes it on a worker's stdin (its length goes in the boot). */
export function encodeTls(tls: TlsFiles): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(tls));
}

/**
 * Reads the `length` bytes of TLS material the master wrote first on stdin, before anything else
 * reads it (then only the reopen byte and EOF come). `read` is readSync(0, ...).
 */
export function takeTls(
  length: number,
  read: (buffer: Uint8Array, offset: number, length: number) => number,
): TlsFiles {
  const bytes = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    let n: number;
    try {
      n = read(bytes, got, length - got);
    } catch (error) {
      // A stdin some runtime made non-blocking: the master writes right after the spawn.
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      continue;
    }
    if (n === 0) throw new Error("The master closed stdin before the TLS certificate came");
    got += n;
  }
  return JSON.parse(new TextDecoder().decode(bytes)) as TlsFiles;
}

/** A boot this program cannot read; `message` names both versions. */
export class BootMismatch extends Error {}

/**
 * Reads the boot the master put in `env` and removes appserve's variables from it (the app must
 * not see them). Throws BootMismatch for a boot of another appserve version, Error for none.
 */
export function takeBoot(env: Record<string, string | undefined>): WorkerBoot {
  const text = env[BOOT_ENV];
  delete env[BOOT_ENV];
  delete env[ROLE_ENV];
  if (!text) throw new Error(`${BOOT_ENV} is missing: workers are started by the master`);
  const boot = JSON.parse(text) as { version?: unknown };
  const mismatch = versionMismatch(boot?.version, "master");
  if (mismatch) throw new BootMismatch(mismatch);
  // The same version wrote it from a WorkerBoot.
  return boot as WorkerBoot;
}

/** Sends one message (worker side). */
export function send(stream: Writable, message: ToMaster): void {
  stream.write(`${JSON.stringify(message)}\n`);
}

/**
 * `message` written to the channel at `fd` before this call returns (an exit cannot lose it),
 * with libc's `write` (Deno's node:fs knows no inherited fd).
 */
export function sendNow(
  write: (fd: number, bytes: Uint8Array) => number,
  fd: number,
  message: ToMaster,
): void {
  write(fd, new TextEncoder().encode(`${JSON.stringify(message)}\n`));
}

const KINDS: ReadonlySet<string> = new Set<ToMaster["t"]>([
  "hello",
  "ready",
  "beat",
  "retiring",
  "failed",
]);
/** How much of a malformed line a warning shows. */
const SHOWN_BYTES = 80;

/** A line as a message, or undefined when it is not one a worker sends. */
function decode(line: string): ToMaster | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { t, message, reason } = value as { t?: unknown; message?: unknown; reason?: unknown };
  if (typeof t !== "string" || !KINDS.has(t)) return undefined;
  if (t === "failed" && typeof message !== "string") return undefined;
  if (t !== "retiring") return value as ToMaster;
  // A worker of a version before reasons (a binary swapped in place) recycles for max_requests.
  if (reason === undefined) return { t, reason: "max_requests" };
  return reason === "max_requests" || reason === "fds" ? value as ToMaster : undefined;
}

export interface ReceiveOptions {
  /** Called for every message. */
  onMessage(message: ToMaster): void;
  /**
   * Called with the first bytes of a line that is no message (a broken worker, or one of another
   * version); the line is dropped.
   */
  onMalformed(start: string): void;
}

/** Reads the messages arriving on `stream` (master side). */
export function receive(stream: Readable, options: ReceiveOptions): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const message = decode(line);
      if (message) options.onMessage(message);
      else options.onMalformed(line.slice(0, SHOWN_BYTES));
    }
  });
  stream.on("error", () => {});
}
