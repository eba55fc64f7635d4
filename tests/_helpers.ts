// Starts the real appserve CLI — under `deno run` or as the compiled binary —
// and gives tests its log lines, pids and HTTP answers.

import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";

export const ROOT = resolve(import.meta.dirname!, "..");
export const FIXTURES = join(ROOT, "tests", "fixtures");
export const DENO = join(ROOT, "node_modules", ".bin", "deno");
export const BINARY = join(ROOT, "dist", "appserve");

/** How a test starts appserve. */
export interface Target {
  name: "deno" | "binary";
  command: string;
  prefix: string[];
}

export const TARGETS: Target[] = [
  {
    name: "deno",
    command: DENO,
    prefix: ["run", "-A", "--unstable-net", "--quiet", join(ROOT, "src", "cli", "main.ts")],
  },
  { name: "binary", command: BINARY, prefix: [] },
];

/** A temporary directory removed by the returned function. */
export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "appserve-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A running appserve master. */
export class Server {
  stdout = "";
  stderr = "";
  readonly exited: Promise<RunResult>;
  #waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (d) => {
      this.stdout += d;
      this.#notify();
    });
    child.stderr!.on("data", (d) => {
      this.stderr += d;
      this.#notify();
    });
    this.exited = new Promise((done) =>
      child.on("close", (code, signal) => {
        this.#notify();
        done({ code, signal, stdout: this.stdout, stderr: this.stderr });
      })
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  #notify() {
    this.#waiters.splice(0).forEach((w) => w());
  }

  /** Resolves with the first match of `pattern` in the logs (stdout+stderr), waiting up to `ms`. */
  async waitFor(pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = (this.stderr + this.stdout).match(pattern);
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`appserve exited before ${pattern} appeared:\n${this.stderr}`);
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

  /** Every match of a global pattern in the logs so far. */
  all(pattern: RegExp): RegExpMatchArray[] {
    return [...(this.stderr + this.stdout).matchAll(pattern)];
  }

  /** The URL of the first TCP listener, from the "Listening at:" line. */
  async url(): Promise<string> {
    const m = await this.waitFor(/Listening at: (http:\/\/[^ ,]+)/);
    return m[1];
  }

  /** Waits until the server answers HTTP and runs `workers` workers; returns its URL. */
  async ready(workers = 0): Promise<string> {
    const url = await this.url();
    await getWhenReady(url);
    if (workers) {
      await eventually(() => childPids(this.pid).length === workers, `${workers} workers`);
    }
    return url;
  }

  /** Waits until every worker has answered a request (so all have booted); returns the URL. */
  async allAnswering(workers: number): Promise<string> {
    const url = await this.ready(workers);
    const seen = new Set<number>();
    await eventually(async () => {
      seen.add(pidOf(await get(url)));
      return seen.size === workers;
    }, `all ${workers} workers answering`);
    return url;
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `ms`. */
  async stop(ms = 15_000): Promise<RunResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.signal("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** Starts appserve with `args` for a target. */
export function start(target: Target, args: string[], options: StartOptions = {}): Server {
  const child = spawn(target.command, [...target.prefix, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Server(child);
}

/** Runs appserve to completion (for commands that exit by themselves). */
export function run(
  target: Target,
  args: string[],
  options: StartOptions = {},
): Promise<RunResult> {
  const server = start(target, args, options);
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 30_000);
  return server.exited.finally(() => clearTimeout(timer));
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with a fresh connection (TCP URL or unix socket path). */
export function get(
  url: string,
  options: {
    socketPath?: string;
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    /** The client's own address (any 127.x.y.z works on loopback). */
    localAddress?: string;
  } = {},
): Promise<HttpAnswer> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, {
      method: options.method ?? "GET",
      socketPath: options.socketPath,
      localAddress: options.localAddress,
      agent: false,
      headers: { connection: "close", ...options.headers },
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolvePromise({ status: res.statusCode!, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Retries `get` until it answers (workers may still be booting). */
export async function getWhenReady(
  url: string,
  options: Parameters<typeof get>[1] = {},
  ms = 20_000,
): Promise<HttpAnswer> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await get(url, options);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Pids of the live children of `pid` (from /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid && fields[0] !== "Z") out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** True while a process with this pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Waits until `check` is true, polling; throws after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pids of the workers that answered, from bodies of the form "... pid N". */
export function pidOf(answer: HttpAnswer): number {
  const m = /pid[ :=]+(\d+)/.exec(answer.body);
  if (!m) throw new Error(`no pid in ${answer.body}`);
  return Number(m[1]);
}

export { existsSync };

/** Registers one end-to-end test per target: "[deno] name" and "[binary] name". */
export function e2e(name: string, fn: (target: Target) => Promise<void>): void {
  for (const target of TARGETS) {
    Deno.test({
      name: `[${target.name}] ${name}`,
      fn: () => fn(target),
      sanitizeOps: false,
      sanitizeResources: false,
    });
  }
}

/** How a load generator uses its connections: wrk's default, or one request per connection. */
export type LoadMode = "keep-alive" | "close";
export const LOAD_MODES: readonly LoadMode[] = ["keep-alive", "close"];

/**
 * Registers one test per target and load mode ("[deno] [keep-alive] name", ...): what must hold
 * under load must hold for clients that keep connections alive as well as for those that do not.
 */
export function e2eUnderLoad(
  name: string,
  fn: (target: Target, mode: LoadMode) => Promise<void>,
): void {
  for (const mode of LOAD_MODES) e2e(`[${mode}] ${name}`, (target) => fn(target, mode));
}

/** Asserts that output carries no stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(]/m.test(text);
}

/** Stack lines that point into appserve itself: never shown with an error in user code. */
export function ownFrames(text: string): string[] {
  return text.split("\n").filter((l) =>
    /^\s+at /.test(l) &&
    (l.includes(join(ROOT, "src")) || l.includes(join(ROOT, "workers")) || l.includes("$bunfs"))
  );
}

export interface LoadResult {
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  failed: number;
  report: string;
}

/**
 * A bounded load from wrk (Debian): every failed request is counted. `mode` "keep-alive" is
 * wrk's default (each connection sends its next request as soon as an answer arrives); "close"
 * makes a fresh connection per request.
 */
export function load(
  url: string,
  seconds: number,
  { connections = 8, mode = "keep-alive" }: { connections?: number; mode?: LoadMode } = {},
): { done: Promise<LoadResult> } {
  const close = mode === "close" ? ["-H", "Connection: close"] : [];
  const child = spawn("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, ...close, url], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let report = "";
  child.stdout!.on("data", (d) => (report += d));
  child.stderr!.on("data", (d) => (report += d));
  const done = new Promise<LoadResult>((resolvePromise) =>
    child.on("close", () => {
      const requests = Number(/(\d+) requests in/.exec(report)?.[1] ?? 0);
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
        report,
      );
      const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(report)?.[1] ?? 0);
      resolvePromise({ requests, failed: socketErrors + non2xx, report });
    })
  );
  return { done };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The same target run as user nobody (root cannot be denied anything). `dir`
 * must be traversable by nobody; Deno gets a cache folder inside it.
 */
export function asNobody(target: Target, dir: string): Target {
  const cache = join(dir, "deno-cache");
  mkdirSync(cache, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(cache, 0o777);
  return {
    ...target,
    command: "setpriv",
    prefix: [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "env",
      `DENO_DIR=${cache}`,
      target.command,
      ...target.prefix,
    ],
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

/**
 * Starts appserve under systemd-socket-activate (Debian's systemd package), which listens on
 * 127.0.0.1:port itself and starts appserve with that socket as fd 3 on the first connection.
 */
export function startSocketActivated(target: Target, port: number, args: string[]): Server {
  const activator: Target = {
    ...target,
    command: "systemd-socket-activate",
    prefix: ["-l", `127.0.0.1:${port}`, target.command, ...target.prefix],
  };
  return start(activator, args);
}
