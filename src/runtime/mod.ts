// Picks the runtime implementation once. The import is dynamic so that Deno
// never loads bun:ffi and Bun never evaluates Deno-only code.

import type { Runtime } from "./types.ts";

export type { Libc, NativeServer, Runtime, SelfCommand } from "./types.ts";

/** Loads the implementation of the runtime this process runs on. */
export async function detectRuntime(): Promise<Runtime> {
  if ("Bun" in globalThis) return (await import("./bun.ts")).bunRuntime;
  return (await import("./deno.ts")).denoRuntime;
}
