// The program's entry, under `deno run` and in the compiled binary: a worker
// process (APPSERVE_ROLE=worker) or the CLI, given mod.ts's exports for
// --logger-class modules. The only place that turns a domain error into an exit code.

import process from "node:process";
import * as appserve from "../../mod.ts";
import { AppserveError } from "../errors.ts";
import { ROLE_ENV } from "../ipc/messages.ts";
import { detectRuntime } from "../runtime/mod.ts";
import { DAEMON_ENV } from "./daemon.ts";
import { runCli } from "./run_cli.ts";
import { StartupReport } from "./startup_report.ts";

async function entry(): Promise<void> {
  if (process.env[ROLE_ENV] === "worker") {
    await import("../../workers/process_entry.ts");
    return;
  }
  const runtime = await detectRuntime();
  const report = new StartupReport(
    process.env[DAEMON_ENV] ? runtime.libc() : undefined,
    process.env,
  );
  let code: number;
  try {
    code = await runCli(process.argv.slice(2), { appserve, runtime, report });
  } catch (error) {
    if (!(error instanceof AppserveError)) throw error;
    report.failed(error.message);
    code = error.exitCode;
  }
  process.exit(code);
}

if (import.meta.main) await entry();
