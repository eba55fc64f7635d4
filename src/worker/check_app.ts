// --check-config's app check, run in a worker process: the app is imported as a worker imports it
// (on the workers' runtime, under the user's deno.json or package.json), then the process exits:
// 0 when it loads, 4 with the start's own message written to the pipe at fd `report` when it does.
// A pipe, not a file: the check must work where no temp folder is writable (a read-only /tmp).
// Nothing is served.

import process from "node:process";
import { loadApp } from "../app/load_app.ts";
import type { Config } from "../config/settings.ts";
import { appLoadFailure } from "../errors.ts";
import { ExitCode } from "../exit_codes.ts";
import type { Runtime } from "../runtime/types.ts";
import { F_SETFD, FD_CLOEXEC } from "../net/socket_constants.ts";

export async function checkApp(config: Config, runtime: Runtime, report: string): Promise<never> {
  // Not for the processes the app starts: one that outlives the import (a sidecar) would hold the
  // pipe open, and the master waits for its end (a Deno master's 'close' does) as long as it runs.
  try {
    runtime.libc().fcntl(Number(report), F_SETFD, FD_CLOEXEC);
  } catch {
    // No libc (Bun's FFI under a low `ulimit -v`): the import's failure says so, if it fails.
  }
  try {
    await loadApp(config.app, process.cwd(), { runtime });
  } catch (error) {
    // libc's write: Deno's node:fs knows no inherited fd.
    const write = runtime.libc().write;
    let bytes = new TextEncoder().encode(appLoadFailure(error));
    while (bytes.length) {
      const n = write(Number(report), bytes);
      if (n <= 0) break;
      bytes = bytes.subarray(n);
    }
    process.exit(ExitCode.APP_LOAD_ERROR);
  }
  process.exit(ExitCode.OK);
}
