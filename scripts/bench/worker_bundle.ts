// Start-up and idle memory of one worker, per way of shipping the Deno worker (issue 16): the
// `deno bundle` output appserve uses, a `bun build --target node` bundle of the same entries run
// by Deno, the binary with Deno and with Bun workers, and the runtimes' own servers. Each round
// starts every variant once, in turn (interleaved), and the table shows medians.
// Usage: deno run -A scripts/bench/worker_bundle.ts [--rounds 5] [--idle 2] [--base DIR]
//   --base DIR: a checkout of an earlier appserve (its `deno run src/cli/main.ts`) as "before".

import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  BINARY,
  BUN,
  childPids,
  DENO,
  firstAnswerMs,
  freePort,
  HOST,
  launch,
  ROOT,
  rssMb,
  runBench,
  sleep,
  stop,
} from "./procs.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    idle: { type: "string", default: "2" },
    base: { type: "string" },
  },
});
const ROUNDS = Number(values.rounds);
const IDLE_MS = Number(values.idle) * 1000;
const APP = join(ROOT, "scripts/bench/hello_app.ts");
const RAW = join(ROOT, "scripts/bench/raw_serve.ts");

interface Variant {
  name: string;
  /** The command for a port; `cwd` is the checkout it runs from. */
  command(port: number): [string, string[]];
  /** A raw server is one process; appserve's worker is the master's child. */
  raw?: boolean;
}

// A copy of the sources whose dist/deno holds `bun build --target node` output instead.
function bunBuiltCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), "appserve-bench-bunbuild-"));
  for (const entry of ["src", "workers", "mod.ts", "deno.json", "package.json", "scripts"]) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  execFileSync(join(ROOT, BUN), [
    "build",
    "--target",
    "node",
    "--format",
    "esm",
    "--external",
    "*/bun.ts",
    "--outdir",
    join(dir, "dist/deno"),
    "workers/process_entry.ts",
    "workers/thread_entry.ts",
    "workers/appserve_shim.ts",
  ], { cwd: dir, stdio: "ignore" });
  return dir;
}

const appserveArgs = (port: number) => ["-w", "1", "-b", `${HOST}:${port}`, APP];
const sourceLauncher = (root: string) => (port: number): [string, string[]] => [
  join(ROOT, DENO),
  ["run", "-A", "--unstable-net", "--quiet", join(root, "src/cli/main.ts"), ...appserveArgs(port)],
];

async function measure(v: Variant): Promise<{ startMs: number; master: number; worker: number }> {
  const port = await freePort();
  const [command, args] = v.command(port);
  const t0 = performance.now();
  const proc = launch(v.name, command, args, ROOT);
  try {
    const startMs = await firstAnswerMs(proc, port, t0);
    await sleep(IDLE_MS);
    const worker = v.raw ? NaN : rssMb(childPids(proc.pid)[0]);
    return { startMs, master: rssMb(proc.pid), worker };
  } finally {
    await stop(proc);
  }
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

await runBench(async () => {
  const bunBuilt = bunBuiltCheckout();
  const variants: Variant[] = [
    ...(values.base
      ? [{ name: "before (deno run, sources)", command: sourceLauncher(values.base) }]
      : []),
    { name: "deno run + deno bundle worker", command: sourceLauncher(ROOT) },
    { name: "deno run + bun build worker", command: sourceLauncher(bunBuilt) },
    {
      name: "binary + Deno workers",
      command: (
        p,
      ) => [join(ROOT, BINARY), [
        "--runtime",
        "deno",
        "--deno",
        join(ROOT, DENO),
        ...appserveArgs(p),
      ]],
    },
    {
      name: "binary + Bun workers",
      command: (p) => [join(ROOT, BINARY), ["--runtime", "bun", ...appserveArgs(p)]],
    },
    {
      name: "raw Deno.serve",
      command: (p) => [join(ROOT, DENO), ["run", "-A", "--unstable-net", RAW, String(p)]],
      raw: true,
    },
    { name: "raw Bun.serve", command: (p) => [join(ROOT, BUN), [RAW, String(p)]], raw: true },
  ];
  const results = new Map(
    variants.map((v) => [v.name, [] as Awaited<ReturnType<typeof measure>>[]]),
  );
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of variants) results.get(v.name)!.push(await measure(v));
      process.stderr.write(`round ${round}/${ROUNDS} done\n`);
    }
  } finally {
    rmSync(bunBuilt, { recursive: true, force: true });
  }
  console.log(`medians of ${ROUNDS} interleaved rounds; RSS after ${IDLE_MS / 1000} s idle\n`);
  console.log("| variant | start to first 200 (ms) | master RSS (MB) | worker RSS (MB) |");
  console.log("| --- | --- | --- | --- |");
  for (const [name, rs] of results) {
    const cell = (
      xs: number[],
    ) => (Number.isNaN(median(xs)) ? "–" : String(Math.round(median(xs))));
    console.log(
      `| ${name} | ${cell(rs.map((r) => r.startMs))} | ${cell(rs.map((r) => r.master))} | ${
        cell(rs.map((r) => r.worker))
      } |`,
    );
  }
});
