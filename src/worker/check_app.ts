// --check-config's app check, run in a worker process: the app is imported as a worker imports it
// (on the workers' runtime, under the user's deno.json or package.json), then the process exits:
// 0 when it loads, 4 with the start's own message in `report` when it does. Nothing is served.

import { writeFileSync } from "node:fs";
import process from "node:process";
import { loadApp } from "../app/load_app.ts";
import type { Config } from "../config/settings.ts";
import { appLoadFailure } from "../errors.ts";
import { ExitCode } from "../exit_codes.ts";
import type { Runtime } from "../runtime/types.ts";

export async function checkApp(config: Config, runtime: Runtime, report: string): Promise<never> {
  try {
    await loadApp(config.app, process.cwd(), { runtime });
  } catch (error) {
    writeFileSync(report, appLoadFailure(error));
    process.exit(ExitCode.APP_LOAD_ERROR);
  }
  process.exit(ExitCode.OK);
}
