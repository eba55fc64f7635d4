// Where a Deno executable is. The master's choice of the workers' runtime
// (src/master/worker_runtime.ts, which adds --deno and the running Deno) and a Bun
// worker's "run it with --runtime deno" errors look in the same places.

import process from "node:process";
import { isExecutable, onPath, whichProgram } from "./executables.ts";

/** The first executable `deno` in the directories of a PATH value; undefined when there is none. */
export function denoOnPath(path: string | undefined): string | undefined {
  return onPath("deno", path, process.cwd());
}

/**
 * The Deno executable named by the `DENO` environment variable, else the first
 * `deno` on `PATH`; undefined when there is none.
 */
export function findDeno(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const named = env.DENO && whichProgram(env.DENO, env.PATH, process.cwd());
  if (named && isExecutable(named)) return named;
  return denoOnPath(env.PATH);
}

/** What to say after "run it with --runtime deno": whether a Deno was found, and where. */
export function denoWhereabouts(env?: Record<string, string | undefined>): string {
  const deno = findDeno(env);
  return deno ? `deno found at ${deno}` : "no deno found in DENO or on PATH";
}
