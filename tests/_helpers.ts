// Starts the real appserve CLI — under `deno run` or as the compiled binary —
// and gives tests its log lines, pids and HTTP answers. The process harness
// underneath (/proc, ports, wrk) is _procs.ts, shared with scripts/bench.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { request as httpRequest } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  appserveTarget,
  childPids,
  errorCount,
  freePort,
  parseWrk,
  PATHS,
  poll,
  Proc,
  ROOT,
  type RunResult,
  sleep,
  spawnPiped,
  startWrk,
  type Target,
  wrkArgs,
} from "./_procs.ts";

export {
  alive,
  childPids,
  cpuTicks,
  freePort,
  ROOT,
  type RunResult,
  sleep,
  type Target,
  withFdLimit,
} from "./_procs.ts";

export const FIXTURES = join(ROOT, "tests", "fixtures");
export const DENO = join(ROOT, PATHS.deno);
export const BINARY = join(ROOT, PATHS.binary);

export const TARGETS: Target[] = [
  appserveTarget("deno"),
  appserveTarget("binary"),
  appserveTarget("binary-deno"),
];

/** A temporary directory removed by the returned function. */
export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "appserve-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Gives the project folder `dir` the repository's hono in its own node_modules (as installed). */
export function linkHono(dir: string): void {
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(join(ROOT, "node_modules", "hono"), join(dir, "node_modules", "hono"));
}

/** A running appserve master. */
export class Server extends Proc {
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

  /**
   * The pids of its live workers, known by their "Booting worker with pid: N" lines: not any
   * other child it may run meanwhile (a runtime probe such as `deno --version`). `master` may be
   * the one a USR2 started, whose lines come through this one's stderr.
   */
  bootedWorkers(master = this.pid): number[] {
    const booted = new Set(this.all(/Booting worker with pid: (\d+)/g).map((m) => Number(m[1])));
    return childPids(master).filter((pid) => booted.has(pid));
  }

  /** The pid of its one worker, by its boot line, once it said it. */
  async onlyWorker(): Promise<number> {
    await eventually(() => this.bootedWorkers().length === 1, "one booted worker");
    return this.bootedWorkers()[0];
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
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Start it as the leader of a new process group (for a terminal's Ctrl-C: a group's INT). */
  detached?: boolean;
}

/** Starts appserve with `args` for a target. */
export function start(target: Target, args: string[], options: StartOptions = {}): Server {
  return new Server(spawnPiped(target.command, [...target.prefix, ...args], options));
}

/**
 * One worker of `app` with `args`, on 127.0.0.1: a free port agreed beforehand under
 * --reuse-port (each worker binds a listener of its own there), else port 0.
 */
export async function startOneWorker(
  target: Target,
  app: string,
  args: string[] = [],
): Promise<Server> {
  const port = args.includes("--reuse-port") ? await freePort() : 0;
  return start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, app]);
}

/**
 * A 4 s request to `/slow` (pid_app.ts) under way on `server`'s one worker once this resolves;
 * `answer` is its answer (in an object: awaiting this must not wait for it).
 */
export async function slowBegan(server: Server): Promise<{ answer: Promise<HttpAnswer> }> {
  const url = await server.ready(1);
  const answer = get(`${url}/slow?ms=4000&tell=1`);
  await server.waitFor(/slow began/);
  return { answer };
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

/**
 * A body of 100000 bytes goes out with its length, not chunked, and HEAD says the length too, as
 * the native servers send them.
 */
export async function sentWithLength(url: string): Promise<void> {
  for (const method of ["GET", "HEAD"]) {
    const answer = await get(url, { method });
    assert.equal(answer.headers["content-length"], "100000", method);
    assert.equal(answer.headers["transfer-encoding"], undefined, method);
    assert.equal(answer.body.length, method === "GET" ? 100_000 : 0, method);
  }
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
      await sleep(100);
    }
  }
}

/** Waits until `check` is true, polling; throws after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  await poll(check, ms, () => new Error(`timed out waiting until ${what}`));
}

/** Pids of the workers that answered, from bodies of the form "... pid N". */
export function pidOf(answer: HttpAnswer): number {
  const m = /pid[ :=]+(\d+)/.exec(answer.body);
  if (!m) throw new Error(`no pid in ${answer.body}`);
  return Number(m[1]);
}

export { existsSync };

/** Registers one end-to-end test per target: "[deno] name", "[binary] name", "[binary-deno] name". */
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

/** Bad input: exit `code`, one line of stderr matching `pattern`, no stack trace. */
export function assertOneLineError(result: RunResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  assert.ok(!hasStackTrace(result.stderr), `stack trace in:\n${result.stderr}`);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0], pattern);
}

// The bundle Deno workers run: appserve's cache, `appserve/<version>/process_entry.js`.
const BUNDLE_FRAME = /\/appserve\/[^/]+\/(?:process|thread)_entry\.js:/;

/** Stack lines that point into appserve itself: never shown with an error in user code. */
export function ownFrames(text: string): string[] {
  return text.split("\n").filter((l) =>
    /^\s+at /.test(l) &&
    (l.includes(join(ROOT, "src")) || l.includes(join(ROOT, "workers")) || l.includes("$bunfs") ||
      BUNDLE_FRAME.test(l))
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
  const headers = mode === "close" ? ["Connection: close"] : [];
  const wrk = startWrk(wrkArgs(url, { connections, seconds, headers }), seconds);
  const done = wrk.done.then(({ report, error }) => {
    if (error) throw new Error(`cannot run wrk: ${error.message}`);
    const result = parseWrk(report);
    return { requests: result?.requests ?? 0, failed: result ? errorCount(result) : 0, report };
  });
  return { done };
}

/**
 * The same target run as user nobody (root cannot be denied anything). `dir`
 * must be traversable by nobody; Deno gets a cache folder inside it.
 */
export function asNobody(target: Target, dir: string, uid = 65534): Target {
  const cache = join(dir, "deno-cache");
  mkdirSync(cache, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(cache, 0o777);
  return {
    ...target,
    command: "setpriv",
    prefix: [
      `--reuid=${uid}`,
      `--regid=${uid}`,
      "--clear-groups",
      "env",
      `DENO_DIR=${cache}`,
      target.command,
      ...target.prefix,
    ],
  };
}

/**
 * Starts appserve under systemd-socket-activate (Debian's systemd package), which listens on
 * 127.0.0.1:port itself and starts appserve with that socket as fd 3 on the first connection.
 * `activatorArgs` go to systemd-socket-activate first (more `-l`, `--fdname=`).
 */
export function startSocketActivated(
  target: Target,
  port: number,
  args: string[],
  activatorArgs: string[] = [],
): Server {
  const activator: Target = {
    ...target,
    command: "systemd-socket-activate",
    prefix: [...activatorArgs, "-l", `127.0.0.1:${port}`, target.command, ...target.prefix],
  };
  return start(activator, args);
}

/** Opens `count` connections that send nothing; resolves once all are connected or refused. */
export async function holdConnections(port: number, count: number): Promise<net.Socket[]> {
  const sockets = Array.from({ length: count }, () => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    return socket;
  });
  await Promise.all(sockets.map((s) =>
    new Promise<void>((resolve) => {
      s.once("connect", () => resolve());
      s.once("error", () => resolve());
    })
  ));
  return sockets;
}

/**
 * Established TCP connections on `port` held by each of `pids` (accepted: one still in the listen
 * queue has no process yet), from the kernel's socket table through ss (iproute2), which filters
 * in the kernel: reading /proc/PID/net/tcp took a second when the box had 80,000 sockets open, and
 * the sample came after the load. One line per connection; a process may hold two fds of one
 * (a gthread thread on Deno: Runtime.socketFd).
 */
export function countConnections(pids: number[], port: number): number[] {
  const ss = spawnSync("ss", ["-tnpH", "state", "established", `( sport = :${port} )`], {
    encoding: "utf8",
  });
  if (ss.error || ss.status !== 0) throw new Error(`cannot run ss: ${ss.error ?? ss.stderr}`);
  const lines = ss.stdout.split("\n");
  return pids.map((pid) => lines.filter((line) => line.includes(`pid=${pid},`)).length);
}
