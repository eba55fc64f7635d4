// What a benchmark adds to the process harness it shares with the tests (tests/_procs.ts): each
// server runs in its own process group, every group still alive is killed on exit or Ctrl-C, and
// a failure ends the run with one line.

import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import {
  descendants,
  HOST,
  httpStatus,
  PATHS,
  poll,
  type Proc,
  sleep,
  spawnProc,
} from "../../tests/_procs.ts";

export {
  appserveTarget,
  childPids,
  childrenCpuSeconds,
  freePort,
  HOST,
  type Proc,
  ROOT,
  sleep,
} from "../../tests/_procs.ts";

/** Paths relative to the repository root, as printed in the reports. */
export const DENO = PATHS.deno;
export const BUN = PATHS.bun;
export const BINARY = PATHS.binary;

// Enough of a server's output for its last lines in an error message.
const OUTPUT_LIMIT = 64 * 1024;

/** A failure that ends the benchmark with a one-line message. */
export class BenchError extends Error {}

/**
 * Runs a bench's main: signals and failures stop every server it started; a BenchError is one
 * line on stderr and exit 1.
 */
export async function runBench(main: () => Promise<void>): Promise<never> {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAll();
      process.stderr.write(`bench: stopped by ${signal}; every server it started was killed\n`);
      process.exit(130);
    });
  }
  let code = 0;
  try {
    await main();
  } catch (error) {
    // A bad option (node:util parseArgs) is the caller's mistake: its message, not a stack.
    const usage = String((error as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS");
    process.stderr.write(
      `bench: ${
        error instanceof BenchError
          ? error.message
          : usage
          ? (error as Error).message.split("\n")[0]
          : (error as Error).stack
      }\n`,
    );
    code = 1;
  } finally {
    killAll();
  }
  process.exit(code);
}

const live = new Set<Proc>();
const extra = new Set<ChildProcess>();

/** Starts a server process in a new process group; `cwd` is where relative paths resolve. */
export function launch(
  name: string,
  command: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): Proc {
  const proc = spawnProc(command, args, { cwd, name, detached: true, keep: OUTPUT_LIMIT, env });
  live.add(proc);
  proc.exited.then(() => {
    if (!groupAlive(proc.pid)) live.delete(proc);
  });
  return proc;
}

/** Tracks a short-lived helper (wrk) so that an interrupt kills it too. */
export function track(child: ChildProcess): void {
  extra.add(child);
  child.on("exit", () => extra.delete(child));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function groupAlive(pgid: number): boolean {
  if (pgid <= 0) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function killHard(proc: Proc): void {
  const pids = descendants(proc.pid);
  signal(-proc.pid, "SIGKILL");
  signal(proc.pid, "SIGKILL");
  for (const pid of pids) signal(pid, "SIGKILL");
}

/**
 * Graceful stop: SIGTERM to the leader (appserve's master drains its workers),
 * then after `graceMs` SIGKILL to the whole group and anything it started.
 */
export async function stop(proc: Proc, graceMs = 5000): Promise<void> {
  const pids = descendants(proc.pid);
  if (!proc.ended) signal(proc.pid, "SIGTERM");
  await Promise.race([proc.exited, sleep(graceMs)]);
  signal(-proc.pid, "SIGKILL");
  for (const pid of pids) signal(pid, "SIGKILL");
  await Promise.race([proc.exited, sleep(2000)]);
  live.delete(proc);
}

/** Synchronously kills everything this benchmark started (exit path, Ctrl-C). */
export function killAll(): void {
  for (const child of extra) child.kill("SIGKILL");
  for (const proc of live) killHard(proc);
  live.clear();
}

/**
 * Waits until every process printed what `ready` expects and a real HTTP GET
 * on the port answers 200; throws a BenchError after `ms`.
 */
export async function waitReady(
  name: string,
  procs: Proc[],
  port: number,
  ready: () => boolean,
  ms = 20_000,
): Promise<void> {
  const url = `http://${HOST}:${port}/`;
  await poll(
    async () => {
      const dead = procs.find((p) => p.ended);
      if (dead) {
        throw new BenchError(
          `${name}: server exited before answering (last output: ${dead.lastLine()})`,
        );
      }
      return ready() && (await httpStatus(url, 1000)) === 200;
    },
    ms,
    () => {
      const last = procs.map((p) => p.lastLine()).join(" | ");
      return new BenchError(
        `${name}: no HTTP 200 on ${HOST}:${port} within ${ms / 1000} s (last output: ${last})`,
      );
    },
  );
}

/** VmRSS of a process in MB (MiB), from /proc; NaN when it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * A process's private pages in MB (Private_Clean + Private_Dirty of smaps_rollup): what it costs
 * beyond the pages it shares, such as a compiled binary's code shared by master and workers.
 */
export function ussMb(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1]);
    return (kb("Private_Clean") + kb("Private_Dirty")) / 1024;
  } catch {
    return NaN;
  }
}

/**
 * CPU milliseconds a process has run so far, all its live threads together, at nanosecond
 * precision (/proc/PID/task/TID/schedstat). Unlike wall time it barely moves with what else runs
 * on a shared box, so it measures a start-up's own cost. NaN when the process is gone.
 */
export function cpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // The thread ended while we looked.
      }
    }
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * Milliseconds from `t0` (a `performance.now()` taken right before the launch) to the first 200
 * on a fresh connection, polling every 5 ms; a BenchError when the server exits or `ms` pass.
 */
export async function firstAnswerMs(proc: Proc, port: number, t0: number, ms = 60_000) {
  const url = `http://${HOST}:${port}/`;
  while (performance.now() - t0 < ms) {
    if ((await httpStatus(url, 1000)) === 200) return performance.now() - t0;
    if (proc.ended) {
      throw new BenchError(`${proc.name} exited before answering: ${proc.lastLine()}`);
    }
    await sleep(5);
  }
  throw new BenchError(`${proc.name}: no HTTP 200 on ${HOST}:${port} within ${ms / 1000} s`);
}
