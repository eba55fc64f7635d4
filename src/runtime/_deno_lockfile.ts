// A frozen deno.lock that is out of date (`"lock": { "frozen": true }` in deno.json, or --frozen
// in --deno-flags): Deno says "Run `deno install --frozen=false`, or rerun with `--frozen=false`",
// but the worker's `deno run` is appserve's to give flags to, and Deno's diff of the whole lock
// follows. A worker says instead where to run `deno install` and how --deno-flags takes the flag.

import { dirname, relative } from "node:path";
import process from "node:process";
import { findDenoConfig } from "./_import_map.ts";

const OUT_OF_DATE = /^The lockfile is out of date\b/;

let projectDir: string | undefined;

/** Notes the app's project folder (its deno.json's), where `deno install` updates the lock. */
export function noteLockProject(appFile: string): void {
  const config = findDenoConfig(dirname(appFile));
  projectDir = config ? dirname(config) : undefined;
}

function where(dir: string | undefined): string {
  if (dir === undefined) return "in the project's folder";
  const rel = relative(process.cwd(), dir);
  return rel === "" ? "in this folder" : `in ${rel.startsWith("../") ? dir : rel}/`;
}

/** The line for Deno's out-of-date frozen lockfile error; undefined for any other error. */
export function explainLockfile(error: unknown): string | undefined {
  if (!(error instanceof Error) || !OUT_OF_DATE.test(error.message)) return undefined;
  return `${error.name}: The lockfile is out of date and frozen: update it by running ` +
    `\`deno install --frozen=false\` ${where(projectDir)} (then deploy the new deno.lock), ` +
    `or let the workers update it: add --frozen=false to --deno-flags ` +
    `(--deno-flags='-A --frozen=false')`;
}
