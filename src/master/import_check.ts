// The app imported once in a worker process that then exits: --check-config's app check, and what
// --preload does before the workers start (a Deno or Bun master cannot fork a process that holds
// the app, so nothing is shared: it only stops a start whose app cannot be imported, at once).

import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import process from "node:process";
import { addressSpaceLimitKb } from "../address_space.ts";
import type { Config } from "../config/settings.ts";
import { ConfigError, firstLine } from "../errors.ts";
import { ExitCode } from "../exit_codes.ts";
import { bootEnv } from "../ipc/channel.ts";
import { CHANNEL_FD } from "../ipc/messages.ts";
import { rawEnv } from "./spawn.ts";
import type { WorkerLaunch } from "./worker_launch.ts";

// An import slower than this (or than --timeout) is taken for one that hangs.
const IMPORT_WAIT_S = 60;

/**
 * Imports the app in a worker process started as a start would start one (its runtime, the user's
 * deno.json, its environment), which exits at once: the app's own output passes through; a
 * failure is one problem, with the app's stack. The worker says why on a pipe at fd 3, so no temp
 * folder is needed (a container's /tmp may be read-only).
 */
export async function importInWorker(
  launch: WorkerLaunch,
  config: Config,
  /** A stop signal to the starting master: the import is cut short. */
  abort?: AbortSignal,
): Promise<void> {
  const { command, args, env } = launch.command;
  const boot = bootEnv({
    config,
    listeners: [],
    reusePort: [],
    age: 0,
    check: String(CHANNEL_FD),
  });
  const tmp = config.worker_tmp_dir ? { TMPDIR: config.worker_tmp_dir } : {};
  const seconds = Math.max(config.timeout, IMPORT_WAIT_S);
  const child = spawn(command, args, {
    env: { ...process.env, ...tmp, ...rawEnv(config.raw_env), ...env, ...boot },
    stdio: ["ignore", "inherit", "inherit", "pipe"],
    cwd: launch.cwd,
  });
  const chunks: Buffer[] = [];
  child.stdio[CHANNEL_FD]?.on("data", (chunk: Buffer) => chunks.push(chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
  }, seconds * 1000);
  const cut = () => child.kill("SIGTERM");
  abort?.addEventListener("abort", cut, { once: true });
  const result = await new Promise<{ status: number | null; signal: string | null; error?: Error }>(
    (resolve) => {
      child.on("error", (error) => resolve({ status: null, signal: null, error }));
      child.on("close", (status, signal) => resolve({ status, signal }));
    },
  ).finally(() => {
    clearTimeout(timer);
    abort?.removeEventListener("abort", cut);
  });
  if (result.status === ExitCode.OK) return;
  const report = Buffer.concat(chunks).toString("utf8");
  if (report) throw new ConfigError(report);
  const how = result.error
    ? `cannot be started: ${firstLine(result.error)}`
    : timedOut
    ? `did not finish in ${seconds} s`
    : result.signal
    ? `was sent ${result.signal}${vmLimitNote(result.signal)}`
    : `exited with code ${result.status}`;
  throw new ConfigError(`Cannot load app: the worker that imports it ${how}`);
}

/** V8 aborts so when a low `ulimit -v` leaves no room for its heap cage: name the limit. */
function vmLimitNote(signal: string): string {
  const limit = addressSpaceLimitKb();
  if (limit === undefined || (signal !== "SIGTRAP" && signal !== "SIGABRT")) return "";
  return ` (an address-space limit is set: ulimit -v ${limit} kB; raise or remove it)`;
}

/** The INFO line of a start with --preload: what it did, and what gunicorn's does that it cannot. */
export const PRELOADED = "--preload: the app was imported once in a process of its own before " +
  "the workers start; memory is not shared (no fork), each worker imports the app itself";
