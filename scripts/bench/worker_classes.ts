// `make bench`, second part: the worker classes side by side in one run.
// (a) a CPU-bound route (~50 ms of arithmetic) on -w 1: appserve gthread
//     --threads 2 vs sync, and gunicorn gthread --threads 2 vs sync (Debian package);
// (b) hello world: -w 1 --threads 2 (gthread) vs -w 2 async;
// (c) an IO-bound route (sleep 100 ms) with 200 concurrent clients on async -w 1,
//     against the ideal 2000 req/s.
// Every row is measured --rounds times, interleaved; each row reports its median.

import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  appserveTarget,
  BenchError,
  BUN,
  DENO,
  freePort,
  HOST,
  launch,
  type Proc,
  ROOT,
  runBench,
  stop,
  waitReady,
} from "./procs.ts";
import { errorCount, runWrk, shellLine, wrkArgs, wrkAvailable, type WrkResult } from "./wrk.ts";

const APP = "scripts/bench/worker_classes_app.ts";
const CALIBRATE = "scripts/bench/calibrate_cpu.ts";
// What appserve and gunicorn both log once a worker is up.
const BOOTED = /Booting worker with pid/;

const USAGE = `Usage: deno run -A scripts/bench/worker_classes.ts [OPTIONS]

Worker classes side by side (wrk -t1, 1 s warm-up per server):
  (a) CPU-bound /cpu (~50 ms of work), 8 connections: appserve -w 1 -k gthread
      --threads 2 vs -w 1 -k sync (deno run and the binary), and gunicorn -w 1
      -k gthread --threads 2 vs -k sync (apt-installs Debian's gunicorn if missing)
  (b) hello world, 64 connections: -w 1 --threads 2 vs -w 2 (async)
  (c) /sleep (100 ms), 200 connections, async -w 1: share of the ideal 2000 req/s
      (rows of at least 10 s: the requests still in flight when wrk stops are not
      counted, which costs a 4 s row up to 2.5% of the ideal, a 10 s row 1%)

Options:
  --duration N   seconds per row (default 5)
  --rounds N     measure every row N times, interleaved; report medians (default 3)
  --quick        2 s rows, one round
  --parts LIST   which parts to run, e.g. "b" or "ab" (default abc)
  -h, --help     this text
`;

type Part = "a" | "b" | "c";

interface Row {
  part: Part;
  /** Whose calibrated work count the row's app uses. */
  runtime: "deno" | "bun" | "python";
  label: string;
  command: string;
  args: string[];
  path: string;
  connections: number;
}

function appserve(name: "deno" | "binary", args: string[], port: number) {
  const target = appserveTarget(name, "");
  return {
    runtime: name === "deno" ? "deno" as const : "bun" as const,
    command: target.command,
    args: [...target.prefix, ...args, "-b", `${HOST}:${port}`, APP],
  };
}

function gunicorn(workerClass: string, port: number) {
  const threads = workerClass === "gthread" ? ["--threads", "2"] : [];
  return {
    runtime: "python" as const,
    command: "gunicorn",
    args: [
      "-w",
      "1",
      "-k",
      workerClass,
      ...threads,
      "-b",
      `${HOST}:${port}`,
      "--chdir",
      "scripts/bench",
      "cpu_wsgi:app",
    ],
  };
}

/** The /cpu work count each runtime needs for ~50 ms, measured once for the whole run. */
function calibrations(): Record<"deno" | "bun", string> {
  const run = (command: string, args: string[]) => {
    const result = spawnSync(join(ROOT, command), args, { cwd: ROOT, encoding: "utf8" });
    const n = Number(result.stdout?.trim());
    if (!Number.isInteger(n) || n <= 0) {
      throw new BenchError(`cannot calibrate the CPU route with ${command}: ${result.stderr}`);
    }
    return String(n);
  };
  return {
    deno: run(DENO, ["run", "-A", "--quiet", CALIBRATE]),
    bun: run(BUN, [CALIBRATE]),
  };
}

function rows(port: number): Row[] {
  const out: Row[] = [];
  for (const target of ["deno", "binary"] as const) {
    const name = target === "deno" ? "appserve (deno run)" : "appserve (binary)";
    out.push({
      part: "a",
      label: `${name} -w 1 -k gthread --threads 2`,
      ...appserve(target, ["-w", "1", "-k", "gthread", "--threads", "2"], port),
      path: "/cpu",
      connections: 8,
    });
    out.push({
      part: "a",
      label: `${name} -w 1 -k sync`,
      ...appserve(target, ["-w", "1", "-k", "sync"], port),
      path: "/cpu",
      connections: 8,
    });
  }
  for (const workerClass of ["gthread", "sync"]) {
    out.push({
      part: "a",
      label: `gunicorn -w 1 -k ${workerClass}${workerClass === "gthread" ? " --threads 2" : ""}`,
      ...gunicorn(workerClass, port),
      path: "/cpu",
      connections: 8,
    });
  }
  for (const target of ["deno", "binary"] as const) {
    const name = target === "deno" ? "appserve (deno run)" : "appserve (binary)";
    out.push({
      part: "b",
      label: `${name} -w 1 --threads 2`,
      ...appserve(target, ["-w", "1", "--threads", "2"], port),
      path: "/",
      connections: 64,
    });
    out.push({
      part: "b",
      label: `${name} -w 2 (async)`,
      ...appserve(target, ["-w", "2"], port),
      path: "/",
      connections: 64,
    });
  }
  for (const target of ["deno", "binary"] as const) {
    const name = target === "deno" ? "appserve (deno run)" : "appserve (binary)";
    out.push({
      part: "c",
      label: `${name} -w 1 (async), 200 clients`,
      ...appserve(target, ["-w", "1"], port),
      path: "/sleep",
      connections: 200,
    });
  }
  return out;
}

function ensureGunicorn(): void {
  if (!spawnSync("gunicorn", ["--version"], { stdio: "ignore" }).error) return;
  process.stderr.write("gunicorn is missing: apt-get install -y gunicorn\n");
  const result = spawnSync("apt-get", ["install", "-y", "-q", "gunicorn"], { stdio: "inherit" });
  if (result.status !== 0 || spawnSync("gunicorn", ["--version"]).error) {
    throw new BenchError("cannot install gunicorn (apt-get install -y gunicorn failed)");
  }
}

async function measure(
  row: Row,
  seconds: number,
  iterations: Record<"deno" | "bun", string>,
): Promise<WrkResult> {
  // Rows are rebuilt per run so each gets a fresh port.
  const port = await freePort();
  const fresh = rows(port).find((r) => r.label === row.label)!;
  const command = fresh.command === "gunicorn" ? "gunicorn" : join(ROOT, fresh.command);
  if (row.runtime === "python") delete process.env.BENCH_CPU_ITERATIONS;
  else process.env.BENCH_CPU_ITERATIONS = iterations[row.runtime];
  const proc: Proc = launch(row.label, command, fresh.args, ROOT);
  try {
    await waitReady(row.label, [proc], port, () => BOOTED.test(proc.output), 30_000);
    const url = `http://${HOST}:${port}${row.path}`;
    await runWrk(wrkArgs(url, { connections: row.connections, seconds: 1 }), 1);
    return await runWrk(
      wrkArgs(url, { connections: row.connections, seconds, latency: true }),
      seconds,
    );
  } finally {
    await stop(proc);
  }
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " +
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") +
    " |";
  const rule = "|" +
    widths.map((w, i) => (i === 0 ? "-" : "") + "-".repeat(w) + (i === 0 ? "-" : ":")).join("|") +
    "|";
  return [line(header), rule, ...body.map(line)].join("\n");
}

function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
}

function verdict(value: number, target: number): string {
  return value >= target ? "met" : "NOT met";
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let duration = 5;
  let rounds = 3;
  let parts = "abc";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(USAGE);
      return;
    } else if (arg === "--quick") {
      duration = 2;
      rounds = 1;
    } else if (arg === "--duration" || arg === "--rounds") {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1 || v > 300) {
        throw new BenchError(`${arg} takes a whole number from 1 to 300, not "${argv[i]}"`);
      }
      if (arg === "--duration") duration = v;
      else rounds = v;
    } else if (arg === "--parts") {
      parts = argv[++i] ?? "";
      if (!/^[abc]+$/.test(parts)) {
        throw new BenchError(`--parts takes letters from "abc", not "${parts}"`);
      }
    } else throw new BenchError(`unknown option "${arg}" (see --help)`);
  }
  if (!wrkAvailable()) throw new BenchError("wrk is missing (run make install)");
  if (parts.includes("a")) ensureGunicorn();
  const iterations = calibrations();
  // Part (c): each client's last, unfinished 100 ms is lost from a row's count.
  const MIN_SLEEP_ROW_SECONDS = 10;
  const all = rows(0).filter((row) => parts.includes(row.part));
  const runs: WrkResult[][] = all.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    for (const [i, row] of all.entries()) {
      const seconds = row.part === "c" ? Math.max(duration, MIN_SLEEP_ROW_SECONDS) : duration;
      const result = await measure(row, seconds, iterations);
      runs[i].push(result);
      process.stderr.write(
        `[round ${round}/${rounds}] ${row.label} ${row.path}: ${Math.round(result.rps)} req/s` +
          (errorCount(result) ? `, ${errorCount(result)} errors` : "") + "\n",
      );
    }
  }
  const median = (list: WrkResult[]) => [...list].sort((a, b) => a.rps - b.rps)[list.length >> 1];
  const med = new Map(all.map((row, i) => [row.label, median(runs[i])]));
  const rps = (label: string) => med.get(label)!.rps;
  const body = all.map((row) => {
    const r = med.get(row.label)!;
    return [
      `(${row.part}) ${row.label}`,
      row.path,
      String(row.connections),
      String(Math.round(r.rps)),
      Number.isNaN(r.p99Ms) ? "n/a" : `${r.p99Ms.toFixed(1)} ms`,
      String(errorCount(r)),
    ];
  });
  const out: string[] = [];
  out.push(`Worker classes, wrk -t1, ${duration} s per row, median of ${rounds} interleaved runs.`);
  out.push(`/cpu work: ${iterations.deno} iterations under Deno, ${iterations.bun} under Bun.`);
  out.push(`Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
  out.push(table(["server", "route", "conns", "req/s", "p99", "errors"], body));
  out.push("");
  const checks: string[][] = [];
  if (parts.includes("a")) {
    for (const name of ["appserve (deno run)", "appserve (binary)"]) {
      const a = rps(`${name} -w 1 -k gthread --threads 2`) / rps(`${name} -w 1 -k sync`);
      checks.push([`(a) ${name}: gthread ÷ sync`, ratio(a, 1), "≥ 1.80×", verdict(a, 1.8)]);
    }
    checks.push([
      "(a) gunicorn: gthread ÷ sync",
      ratio(rps("gunicorn -w 1 -k gthread --threads 2"), rps("gunicorn -w 1 -k sync")),
      "≈ 1× (GIL)",
      "info",
    ]);
  }
  if (parts.includes("b")) {
    for (const name of ["appserve (deno run)", "appserve (binary)"]) {
      const b = rps(`${name} -w 1 --threads 2`) / rps(`${name} -w 2 (async)`);
      checks.push([`(b) ${name}: gthread ÷ async -w 2`, ratio(b, 1), "≥ 0.90×", verdict(b, 0.9)]);
    }
  }
  if (parts.includes("c")) {
    for (const name of ["appserve (deno run)", "appserve (binary)"]) {
      const c = rps(`${name} -w 1 (async), 200 clients`) / 2000;
      checks.push([
        `(c) ${name}: share of 2000 req/s`,
        `${(c * 100).toFixed(1)}%`,
        "≥ 95%",
        verdict(c, 0.95),
      ]);
    }
  }
  out.push(table(["comparison", "value", "target", ""], checks));
  out.push("\nCommands:");
  for (const row of rows(8000).filter((r) => parts.includes(r.part))) {
    out.push(`  ${shellLine(row.command, row.args)}`);
  }
  process.stdout.write(out.join("\n") + "\n");
}

await runBench(main);
