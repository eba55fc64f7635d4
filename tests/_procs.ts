// The process harness the tests and the benchmarks share: how to start appserve per target, a
// started process with its output, what /proc says about processes, free ports, waiting until a
// server answers, and wrk. tests/_helpers.ts builds the end-to-end test API on it;
// scripts/bench/procs.ts adds process groups and the clean-up a benchmark needs on Ctrl-C.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";

/** The repository root. */
export const ROOT = resolve(import.meta.dirname!, "..");
export const HOST = "127.0.0.1";

/** The toolchain and appserve's entry points, relative to ROOT (as the benchmarks print them). */
export const PATHS = {
  deno: "node_modules/.bin/deno",
  bun: "node_modules/.bin/bun",
  binary: "dist/appserve",
  cli: "src/cli/main.ts",
} as const;

/**
 * How appserve is started: under `deno run` (Deno workers), as the compiled binary with Bun
 * workers, or as the binary with Deno workers.
 */
export interface Target {
  name: "deno" | "binary" | "binary-deno";
  /** The runtime of the worker processes, where the app runs. */
  workers: "deno" | "bun";
  command: string;
  prefix: string[];
}

/**
 * The command that starts appserve for a target. Paths are absolute, or relative to the
 * repository root when `root` is "" (for commands printed to be run from there).
 */
export function appserveTarget(name: Target["name"], root: string = ROOT): Target {
  const at = (path: string) => (root ? join(root, path) : path);
  if (name === "deno") {
    return {
      name,
      workers: "deno",
      command: at(PATHS.deno),
      prefix: ["run", "-A", "--unstable-net", "--quiet", at(PATHS.cli)],
    };
  }
  // Named explicitly: with `auto`, a Deno on PATH would pick Deno workers for the fixtures
  // (they sit under appserve's own deno.json).
  return name === "binary"
    ? { name, workers: "bun", command: at(PATHS.binary), prefix: ["--runtime", "bun"] }
    : {
      name,
      workers: "deno",
      command: at(PATHS.binary),
      prefix: ["--runtime", "deno", "--deno", at(PATHS.deno)],
    };
}

/** The same target with RLIMIT_NOFILE lowered for it alone (prlimit execs the command). */
export function withFdLimit(target: Target, limit: number): Target {
  return {
    ...target,
    command: "prlimit",
    prefix: [`--nofile=${limit}:${limit}`, target.command, ...target.prefix],
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- a started process

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ProcOptions {
  /** Named in errors. @default "appserve" */
  name?: string;
  /** Keep only the last this many characters of each stream (long benchmark runs). */
  keep?: number;
}

/** A started process and what it has printed so far. */
export class Proc {
  stdout = "";
  stderr = "";
  /** Resolves once the process has exited and its output is complete (or it failed to start). */
  readonly exited: Promise<RunResult>;
  readonly name: string;
  #ended = false;
  #waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess, options: ProcOptions = {}) {
    this.name = options.name ?? "appserve";
    const keep = options.keep ?? Infinity;
    const trim = (text: string) => (text.length > keep ? text.slice(-keep) : text);
    child.stdout?.on("data", (d) => {
      this.stdout = trim(this.stdout + d);
      this.#notify();
    });
    child.stderr?.on("data", (d) => {
      this.stderr = trim(this.stderr + d);
      this.#notify();
    });
    child.on("exit", () => {
      this.#ended = true;
      this.#notify();
    });
    this.exited = new Promise((done) => {
      const result = () => ({
        code: child.exitCode,
        signal: child.signalCode,
        stdout: this.stdout,
        stderr: this.stderr,
      });
      child.on("error", (error) => {
        this.stderr += `${error.message}\n`;
        this.#ended = true;
        this.#notify();
        done(result());
      });
      child.on("close", (code, signal) => {
        this.#ended = true;
        this.#notify();
        done({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True once the process has exited (or could not be started). */
  get ended(): boolean {
    return this.#ended || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Both streams, stderr first (appserve logs to stderr). */
  get output(): string {
    return this.stderr + this.stdout;
  }

  #notify() {
    this.#waiters.splice(0).forEach((w) => w());
  }

  /** Resolves with the first match of `pattern` in the output, waiting up to `ms`. */
  async waitFor(pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.output.match(pattern);
      if (m) return m;
      if (this.ended) {
        throw new Error(`${this.name} exited before ${pattern} appeared:\n${this.stderr}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${pattern}:\n${this.stderr}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Every match of a global pattern in the output so far. */
  all(pattern: RegExp): RegExpMatchArray[] {
    return [...this.output.matchAll(pattern)];
  }

  /** The last non-empty line it printed, for error messages. */
  lastLine(): string {
    const lines = this.output.split("\n").map((l) => l.trim()).filter(Boolean);
    return lines.at(-1) ?? "(no output)";
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }
}

export interface SpawnOptions extends ProcOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Start it as the leader of a new process group. */
  detached?: boolean;
}

let ownRuntimeDir = "";

// Made at the first spawn, removed when the test process ends.
function runtimeDir(): string {
  if (!ownRuntimeDir) {
    const dir = mkdtempSync(join(tmpdir(), "appserve-test-run-"));
    ownRuntimeDir = dir;
    globalThis.addEventListener("unload", () => rmSync(dir, { recursive: true, force: true }));
  }
  return ownRuntimeDir;
}

/** Starts `command` with stdin closed and stdout and stderr piped (for a Proc to read). */
export function spawnPiped(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  return spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    // A desktop session's XDG_RUNTIME_DIR, or else ~/.appserve, would give every server a control
    // socket in a directory every test run on the box shares (two servers of one app: a
    // warning): each test process has a directory of its own. Tests that mean one set theirs.
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir(), ...options.env },
    detached: options.detached ?? false,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Starts `command` with its output captured. */
export function spawnProc(command: string, args: string[], options: SpawnOptions = {}): Proc {
  return new Proc(spawnPiped(command, args, options), options);
}

// ---------------------------------------------------------------- /proc

export interface ProcStat {
  pid: number;
  /** R, S, D, Z, ... */
  state: string;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks after boot. */
  start: number;
  /** CPU time used in user and kernel mode, in clock ticks. */
  utime: number;
  stime: number;
}

function parseStat(pid: number, stat: string): ProcStat {
  // The command name in parentheses may hold spaces: fields start after the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    state: f[0],
    ppid: Number(f[1]),
    pgid: Number(f[2]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    start: Number(f[19]),
  };
}

/** /proc/PID/stat of one process; throws when it is gone. */
export function procStat(pid: number): ProcStat {
  return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "utf8"));
}

/** /proc/PID/stat of every process. */
export function procStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      out.push(procStat(Number(entry)));
    } catch {
      // It ended while we looked.
    }
  }
  return out;
}

/** Pids of the live (non-zombie) children of `pid`, oldest first. */
export function childPids(pid: number): number[] {
  return procStats()
    .filter((s) => s.ppid === pid && s.state !== "Z")
    .sort((a, b) => a.start - b.start || a.pid - b.pid)
    .map((s) => s.pid);
}

/** Runs `fn` while the processes `pids` are stopped (SIGSTOP); they continue after, whatever happens. */
export async function whileStopped<T>(pids: number[], fn: () => Promise<T>): Promise<T> {
  pids.forEach((pid) => process.kill(pid, "SIGSTOP"));
  try {
    return await fn();
  } finally {
    // One killed meanwhile (a stop's deadline) is gone: what `fn` saw is the failure to tell.
    pids.filter(alive).forEach((pid) => process.kill(pid, "SIGCONT"));
  }
}

/** Pids of every process below `pid`, zombies included. */
export function descendants(pid: number): number[] {
  const stats = procStats();
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

/** True while a process with this pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    return procStat(pid).state !== "Z";
  } catch {
    return false;
  }
}

/** SIGKILLs `pid` and its children, where they still run (a test's clean-up). */
export function killTree(pid: number): void {
  for (const each of [pid, ...childPids(pid)]) if (alive(each)) process.kill(each, "SIGKILL");
}

// Linux's USER_HZ: /proc reports CPU time in these ticks.
export const TICKS_PER_SECOND = 100;

/** CPU ticks (user + system) a process has used; throws when it is gone. */
export function cpuTicks(pid: number): number {
  const s = procStat(pid);
  return s.utime + s.stime;
}

/**
 * Nanoseconds on a CPU so far of every live thread of `pid`, from the scheduler's own clock
 * (/proc/PID/task/TID/schedstat); 0 when it is gone. utime and stime (cpuTicks) are samples that
 * charge each whole tick to whatever runs when it fires: on this box they put one worker at 7 or
 * at 16 µs per request for the same work, depending on who started it (docs/architecture.md).
 * A thread that ends is no longer counted, so measure a steady window.
 */
export function cpuNanos(pid: number): number {
  let ns = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended while we looked.
    }
  }
  return ns;
}

/**
 * CPU seconds used so far by `pid`'s live children together (cpuNanos): a worker's cost per
 * request, unlike its req/s, barely moves with what else runs on a shared box.
 */
export function childrenCpuSeconds(pid: number): number {
  let ns = 0;
  for (const child of childPids(pid)) ns += cpuNanos(child);
  return ns / 1e9;
}

// ---------------------------------------------------------------- ports and readiness

/** A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen({ host: HOST, port: 0 }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The status of one GET on a fresh connection, or 0 when none came within `timeoutMs`. */
export function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, {
      agent: false,
      headers: { connection: "close" },
      timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

/**
 * Calls `check` every 100 ms until it is true, up to `ms`; then throws `timeout()`. A throw
 * from `check` ends the wait at once.
 */
export async function poll(
  check: () => boolean | Promise<boolean>,
  ms: number,
  timeout: () => Error,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw timeout();
    await sleep(100);
  }
}

// ---------------------------------------------------------------- wrk

export interface WrkResult {
  requests: number;
  rps: number;
  /** 99th percentile latency in ms (NaN without --latency). */
  p99Ms: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  /** Answers that were neither 2xx nor 3xx. */
  non2xx: number;
}

/** Socket errors of every kind plus bad answers. */
export function errorCount(r: WrkResult): number {
  return r.connect + r.read + r.write + r.timeout + r.non2xx;
}

/** True when a `wrk` binary is on PATH. */
export function wrkAvailable(): boolean {
  return !spawnSync("wrk", ["--version"], { stdio: "ignore" }).error;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  latency?: boolean;
  headers?: string[];
}

/** wrk's argument list (one thread, as the machine has two cores). */
export function wrkArgs(url: string, o: WrkOptions): string[] {
  const args = ["-t1", `-c${o.connections}`, `-d${o.seconds}s`];
  for (const header of o.headers ?? []) args.push("-H", header);
  if (o.latency) args.push("--latency");
  args.push(url);
  return args;
}

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The numbers of wrk's text report, or null when it has no totals (wrk failed). */
export function parseWrk(report: string): WrkResult | null {
  const requests = report.match(/(\d+) requests in /);
  const rps = report.match(/Requests\/sec:\s+([\d.]+)/);
  if (!requests || !rps) return null;
  const p99 = report.match(/^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const sockets = report.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  );
  return {
    requests: Number(requests[1]),
    rps: Number(rps[1]),
    p99Ms: p99 ? Number(p99[1]) * (UNITS[p99[2]] ?? NaN) : NaN,
    connect: sockets ? Number(sockets[1]) : 0,
    read: sockets ? Number(sockets[2]) : 0,
    write: sockets ? Number(sockets[3]) : 0,
    timeout: sockets ? Number(sockets[4]) : 0,
    non2xx: Number(report.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
  };
}

export interface WrkRun {
  code: number | null;
  signal: string | null;
  /** wrk's stdout and stderr. */
  report: string;
  /** Set when wrk could not be started. */
  error?: Error;
}

/** Starts wrk; it is killed if it outlives its `seconds` by 15 s. */
export function startWrk(args: string[], seconds: number): {
  child: ChildProcess;
  done: Promise<WrkRun>;
} {
  const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
  let report = "";
  child.stdout!.on("data", (d) => (report += d));
  child.stderr!.on("data", (d) => (report += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 15) * 1000);
  const done = new Promise<WrkRun>((resolve) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, report, error });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, report });
    });
  });
  return { child, done };
}
