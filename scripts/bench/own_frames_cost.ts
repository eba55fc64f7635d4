// What hideOwnFrames() costs an Error: made and not read, made and its stack read, and
// Error.captureStackTrace (which Bun hands to the hook at once). Prints ns per Error (N = 100k,
// median of 5 runs, each in a process of its own, with and without the hook taking turns);
// run under bun or deno. `--one hook|none` is one such process.

import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { hideOwnFrames } from "../../src/app/own_frames.ts";

const N = 100_000;
const RUNS = 5;

// Three calls deep, as an app's error under its handler.
function level3(read: boolean): number {
  const error = new Error("made");
  return read ? error.stack!.length : 1;
}
const level2 = (read: boolean) => level3(read) + 1;
const level1 = (read: boolean) => level2(read) + 1;

function nsPer(work: () => unknown): number {
  for (let i = 0; i < N / 10; i++) work();
  const start = performance.now();
  for (let i = 0; i < N; i++) work();
  return ((performance.now() - start) * 1e6) / N;
}

function one(hook: boolean): void {
  if (hook) hideOwnFrames();
  const made = nsPer(() => level1(false));
  const read = nsPer(() => level1(true));
  const captured = nsPer(() => Error.captureStackTrace({}));
  console.log(JSON.stringify({ made, read, captured }));
}

const at = process.argv.indexOf("--one");
if (at >= 0) {
  one(process.argv[at + 1] === "hook");
} else {
  const self = fileURLToPath(import.meta.url);
  const prefix = "Deno" in globalThis ? ["run", "-A", "--quiet", self] : [self];
  const runs: Record<string, Record<string, number>[]> = { hook: [], none: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const mode of i % 2 ? ["none", "hook"] : ["hook", "none"]) {
      const out = spawnSync(process.execPath, [...prefix, "--one", mode], { encoding: "utf8" });
      runs[mode].push(JSON.parse(out.stdout));
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const what of ["made", "read", "captured"]) {
    const [hook, none] = ["hook", "none"].map((m) => median(runs[m].map((r) => r[what])));
    console.log(`${what}: ${none.toFixed(0)} ns without the hook, ${hook.toFixed(0)} ns with it`);
  }
}
