// Everything a worker process does, in order: read its boot message, load the
// app, serve, and drain on SIGTERM. Runs in the child; never imports master/.

import { Socket } from "node:net";
import process from "node:process";
import { ExitCode } from "../cli/exit_codes.ts";
import type { Config } from "../config/settings.ts";
import { AppLoadError, firstLine } from "../errors.ts";
import { loadApp } from "../app/load_app.ts";
import { send } from "../ipc/channel.ts";
import { CHANNEL_FD, type WorkerBoot } from "../ipc/messages.ts";
import { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";
import { serveAsync, type Serving } from "./async.ts";

const BEAT_MS = 1000;

function readBoot(): WorkerBoot {
  const text = process.env.APPSERVE_WORKER_BOOT;
  // The app must not see appserve's private variables.
  delete process.env.APPSERVE_WORKER_BOOT;
  delete process.env.APPSERVE_ROLE;
  if (!text) throw new Error("APPSERVE_WORKER_BOOT is missing: workers are started by the master");
  return JSON.parse(text) as WorkerBoot;
}

/** Runs this process as a worker until it is told to stop; never returns. */
export async function runWorker(runtime: Runtime): Promise<never> {
  const boot = readBoot();
  const config = Object.freeze(boot.config) as unknown as Config;
  const log = new Logger({ level: config.loglevel });
  const exit = (code: number): never => {
    log.info(`Worker exiting (pid: ${process.pid})`);
    process.exit(code);
  };
  log.info(`Booting worker with pid: ${process.pid}`);

  const channel = new Socket({ fd: CHANNEL_FD, readable: false, writable: true });
  channel.on("error", () => {});
  // stdin is a pipe from the master: EOF means the master is gone.
  process.stdin.on("end", () => {
    log.info(`Parent changed, shutting down: <Worker ${process.pid}>`);
    exit(ExitCode.OK);
  });
  process.stdin.resume();
  process.on("SIGINT", () => exit(ExitCode.OK));
  process.on("SIGQUIT", () => exit(ExitCode.OK));
  process.on("SIGWINCH", () => {});
  process.on("SIGUSR1", () => {});

  let servings: Serving[] = [];
  let stopping = false;
  process.on("SIGTERM", async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(servings.map((s) => s.stop(config.graceful_timeout * 1000)));
    exit(ExitCode.OK);
  });

  let handler;
  try {
    handler = await loadApp(config.app, process.cwd());
  } catch (error) {
    log.error(error instanceof AppLoadError ? error.message : `Cannot load app: ${firstLine(error)}`);
    return exit(ExitCode.APP_LOAD_ERROR);
  }
  try {
    servings = await serveAsync(handler, boot, { config, log, runtime });
  } catch (error) {
    log.error(`Cannot serve: ${firstLine(error)}`);
    return exit(ExitCode.WORKER_BOOT_ERROR);
  }
  send(channel, { t: "ready" });
  setInterval(() => send(channel, { t: "beat" }), BEAT_MS);
  return await new Promise<never>(() => {});
}
