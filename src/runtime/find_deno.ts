// Where a Deno executable is. The master's choice of the workers' runtime
// (src/master/worker_runtime.ts, which adds --deno and the running Deno) and a Bun
// worker's "run it with --runtime deno" errors look in the same places.

import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";

/** Whether `path` is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The first executable `deno` in the directories of a PATH value; undefined when there is none. */
export function denoOnPath(path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "deno"))) return join(dir, "deno");
  }
  return undefined;
}

/**
 * The Deno executable named by the `DENO` environment variable, else the first
 * `deno` on `PATH`; undefined when there is none.
 */
export function findDeno(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (env.DENO && isExecutable(env.DENO)) return env.DENO;
  return denoOnPath(env.PATH);
}

/** What to say after "run it with --runtime deno": whether a Deno was found, and where. */
export function denoWhereabouts(env?: Record<string, string | undefined>): string {
  const deno = findDeno(env);
  return deno ? `deno found at ${deno}` : "no deno found in DENO or on PATH";
}
