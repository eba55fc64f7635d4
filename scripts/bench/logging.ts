// `make bench` (second part): what logging costs. Hello world on appserve -w 1
// with the access log off, on to a file, and on to a file in JSON through
// --logger-class (examples/json_logger.ts); rows interleaved over rounds,
// medians reported as a ratio to the log-off row. Target: <= 10% cost.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { BenchError, freePort, HOST, killAll, launch, stop, waitReady } from "./procs.ts";
import { errorCount, runWrk, shellLine, wrkArgs, wrkAvailable, type WrkResult } from "./wrk.ts";

const ROOT = resolve(import.meta.dirname!, "..", "..");
const DENO = "node_modules/.bin/deno";
const BINARY = "dist/appserve";
const APP = "scripts/bench/hello_app.ts";

const USAGE =
  `Usage: deno run -A scripts/bench/logging.ts [--duration N] [--rounds N] [--only deno|binary]

Hello-world throughput of appserve -w 1 (wrk -t1 -c64, 1 s warm-up) with the
access log off, on to a file, and on to a file through the JSON logger class;
rows interleaved over the rounds, each row's median reported with its ratio
to the log-off row of the same target.
`;

type Target = "deno" | "binary";
type Mode = "off" | "file" | "json";
const MODES: Mode[] = ["off", "file", "json"];

function parse(argv: string[]): { duration: number; rounds: number; targets: Target[] } {
  const o = { duration: 5, rounds: 3, targets: ["deno", "binary"] as Target[] };
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
        if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 15) {
          throw new BenchError("--rounds must be a whole number from 1 to 15");
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
  args.push(APP);
  return target === "deno"
    ? [DENO, ["run", "-A", "--unstable-net", "--quiet", "src/cli/main.ts", ...args]]
    : [BINARY, args];
}

async function measure(
  target: Target,
  mode: Mode,
  seconds: number,
  dir: string,
): Promise<{ result: WrkResult; line: string; logged: number }> {
  const port = await freePort();
  const [cmd, args] = command(target, mode, port, dir);
  const name = `${target} access log ${mode}`;
  const proc = launch(name, join(ROOT, cmd), args, ROOT);
  try {
    await waitReady(name, [proc], port, () => /Booting worker/.test(proc.output));
    const url = `http://${HOST}:${port}/`;
    await runWrk(wrkArgs(url, { connections: 64, seconds: 1 }), 1);
    const result = await runWrk(wrkArgs(url, { connections: 64, seconds }), seconds);
    return { result, line: shellLine(cmd, args), logged: 0 };
  } finally {
    await stop(proc);
    if (mode !== "off") {
      // Every request, warm-up and readiness probes included, must be in the file.
      const file = join(dir, `${target}-${mode}.log`);
      const lines = readFileSync(file, "utf8").split("\n").length - 1;
      rmSync(file);
      process.stderr.write(`  ${name}: ${lines} lines in the file\n`);
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (!wrkAvailable()) throw new BenchError("wrk is not installed (make install)");
  const dir = mkdtempSync(join(tmpdir(), "appserve-bench-log-"));
  const runs = new Map<string, number[]>();
  const commands = new Map<string, string>();
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const target of o.targets) {
        // Rotate the order each round so no mode always runs on a warmer machine.
        const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]);
        for (const mode of order) {
          const { result, line } = await measure(target, mode, o.duration, dir);
          if (errorCount(result) > 0) {
            throw new BenchError(`${target} ${mode}: ${errorCount(result)} failed requests`);
          }
          const key = `${target} ${mode}`;
          runs.set(key, [...(runs.get(key) ?? []), result.rps]);
          commands.set(key, line);
          process.stderr.write(
            `[round ${round}/${o.rounds}] ${key}: ${Math.round(result.rps)} req/s\n`,
          );
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const label: Record<Mode, string> = {
    off: "access log off",
    file: "access log to a file",
    json: "access log to a file, JSON logger class",
  };
  const out = [
    "",
    `Logging overhead: appserve -w 1, hello world, wrk -t1 -c64 ${o.duration}s, ` +
    `median of ${o.rounds} interleaved rounds`,
    "",
    "| target | access log | req/s (median) | vs off | runs |",
    "| --- | --- | ---: | ---: | --- |",
  ];
  for (const target of o.targets) {
    const off = median(runs.get(`${target} off`)!);
    for (const mode of MODES) {
      const all = runs.get(`${target} ${mode}`)!;
      const m = median(all);
      out.push(
        `| ${target} | ${label[mode]} | ${Math.round(m)} | ${(m / off).toFixed(2)} | ` +
          `${all.map(Math.round).join(", ")} |`,
      );
    }
  }
  out.push("", "Commands:", ...[...commands.values()].map((c) => `  ${c}`), "");
  process.stdout.write(out.join("\n"));
}

process.on("SIGINT", () => {
  killAll();
  process.exit(130);
});
try {
  await main();
} catch (error) {
  killAll();
  if (!(error instanceof BenchError)) throw error;
  process.stderr.write(`bench: ${error.message}\n`);
  process.exit(1);
}
