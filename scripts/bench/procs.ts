// Starts, watches and reliably ends the benchmark's server processes: each runs
// in its own process group, and every group still alive is killed on exit or Ctrl-C.

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { resolve } from "node:path";
import process from "node:process";

export const HOST = "127.0.0.1";
const OUTPUT_LIMIT = 64 * 1024;

/** A failure that ends the benchmark with a one-line message. */
export class BenchError extends Error {}

/** The repository root; the paths below are relative to it (as printed in the reports). */
export const ROOT = resolve(import.meta.dirname!, "..", "..");
export const DENO = "node_modules/.bin/deno";
export const BUN = "node_modules/.bin/bun";
export const BINARY = "dist/appserve";
export const CLI = "src/cli/main.ts";

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
    process.stderr.write(
      `bench: ${error instanceof BenchError ? error.message : (error as Error).stack}\n`,
    );
    code = 1;
  } finally {
    killAll();
  }
  process.exit(code);
}

/** A started process (the leader of its own process group) and its captured output. */
export class Proc {
  output = "";
  exited = false;
  readonly done: Promise<void>;

  constructor(readonly name: string, readonly child: ChildProcess) {
    const keep = (data: Uint8Array | string) => {
      this.output = (this.output + data).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.done = new Promise((resolve) => {
      child.on("error", (error) => {
        keep(`${error.message}\n`);
        this.exited = true;
        resolve();
      });
      child.on("exit", () => {
        this.exited = true;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The last non-empty line it printed, for error messages. */
  lastLine(): string {
    const lines = this.output.split("\n").map((l) => l.trim()).filter(Boolean);
    return lines.at(-1) ?? "(no output)";
  }
}

const live = new Set<Proc>();
const extra = new Set<ChildProcess>();

/** Starts a server process in a new process group; `cwd` is where relative paths resolve. */
export function launch(name: string, command: string, args: string[], cwd: string): Proc {
  const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const proc = new Proc(name, child);
  live.add(proc);
  proc.done.then(() => {
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

interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
  start: number;
}

function readStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({
        pid: Number(entry),
        state: f[0],
        ppid: Number(f[1]),
        pgid: Number(f[2]),
        start: Number(f[19]),
      });
    } catch {
      // It ended while we looked.
    }
  }
  return out;
}

// Linux's USER_HZ: /proc reports CPU time in these ticks.
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) used so far by `pid`'s live children together: a worker's cost per
 * request, unlike its req/s, barely moves with what else runs on a shared box.
 */
export function childrenCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const child of childPids(pid)) {
    try {
      const stat = readFileSync(`/proc/${child}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // It ended while we looked.
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** Live (non-zombie) children of `pid`, oldest first. */
export function childPids(pid: number): number[] {
  return readStats()
    .filter((s) => s.ppid === pid && s.state !== "Z")
    .sort((a, b) => a.start - b.start || a.pid - b.pid)
    .map((s) => s.pid);
}

function descendants(pid: number): number[] {
  const stats = readStats();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const s of stats) {
      if (s.ppid === parent && !found.includes(s.pid)) {
        found.push(s.pid);
        queue.push(s.pid);
      }
    }
  }
  return found;
}

function killHard(proc: Proc): void {
  const pids = descendants(proc.pid);
  signal(-proc.pid, "SIGKILL");
  signal(proc.pid, "SIGKILL");
  for (const pid of pids) signal(pid, "SIGKILL");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Graceful stop: SIGTERM to the leader (appserve's master drains its workers),
 * then after `graceMs` SIGKILL to the whole group and anything it started.
 */
export async function stop(proc: Proc, graceMs = 5000): Promise<void> {
  const pids = descendants(proc.pid);
  if (!proc.exited) signal(proc.pid, "SIGTERM");
  await Promise.race([proc.done, sleep(graceMs)]);
  signal(-proc.pid, "SIGKILL");
  for (const pid of pids) signal(pid, "SIGKILL");
  await Promise.race([proc.done, sleep(2000)]);
  live.delete(proc);
}

/** Synchronously kills everything this benchmark started (exit path, Ctrl-C). */
export function killAll(): void {
  for (const child of extra) child.kill("SIGKILL");
  for (const proc of live) killHard(proc);
  live.clear();
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function getStatus(port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: HOST,
        port,
        path: "/",
        agent: false,
        headers: { connection: "close" },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", () => resolve(0));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
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
  const deadline = Date.now() + ms;
  for (;;) {
    const dead = procs.find((p) => p.exited);
    if (dead) {
      throw new BenchError(
        `${name}: server exited before answering (last output: ${dead.lastLine()})`,
      );
    }
    if (ready() && (await getStatus(port, 1000)) === 200) return;
    if (Date.now() > deadline) {
      const last = procs.map((p) => p.lastLine()).join(" | ");
      throw new BenchError(
        `${name}: no HTTP 200 on ${HOST}:${port} within ${ms / 1000} s (last output: ${last})`,
      );
    }
    await sleep(100);
  }
}

export { sleep };
