// `make bench` (second part): what logging costs. Hello world on appserve -w 1
// with the access log off next to the same server with it on (to a file, in
// gunicorn's format; and through the JSON --logger-class). The box is shared
// and noisy, so the two servers take turns under wrk, round after round, each
// alone on the box while it is measured (run at the same moment, they fought
// over the two cores and the ratio measured that fight as much as logging).
// Medians of the per-round ratios; target: <= 10%. Then the in-process cost of one line.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  BenchError,
  BINARY,
  BUN,
  childrenCpuSeconds,
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
import { errorCount, runWrk, shellLine, wrkArgs, wrkAvailable } from "./wrk.ts";

const APP = "scripts/bench/hello_app.ts";
const ACCESS_COST = "scripts/bench/access_cost.ts";

const USAGE =
  `Usage: deno run -A scripts/bench/logging.ts [--duration N] [--rounds N] [--only deno|binary]

appserve -w 1 hello world with the access log off, next to the same server
with the access log on to a file (gunicorn's format, the JSON logger class,
then --log-format json): they take turns under wrk -t1 -c32 for N seconds each round; the
ratio of their req/s per round, median over the rounds; a pair of two log-off
servers first shows what the pairing itself does. Then the in-process
cost of one access line under Deno and Bun.

Options:
  --duration N   seconds per server and round (default 2)
  --rounds N     rounds per pair (default 11)
  --only T       deno (appserve under deno run) or binary (dist/appserve)
`;

type Target = "deno" | "binary";
type Mode = "off" | "file" | "json" | "log-format-json";

function parse(argv: string[]): { duration: number; rounds: number; targets: Target[] } {
  const o = { duration: 2, rounds: 11, targets: ["deno", "binary"] as Target[] };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new BenchError(`${argv[i - 1]} needs a value (see --help)`);
      return v;
    };
    switch (argv[i]) {
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      case "--duration":
        o.duration = Number(value());
        if (!Number.isInteger(o.duration) || o.duration < 1 || o.duration > 300) {
          throw new BenchError("--duration must be a whole number of seconds from 1 to 300");
        }
        break;
      case "--rounds":
        o.rounds = Number(value());
        if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 31) {
          throw new BenchError("--rounds must be a whole number from 1 to 31");
        }
        break;
      case "--only": {
        const v = value();
        if (v !== "deno" && v !== "binary") throw new BenchError("--only takes deno or binary");
        o.targets = [v];
        break;
      }
      default:
        throw new BenchError(`unknown option "${argv[i]}" (see --help)`);
    }
  }
  return o;
}

function command(target: Target, mode: Mode, port: number, dir: string): [string, string[]] {
  const args = ["-w", "1", "-b", `${HOST}:${port}`];
  if (mode !== "off") args.push("--access-logfile", join(dir, `${target}-${mode}.log`));
  if (mode === "json") args.push("--logger-class", "examples/json_logger.ts");
  if (mode === "log-format-json") args.push("--log-format", "json");
  args.push(APP);
  return target === "deno"
    ? [DENO, ["run", "-A", "--unstable-net", "--quiet", "src/cli/main.ts", ...args]]
    : [BINARY, args];
}

interface Server {
  proc: Proc;
  url: string;
  line: string;
}

async function startServer(target: Target, mode: Mode, dir: string): Promise<Server> {
  const port = await freePort();
  const [cmd, args] = command(target, mode, port, dir);
  const name = `${target} access log ${mode}`;
  const proc = launch(name, join(ROOT, cmd), args, ROOT);
  await waitReady(name, [proc], port, () => /Booting worker/.test(proc.output));
  return { proc, url: `http://${HOST}:${port}/`, line: shellLine(cmd, args) };
}

interface PairResult {
  ratios: number[];
  off: number[];
  on: number[];
  lines: string[];
  logged: number;
  /** Worker CPU µs per request over all rounds. */
  cpu: { off: number; on: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Rounds of (off, mode), one after the other (the order alternates); the per-round ratios of req/s. */
async function pair(
  target: Target,
  mode: Mode,
  o: { duration: number; rounds: number },
  dir: string,
): Promise<PairResult> {
  const off = await startServer(target, "off", dir);
  const on = await startServer(target, mode, dir);
  const result = {
    ratios: [] as number[],
    off: [] as number[],
    on: [] as number[],
    logged: 0,
    cpu: { off: 0, on: 0 },
  };
  let requests = 0;
  const served = { off: 0, on: 0 };
  try {
    const load = (s: Server, seconds: number) =>
      runWrk(wrkArgs(s.url, { connections: 32, seconds }), seconds);
    await Promise.all([load(off, 1), load(on, 1)]);
    const cpuBefore = [childrenCpuSeconds(off.proc.pid), childrenCpuSeconds(on.proc.pid)];
    for (let round = 1; round <= o.rounds; round++) {
      // Alternating who goes first cancels a drift of the box's speed within a round.
      let a, b;
      if (round % 2) {
        a = await load(off, o.duration);
        b = await load(on, o.duration);
      } else {
        b = await load(on, o.duration);
        a = await load(off, o.duration);
      }
      served.off += a.requests;
      served.on += b.requests;
      for (const [r, which] of [[a, "off"], [b, mode]] as const) {
        if (errorCount(r) > 0) {
          throw new BenchError(`${target} ${which}: ${errorCount(r)} failed requests`);
        }
      }
      requests += b.requests;
      result.off.push(a.rps);
      result.on.push(b.rps);
      result.ratios.push(b.rps / a.rps);
      process.stderr.write(
        `[${target} off | ${mode}, round ${round}/${o.rounds}] ${Math.round(a.rps)} | ` +
          `${Math.round(b.rps)} req/s = ${(b.rps / a.rps).toFixed(3)}\n`,
      );
    }
    // Worker CPU per request: what logging costs a CPU-bound worker, whatever the box's noise.
    result.cpu.off = (childrenCpuSeconds(off.proc.pid) - cpuBefore[0]) * 1e6 / served.off;
    result.cpu.on = (childrenCpuSeconds(on.proc.pid) - cpuBefore[1]) * 1e6 / served.on;
  } finally {
    await Promise.all([stop(off.proc), stop(on.proc)]);
  }
  if (mode === "off") return { ...result, lines: [off.line, on.line] };
  // Every measured request must be in the file (plus warm-up and readiness probes).
  const file = join(dir, `${target}-${mode}.log`);
  const logged = readFileSync(file, "utf8").split("\n").length - 1;
  rmSync(file);
  if (logged < requests) {
    throw new BenchError(`${target} ${mode}: ${logged} lines for ${requests} measured requests`);
  }
  return { ...result, logged, lines: [off.line, on.line] };
}

function lineCost(target: Target): number {
  const [cmd, args] = target === "deno" ? [DENO, ["run", "-A", ACCESS_COST]] : [BUN, [ACCESS_COST]];
  const ran = spawnSync(join(ROOT, cmd), args, { cwd: ROOT, encoding: "utf8" });
  const us = Number(ran.stdout.trim());
  if (ran.status !== 0 || !Number.isFinite(us)) {
    throw new BenchError(`${ACCESS_COST} failed: ${(ran.stderr || ran.stdout).trim()}`);
  }
  return us;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (!wrkAvailable()) throw new BenchError("wrk is not installed (make install)");
  const dir = mkdtempSync(join(tmpdir(), "appserve-bench-log-"));
  const label: Record<Mode, string> = {
    off: "off (control: two log-off servers)",
    file: "to a file",
    json: "to a file, JSON logger class",
    "log-format-json": "to a file, --log-format json",
  };
  const out = [
    "",
    `Logging overhead: appserve -w 1, hello world; the log-off server and the log-on server ` +
    `take turns under wrk -t1 -c32, ${o.duration} s each, ${o.rounds} rounds`,
    "",
    "| target | access log | req/s off (median) | req/s on (median) | on/off (median of rounds) " +
    "| worker CPU µs/request off / on | CPU cost |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  const commands = new Set<string>();
  try {
    for (const target of o.targets) {
      // off | off first: what the pairing itself does to the ratio (the control).
      for (const mode of ["off", "file", "json", "log-format-json"] as const) {
        const r = await pair(target, mode, o, dir);
        r.lines.forEach((l) => commands.add(l));
        out.push(
          `| ${target} | ${label[mode]} | ${Math.round(median(r.off))} | ` +
            `${Math.round(median(r.on))} | ${median(r.ratios).toFixed(2)} | ` +
            `${r.cpu.off.toFixed(1)} / ${r.cpu.on.toFixed(1)} | ` +
            `${((r.cpu.on / r.cpu.off - 1) * 100).toFixed(1)}% |`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  out.push("", `In-process cost of one access line (${ACCESS_COST}, gunicorn's format, a file):`);
  for (const target of o.targets) {
    out.push(
      `  ${target === "deno" ? "Deno" : "Bun (the binary)"}: ${lineCost(target).toFixed(2)} µs`,
    );
  }
  out.push("", "Commands:", ...[...commands].map((c) => `  ${c}`), "");
  process.stdout.write(out.join("\n"));
}

await runBench(main);
