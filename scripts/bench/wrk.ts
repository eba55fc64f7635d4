// Runs wrk with a hard time limit and turns its text report into numbers
// (requests, req/s, p99 latency, socket errors, non-2xx/3xx answers).

import { spawn, spawnSync } from "node:child_process";
import { BenchError, track } from "./procs.ts";

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
  const result = spawnSync("wrk", ["--version"], { stdio: "ignore" });
  return !result.error;
}

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(value: string, unit: string): number {
  return Number(value) * (UNITS[unit] ?? NaN);
}

function count(text: string, pattern: RegExp): number {
  const m = text.match(pattern);
  return m ? Number(m[1]) : 0;
}

export function parseWrk(text: string): WrkResult {
  const requests = text.match(/(\d+) requests in /);
  const rps = text.match(/Requests\/sec:\s+([\d.]+)/);
  if (!requests || !rps) {
    throw new BenchError(`cannot read wrk's report: ${text.trim().split("\n").at(-1)}`);
  }
  const p99 = text.match(/^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const sockets = text.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  );
  return {
    requests: Number(requests[1]),
    rps: Number(rps[1]),
    p99Ms: p99 ? toMs(p99[1], p99[2]) : NaN,
    connect: sockets ? Number(sockets[1]) : 0,
    read: sockets ? Number(sockets[2]) : 0,
    write: sockets ? Number(sockets[3]) : 0,
    timeout: sockets ? Number(sockets[4]) : 0,
    non2xx: count(text, /Non-2xx or 3xx responses: (\d+)/),
  };
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

/** Runs wrk; killed if it outlives its duration by 15 s. */
export function runWrk(args: string[], seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    track(child);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 15) * 1000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new BenchError(`cannot run wrk: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new BenchError(`wrk ${why}: ${out.trim().split("\n").at(-1) ?? ""}`));
        return;
      }
      try {
        resolve(parseWrk(out));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The command line as a shell would take it. */
export function shellLine(command: string, args: string[]): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  return [command, ...args].map(quote).join(" ");
}
