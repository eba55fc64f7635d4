// `make bench`, memory part (issue 16): start-up time and RSS of appserve's three ways to run
// (`deno run` with Deno workers, the binary with Deno workers, the binary with Bun workers)
// against raw Deno.serve / Bun.serve, a hello world, -w 1, each row started once per round in
// turn (interleaved), medians. The floors (the bare runtime, appserve's FFI and spawn, a node:net
// listener) show what no server on that runtime can go below.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  appserveTarget,
  BenchError,
  BUN,
  childPids,
  cpuMs,
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
  ussMb,
} from "./procs.ts";
import { errorCount, runWrk, wrkArgs, wrkAvailable } from "./wrk.ts";
import { DENO_WORKER_V8_FLAGS } from "../../src/master/worker_launch.ts";

const USAGE = `Usage: deno run -A scripts/bench/memory.ts [OPTIONS]

Start-up (spawn to the first 200) and RSS of appserve -w 1 serving a hello world, idle and after
wrk -t1 -c64 load, next to raw Deno.serve and Bun.serve; every row once per round, interleaved;
medians, and the issue's targets checked against the raw server of the workers' runtime.

Options:
  --rounds N     rounds (default 3)
  --idle S       seconds idle before the idle RSS is read (default 2)
  --load S       seconds of wrk load before the loaded RSS is read (default 15; 0: none)
  --no-floors    leave out the floor rows (bare runtime, FFI and spawn, node:net listener)
  --base DIR     also run the three appserve rows from DIR, an earlier checkout with its
                 dist/appserve built, as "before" (interleaved with the rest)
  -h, --help     this text
`;

const APP = "scripts/bench/hello_app.ts";
const RAW = "scripts/bench/raw_serve.ts";
const BARE = "scripts/bench/bare_runtime.ts";

/** Targets of issue 16, against the raw server of the workers' runtime. */
const TARGET = { idleExtraMb: 10, loadedRatio: 1.3, masterMb: 30, startRatio: 1.5 };

interface Row {
  name: string;
  command(port: number): [string, string[]];
  /** appserve: the worker is the master's child; raw and floors: one process. */
  kind: "appserve" | "raw" | "floor";
  /** The raw server this row is held to (appserve rows). */
  raw?: string;
  /** Floors that serve nothing are only started and read. */
  serves: boolean;
  /** False for the start-up floors: their RSS says nothing about serving. @default true */
  loads?: boolean;
}

interface Sample {
  startMs: number;
  /** CPU time of every process of the row (master and worker) when the first 200 came. */
  startCpuMs: number;
  master: number;
  worker: number;
  /** The idle worker's private pages (ussMb): RSS counts shared pages in every process. */
  workerUss: number;
  loadedMaster: number;
  loadedWorker: number;
  rps: number;
}

function parseOptions() {
  try {
    const { values } = parseArgs({
      options: {
        rounds: { type: "string", default: "3" },
        idle: { type: "string", default: "2" },
        load: { type: "string", default: "15" },
        "no-floors": { type: "boolean", default: false },
        base: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const int = (flag: string, v: string, min: number, max: number) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        throw new BenchError(`--${flag} must be a whole number from ${min} to ${max}, not "${v}"`);
      }
      return n;
    };
    return {
      rounds: int("rounds", values.rounds, 1, 15),
      idleMs: int("idle", values.idle, 0, 60) * 1000,
      load: int("load", values.load, 0, 120),
      floors: !values["no-floors"],
      base: values.base,
    };
  } catch (error) {
    if (error instanceof BenchError) throw error;
    throw new BenchError(`${(error as Error).message} (see --help)`);
  }
}

const abs = (path: string) => join(ROOT, path);

function rows(floors: boolean, bareBinary: string, base: string | undefined): Row[] {
  const appserve = (
    name: "deno" | "binary-deno" | "binary",
    label: string,
    raw: string,
    root = ROOT,
  ): Row => ({
    name: label,
    kind: "appserve",
    raw,
    serves: true,
    command: (port) => {
      const t = appserveTarget(name, root);
      // The toolchain is this checkout's, whichever appserve runs.
      const command = name === "deno" ? abs(DENO) : t.command;
      const prefix = t.prefix.map((a) => (a === join(root, DENO) ? abs(DENO) : a));
      return [command, [...prefix, "-w", "1", "-b", `${HOST}:${port}`, abs(APP)]];
    },
  });
  const deno = (...args: string[]): [string, string[]] => [
    abs(DENO),
    ["run", "-A", "--unstable-net", ...args],
  ];
  const list: Row[] = [
    {
      name: "raw Deno.serve",
      kind: "raw",
      serves: true,
      command: (p) => deno(abs(RAW), String(p)),
    },
    {
      name: "raw Bun.serve",
      kind: "raw",
      serves: true,
      command: (p) => [abs(BUN), [abs(RAW), String(p)]],
    },
    appserve("deno", "`deno run` launcher, Deno workers", "raw Deno.serve"),
    appserve("binary-deno", "binary, Deno workers", "raw Deno.serve"),
    appserve("binary", "binary, Bun workers", "raw Bun.serve"),
  ];
  if (base) {
    list.push(
      appserve("deno", "before: `deno run` launcher, Deno workers", "raw Deno.serve", base),
      appserve("binary-deno", "before: binary, Deno workers", "raw Deno.serve", base),
      appserve("binary", "before: binary, Bun workers", "raw Bun.serve", base),
    );
  }
  if (!floors) return list;
  return list.concat([
    {
      name: "floor: Deno, idle",
      kind: "floor",
      serves: false,
      command: () => deno(abs(BARE), "idle"),
    },
    {
      name: "floor: Deno, libc FFI + a spawned child",
      kind: "floor",
      serves: false,
      command: () => deno(abs(BARE), "master"),
    },
    {
      name: "floor: Deno, node:net fixed reply",
      kind: "floor",
      serves: true,
      command: (p) => deno(abs(BARE), "net", String(p)),
    },
    {
      // Under the V8 flags appserve gives its Deno workers: the floor of their loaded RSS.
      name: "floor: Deno, node:net fixed reply + Request and Response, workers' V8 flags",
      kind: "floor",
      serves: true,
      command: (p) => deno(...DENO_WORKER_V8_FLAGS, abs(BARE), "contract", String(p)),
    },
    {
      name: "floor: Deno, a process that starts a node:net child",
      kind: "floor",
      serves: true,
      loads: false,
      command: (p) => deno(abs(BARE), "fork", String(p)),
    },
    {
      name: "floor: compiled Bun program, idle",
      kind: "floor",
      serves: false,
      command: () => [bareBinary, ["idle"]],
    },
    {
      name: "floor: compiled Bun program, libc FFI + a spawned child",
      kind: "floor",
      serves: false,
      command: () => [bareBinary, ["master"]],
    },
    {
      name: "floor: compiled Bun program, node:net fixed reply",
      kind: "floor",
      serves: true,
      command: (p) => [bareBinary, ["net", String(p)]],
    },
    {
      name: "floor: compiled Bun program, node:net fixed reply + Request and Response",
      kind: "floor",
      serves: true,
      command: (p) => [bareBinary, ["contract", String(p)]],
    },
    {
      name: "floor: compiled Bun program that starts itself as a node:net child",
      kind: "floor",
      serves: true,
      loads: false,
      command: (p) => [bareBinary, ["fork", String(p)]],
    },
  ]);
}

async function measure(row: Row, idleMs: number, load: number): Promise<Sample> {
  const port = await freePort();
  const [command, args] = row.command(port);
  const t0 = performance.now();
  const proc = launch(row.name, command, args, ROOT);
  try {
    const startMs = row.serves ? await firstAnswerMs(proc, port, t0) : NaN;
    const worker = () => (row.kind === "appserve" ? childPids(proc.pid)[0] ?? -1 : proc.pid);
    // Every process of the row: master and worker, or a floor and the child it started.
    const startCpuMs = row.serves
      ? [proc.pid, ...childPids(proc.pid)].reduce((sum, pid) => sum + cpuMs(pid), 0)
      : NaN;
    if (!row.serves) await proc.waitFor(/ready/, 30_000);
    await sleep(idleMs);
    const sample: Sample = {
      startMs,
      startCpuMs,
      master: row.kind === "appserve" ? rssMb(proc.pid) : NaN,
      worker: rssMb(worker()),
      workerUss: ussMb(worker()),
      loadedMaster: NaN,
      loadedWorker: NaN,
      rps: NaN,
    };
    if (row.serves && load > 0 && row.loads !== false) {
      const url = `http://${HOST}:${port}/`;
      const result = await runWrk(wrkArgs(url, { connections: 64, seconds: load }), load);
      if (errorCount(result) > 0) {
        throw new BenchError(`${row.name}: ${errorCount(result)} failed requests under load`);
      }
      sample.rps = result.rps;
      sample.loadedWorker = rssMb(worker());
      sample.loadedMaster = row.kind === "appserve" ? rssMb(proc.pid) : NaN;
    }
    if (proc.ended) throw new BenchError(`${row.name} exited: ${proc.lastLine()}`);
    return sample;
  } finally {
    await stop(proc);
  }
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const fmt = (x: number, digits = 0) => (Number.isNaN(x) ? "–" : x.toFixed(digits));

function report(all: Row[], samples: Map<string, Sample[]>, o: ReturnType<typeof parseOptions>) {
  const col = (name: string, key: keyof Sample) => median(samples.get(name)!.map((s) => s[key]));
  console.log(
    `\nmedians of ${o.rounds} interleaved rounds, -w 1, hello world; idle RSS after ${
      o.idleMs / 1000
    } s, loaded RSS after ${o.load} s of wrk -t1 -c64\n`,
  );
  console.log(
    "| row | start to first 200 (ms) | CPU by then (ms) | master RSS (MB) | worker RSS idle (MB) | worker private idle (MB) | master / worker RSS loaded (MB) | req/s |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of all) {
    const n = row.name;
    const loaded = row.kind === "appserve"
      ? `${fmt(col(n, "loadedMaster"))} / ${fmt(col(n, "loadedWorker"))}`
      : fmt(col(n, "loadedWorker"));
    console.log(
      `| ${n} | ${fmt(col(n, "startMs"))} | ${fmt(col(n, "startCpuMs"))} | ${
        fmt(col(n, "master"))
      } | ${fmt(col(n, "worker"))} | ${fmt(col(n, "workerUss"))} | ${loaded} | ${
        fmt(col(n, "rps") / 1000, 1)
      }k |`,
    );
  }
  // Ratios per round (a row and its raw server ran minutes apart at most), then the median.
  const perRound = (row: Row, f: (s: Sample, raw: Sample) => number) =>
    median(samples.get(row.name)!.map((s, i) => f(s, samples.get(row.raw!)![i])));
  const verdict = (ok: boolean) => (ok ? "yes" : "**no**");
  console.log(
    `\ntargets: idle worker ≤ raw + ${TARGET.idleExtraMb} MB; loaded worker ≤ ${TARGET.loadedRatio}× raw; master ≤ ${TARGET.masterMb} MB; start ≤ ${TARGET.startRatio}× raw\n`,
  );
  console.log(
    "| row | idle worker − raw (MB) | loaded worker / raw | master (MB) | start / raw | (start CPU / raw) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const row of all.filter((r) => r.kind === "appserve")) {
    const idle = perRound(row, (s, r) => s.worker - r.worker);
    const loaded = perRound(row, (s, r) => s.loadedWorker / r.loadedWorker);
    const master = col(row.name, "master");
    const start = perRound(row, (s, r) => s.startMs / r.startMs);
    const startCpu = perRound(row, (s, r) => s.startCpuMs / r.startCpuMs);
    console.log(
      `| ${row.name} (vs ${row.raw}) | ${fmt(idle, 1)} ${verdict(idle <= TARGET.idleExtraMb)} | ${
        fmt(loaded, 2)
      } ${Number.isNaN(loaded) ? "" : verdict(loaded <= TARGET.loadedRatio)} | ${fmt(master, 1)} ${
        verdict(master <= TARGET.masterMb)
      } | ${fmt(start, 2)} ${verdict(start <= TARGET.startRatio)} | ${fmt(startCpu, 2)} |`,
    );
  }
}

await runBench(async () => {
  const o = parseOptions();
  if (o.load > 0 && !wrkAvailable()) {
    throw new BenchError("wrk is not installed (make install, or apt-get install wrk)");
  }
  const dir = mkdtempSync(join(tmpdir(), "appserve-bench-memory-"));
  try {
    const bareBinary = join(dir, "bare_runtime");
    if (o.floors) {
      execFileSync(abs(BUN), ["build", "--compile", abs(BARE), "--outfile", bareBinary], {
        stdio: "ignore",
      });
    }
    if (o.base && !existsSync(join(o.base, "dist/appserve"))) {
      throw new BenchError(`--base ${o.base}: no dist/appserve there (make dist/appserve in it)`);
    }
    const all = rows(o.floors, bareBinary, o.base);
    const samples = new Map(all.map((r) => [r.name, [] as Sample[]]));
    for (let round = 1; round <= o.rounds; round++) {
      for (const row of all) samples.get(row.name)!.push(await measure(row, o.idleMs, o.load));
      process.stderr.write(`round ${round}/${o.rounds} done\n`);
    }
    report(all, samples, o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
