// A frozen deno.lock that is out of date (`"lock": { "frozen": true }` in deno.json, or --frozen
// in --deno-flags): Deno says "Run `deno install --frozen=false`, or rerun with `--frozen=false`",
// but the worker's `deno run` is appserve's to give flags to, and Deno's diff of the whole lock
// follows. A worker says instead where to run `deno install` and how --deno-flags takes the flag.
// Deno's `deno install` locks only deno.json's imports; with the app as its entrypoint it locks
// what the app imports as well.

import { dirname, resolve } from "node:path";
import { frozenLockAdvice } from "../deno_workspace.ts";
import { findDenoConfig } from "./_import_map.ts";

const OUT_OF_DATE = /^The lockfile is out of date\b/;

let projectDir: string | undefined;
let entry: string | undefined;

/**
 * Notes the app's file, and its project folder (its deno.json's), where `deno install` updates
 * the lock.
 */
export function noteLockProject(appFile: string): void {
  entry = resolve(appFile);
  const config = findDenoConfig(dirname(entry));
  projectDir = config ? dirname(config) : undefined;
}

/** The line for Deno's out-of-date frozen lockfile error; undefined for any other error. */
export function explainLockfile(error: unknown): string | undefined {
  if (!(error instanceof Error) || !OUT_OF_DATE.test(error.message)) return undefined;
  return `${error.name}: The lockfile is out of date and frozen: ${
    frozenLockAdvice(projectDir, entry)
  }`;
}
