// The contract between the processes and threads of one server: how a worker
// finds its boot and its channel, and every message that travels between them,
// as one union. Master ↔ worker process: the boot in an environment variable,
// then NDJSON on fd 3 (channel.ts). Worker process ↔ gthread thread:
// postMessage. Both sides of each pair import this file, so a change to a
// message is a change to both readers.

import type { Config } from "../config/settings.ts";
import type { InflightShare } from "./inflight.ts";
import type { UnparsedConnections } from "../http/server.ts";
import type { TlsFiles } from "../tls/tls_files.ts";
import { VERSION } from "../version.ts";

/**
 * The version both sides of a boot must share: appserve's own. A program replaced on disk under
 * a running master (an upgrade before USR2) starts workers and threads of the new version from
 * an old master's boot; they refuse it rather than misread it.
 */
export const PROTOCOL_VERSION: string = VERSION;

/** The variable that tells this program to run as a worker process ("worker"). */
export const ROLE_ENV = "APPSERVE_ROLE";
/** The variable that carries a worker's WorkerBoot, as JSON. */
export const BOOT_ENV = "APPSERVE_WORKER_BOOT";
/** The fd at which a worker finds its channel to the master. */
export const CHANNEL_FD = 3;

/** What a worker process receives at start, in BOOT_ENV. */
export interface WorkerBoot {
  /** The appserve version of the master that wrote it (PROTOCOL_VERSION). */
  version: string;
  /** The resolved configuration, exactly as the master resolved it. */
  config: Config;
  /** The listening fds this worker inherited (same numbers as in the master). */
  listeners: { fd: number }[];
  /** TCP addresses this worker binds itself with SO_REUSEPORT (reuse-port mode). */
  reusePort: { host: string; port: number }[];
  /** Spawn counter, for logs. */
  age: number;
  /**
   * The master has a control socket: the worker counts its requests for `appserve ctl status`.
   * Told, not worked out again from the worker's own environment and configuration (-e, a HUP
   * can differ from the master's). Absent: an import check, which serves nothing.
   */
  control?: boolean;
  /** The scoreboard's fd (src/ipc/scoreboard.ts) and this worker's slot in it, when there is one. */
  scoreboard?: { fd: number; slot: number };
  /**
   * --check-config: only import the app, then exit 0, or 4 with why written to the pipe at this fd
   * (a number; apart from what the app itself says on stderr; src/worker/check_app.ts).
   */
  check?: string;
  /**
   * With TLS: the length in bytes of the certificate and key (TlsFiles as JSON) the master
   * writes first on the worker's stdin. Read and checked by the master, so a worker never reads
   * the files (broken ones on disk cannot stop a worker's start). Not here: the environment
   * shows in /proc/PID/environ for the worker's life, and a CA bundle can exceed an env
   * string's 128 KiB.
   */
  tls?: number;
}

/**
 * Master → worker process, a byte on the worker's stdin: reopen the log files (USR1). Not the
 * signal itself: Deno (2.9.2 on) answers SIGUSR1 by opening a V8 inspector on 127.0.0.1:9229, as
 * Node does, so workers start with it blocked (src/master/spawn.ts).
 */
export const REOPEN_LOGS_BYTE = 0x72; // "r"

/**
 * Why a worker retires itself. `max_requests`: it serves on until its replacement has booted,
 * then the master stops it (SIGTERM). `fds`: its listener stopped accepting for good (Deno.serve
 * after EMFILE, --reuse-port); it drains at once, accepting nothing more.
 */
export type RetireReason = "max_requests" | "fds";

/** Worker process → master, on the channel. */
export type ToMaster =
  /**
   * Its first words, before anything of its own can fail: a worker that exits without them was
   * never run by its runtime (Deno refusing the project's deno.json, its lock file, a flag).
   */
  | { t: "hello" }
  /**
   * The worker loaded the app and accepts connections. `warnings`: what loading the app warned
   * about (Bun serve() options ignored, a server of the app's own), the same in every worker and
   * thread: the master logs each once per start or reload.
   */
  | { t: "ready"; warnings?: string[] }
  /** The event loop is alive (heartbeat). */
  | { t: "beat" }
  /** The worker retires itself, and why (RetireReason): start its replacement. */
  | { t: "retiring"; reason: RetireReason }
  /**
   * The worker cannot boot (it exits 3) or load the app (it exits 4): why, in one line, for the
   * master's own line (at start, and when a replacement fails while others serve).
   */
  | { t: "failed"; message: string };

/**
 * gthread process → thread. Only rare events travel as messages: connections go as fds, and
 * what happens on them every request is shown through shared memory (src/worker/thread_slots.ts).
 */
export type ToThread =
  | {
    t: "start";
    /** PROTOCOL_VERSION of the process: a thread of another version refuses to start. */
    version: string;
    /** The worker's frozen config, as the process received it. */
    config: Config;
    /** The certificate and key the master gave the process; null without TLS. */
    tls: TlsFiles | null;
    /** The worker's age (hooks' `worker.age`). */
    age: number;
    slots: SharedArrayBuffer;
    /**
     * The thread's requests in flight (src/ipc/inflight.ts), named at THREAD TIMEOUT: its region
     * of the worker's table on the scoreboard, or memory of its own (src/worker/thread_inflight.ts).
     */
    inflight: SharedArrayBuffer | InflightShare;
    /** The pool's number for the thread, as THREAD TIMEOUT names it (`thread 2`). */
    id: number;
    /** The thread's request counters (src/ipc/request_metrics.ts), counted with --metrics-bind. */
    counters: SharedArrayBuffer;
    /** Requests served by every thread together, and the count that retires the worker. */
    served: SharedArrayBuffer;
    limit: number;
    /** Date.now() when the pool started: the slots' clock. */
    origin: number;
    /** The threads' counts of connections (src/worker/thread_board.ts), and this thread's place. */
    board: SharedArrayBuffer;
    index: number;
  }
  /**
   * Accept on the worker's listeners; answered with "listening" or "listen-failed". `onListen`:
   * then call the app's onListen, which the pool asks of one thread only, once a worker.
   */
  | { t: "listen"; listeners: { fd: number }[]; onListen: boolean }
  /**
   * A connection a sibling accepted on listener `listener`: the thread owns `fd` from now on. `n`
   * counts the connections the process handed to this thread (src/worker/thread_slots.ts).
   */
  | { t: "conn"; fd: number; listener: number; unix: boolean; n: number }
  /** The worker has more than its share next to its sibling processes: stop accepting, or go on. */
  | { t: "share"; held: boolean }
  | { t: "drain"; graceMs: number }
  | { t: "reopen" }
  /**
   * The process exits now, without draining: send the statsd batch, answered with "flushed".
   * `quick` (INT, QUIT): first end each response under way, logged as its client got it.
   */
  | { t: "flush"; quick?: boolean }
  /** A quick stop: accept nothing more, for good; answered with "accepting-stopped". */
  | { t: "stop-accepting" };

/** gthread thread → process. */
export type ToPool =
  /** Loaded the app; `warnings`: what loading it warned about (the process passes them on). */
  | { t: "loaded"; warnings: string[] }
  | { t: "load-failed"; message: string }
  | { t: "listening" }
  | { t: "listen-failed"; message: string }
  /** A connection this thread accepted goes to thread `to` (src/worker/thread_board.ts). */
  | { t: "handoff"; fd: number; listener: number; unix: boolean; to: number }
  /** The requests of all threads reached max_requests. */
  | { t: "retire" }
  /** An error nobody caught (logged by the thread): the pool ends the thread and replaces it. */
  | { t: "crashed"; message: string }
  /** The app exited the thread (`process.exit(code)`, `Deno.exit(code)`): it is replaced too. */
  | { t: "exited"; code: number }
  | { t: "drained" }
  /**
   * Its statsd batch is sent; after a quick flush, `unparsed` counts the connections it closed
   * with no request read yet (HttpServer.dropUnparsed).
   */
  | { t: "flushed"; unparsed?: UnparsedConnections }
  /** Its listeners' servers are closed: it holds no copy of a listening socket any more. */
  | { t: "accepting-stopped" };

/** Every message of appserve, each kind named once. */
export type Message = ToMaster | ToThread | ToPool;

// Each kind names one message: a kind in two directions would make a reader of the union guess.
type Kinds<M extends Message> = M["t"];
type Overlap =
  | (Kinds<ToMaster> & Kinds<ToThread>)
  | (Kinds<ToMaster> & Kinds<ToPool>)
  | (Kinds<ToThread> & Kinds<ToPool>);
const _kindsAreDistinct: [Overlap] extends [never] ? true : never = true;

/**
 * Why a boot (or a thread's start) written by `version` cannot be read by this program, or
 * undefined when it can. Names both versions: the line an operator sees after a botched upgrade.
 */
export function versionMismatch(version: unknown, from: string): string | undefined {
  if (version === PROTOCOL_VERSION) return undefined;
  const theirs = typeof version === "string" ? `appserve ${version}` : "an older appserve";
  return `Cannot boot: the ${from} runs ${theirs}, this program is appserve ${PROTOCOL_VERSION}; ` +
    `restart the server, or start a new master of this version with USR2 and stop the old one`;
}
