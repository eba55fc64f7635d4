// Whether a Deno project's lock file is frozen (`"lock": { "frozen": true }` in its deno.json, or
// --frozen in --deno-flags): then a deno.lock out of date makes `deno run` refuse the worker before
// any of it runs, with Deno's advice to "rerun with `--frozen=false`", a flag only --deno-flags
// gives. The master's reason for halting says what to type instead.

import { dirname } from "node:path";
import process from "node:process";
import { frozenLockAdvice } from "../deno_workspace.ts";
import type { DenoFlags } from "./deno_flags.ts";
import { type DenoProject, readDenoConfig, workspaceRoot } from "./deno_project.ts";

// The last --frozen flag's value, as Deno takes it; undefined when none is given.
function frozenFlag(flags: string[]): boolean | undefined {
  let frozen: boolean | undefined;
  for (const flag of flags) {
    const m = /^--frozen(?:-lockfile)?(?:=(true|false))?$/.exec(flag);
    if (m) frozen = m[1] !== "false";
  }
  return frozen;
}

function frozenInConfig(config: string): boolean {
  try {
    const lock = readDenoConfig(workspaceRoot(config) ?? config).lock;
    return typeof lock === "object" && lock !== null &&
      (lock as { frozen?: unknown }).frozen === true;
  } catch {
    return false; // A broken deno.json: the start said so.
  }
}

/**
 * What to add to the Reason line when Deno refuses a worker and the project's lock is frozen;
 * undefined when it is not (or there is no lock: --no-lock, no deno.json).
 */
export function frozenLockHint(project: DenoProject, flags: DenoFlags): string | undefined {
  if (flags.rest.includes("--no-lock")) return undefined;
  const frozen = frozenFlag(flags.rest) ??
    (project.config ? frozenInConfig(project.config) : false);
  if (!frozen) return undefined;
  // `deno install` finds the workspace (and its lock) from the project's folder.
  const dir = project.config ? dirname(project.config) : process.cwd();
  return `The lock file is frozen: if Deno says it is out of date, ${frozenLockAdvice(dir)}.`;
}
