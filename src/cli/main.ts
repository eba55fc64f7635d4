// The program's entry, under `deno run` and in the compiled binary: a worker
// process (APPSERVE_ROLE=worker) or the CLI, given mod.ts's exports for
// --logger-class modules. runCommandLine (as mod.ts's main()) turns a domain error into an
// exit code.
// Both branches are dynamic imports: a worker of the binary (this file with
// APPSERVE_ROLE=worker) then never evaluates the CLI, the settings table or the master.

import process from "node:process";
import { ROLE_ENV } from "../ipc/messages.ts";

async function entry(): Promise<void> {
  if (process.env[ROLE_ENV] === "worker") {
    await import("../../workers/process_entry.ts");
    return;
  }
  const appserve = await import("../../mod.ts");
  const { detectRuntime } = await import("../runtime/mod.ts");
  const { DAEMON_ENV } = await import("./daemon.ts");
  const { runCommandLine } = await import("./run_cli.ts");
  const { StartupReport } = await import("./startup_report.ts");
  const runtime = await detectRuntime();
  const report = new StartupReport(
    process.env[DAEMON_ENV] ? runtime.libc() : undefined,
    process.env,
  );
  process.exit(await runCommandLine(process.argv.slice(2), { appserve, runtime, report }));
}

if (import.meta.main) await entry();
