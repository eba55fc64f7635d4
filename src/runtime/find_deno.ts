// Where a Deno executable is, for the errors that tell a Bun worker's user to run
// the app with `--runtime deno`. A stand-in until `--deno PATH` is a setting.

import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The Deno executable named by the `DENO` environment variable, else the first
 * `deno` on `PATH`; undefined when there is none.
 */
export function findDeno(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (env.DENO && executable(env.DENO)) return env.DENO;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && executable(join(dir, "deno"))) return join(dir, "deno");
  }
  return undefined;
}

/** What to say after "run it with --runtime deno": whether a Deno was found, and where. */
export function denoWhereabouts(env?: Record<string, string | undefined>): string {
  const deno = findDeno(env);
  return deno ? `deno found at ${deno}` : "no deno found in DENO or on PATH";
}
