// `make bench`: hello-world throughput of appserve next to the raw servers it
// builds on (same run, printed as ratios), then the worker-churn comparison.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  appserveTarget,
  BenchError,
  BINARY,
  BUN,
  childPids,
  DENO,
  freePort,
  HOST,
  launch,
  type Proc,
  ROOT,
  runBench,
  sleep,
  stop,
  waitReady,
} from "./procs.ts";
import { errorCount, runWrk, shellLine, wrkArgs, wrkAvailable, type WrkResult } from "./wrk.ts";

const APP = "scripts/bench/hello_app.ts";
const RAW_SERVE = "scripts/bench/raw_serve.ts";
const RAW_INHERITED = "scripts/bench/raw_inherited.ts";

const USAGE = `Usage: deno run -A scripts/bench/hello.ts [OPTIONS]

Hello-world throughput of appserve next to raw Deno.serve / Bun.serve and raw
inherited-socket servers (wrk -t1 -c64, 1 s warm-up per server), then the churn
run: appserve -w 2 under wrk -c32 "Connection: close" load with one worker
SIGKILLed per second (8 s, 8 kills), shared socket vs --reuse-port, each also
run once without kills as a control. Only loopback (127.0.0.1) is used.

Options:
  --duration N          seconds per throughput row (default 5)
  --rounds N            measure every row N times, interleaved, and report each
                        row's median run (default 3; the machine is shared and noisy)
  --quick               2 s rows and a 4 s churn run with 4 kills (smoke test)
  --only deno|binary|raw
                        deno:   raw Deno rows + appserve under deno run
                        binary: raw Bun rows + the dist/appserve binary
                        raw:    the raw rows only (no churn run)
  --churn               the churn run only
  --no-churn            the throughput table only
  -h, --help            this text
`;

type Group = "deno" | "binary";
type Kind = "serve" | "inherited-http" | "inherited-fixed" | "shared" | "reuse";
const INHERITED: Kind[] = ["inherited-http", "inherited-fixed"];

interface Options {
  duration: number;
  rounds: number;
  churnSeconds: number;
  only: Group | "raw" | null;
  table: boolean;
  churn: boolean;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    rounds: 3,
    churnSeconds: 8,
    only: null,
    table: true,
    churn: true,
  };
  let duration: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new BenchError(`${flag} needs a value (see --help)`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      case "--duration": {
        const v = value();
        duration = Number(v);
        if (!Number.isInteger(duration) || duration < 1 || duration > 300) {
          throw new BenchError(
            `--duration must be a whole number of seconds from 1 to 300, not "${v}"`,
          );
        }
        break;
      }
      case "--rounds": {
        const v = value();
        o.rounds = Number(v);
        if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 15) {
          throw new BenchError(`--rounds must be a whole number from 1 to 15, not "${v}"`);
        }
        break;
      }
      case "--quick":
        o.duration = 2;
        o.rounds = 1;
        o.churnSeconds = 4;
        break;
      case "--only": {
        const v = value();
        if (v !== "deno" && v !== "binary" && v !== "raw") {
          throw new BenchError(`--only takes deno, binary or raw, not "${v}"`);
        }
        o.only = v;
        break;
      }
      case "--churn":
        o.table = false;
        break;
      case "--no-churn":
        o.churn = false;
        break;
      default:
        throw new BenchError(`unknown option "${arg}" (see --help)`);
    }
  }
  if (duration !== null) o.duration = duration;
  if (o.only === "raw") o.churn = false;
  if (!o.table && !o.churn) {
    throw new BenchError("nothing to run: --churn and --no-churn/--only raw exclude each other");
  }
  return o;
}

// ---------------------------------------------------------------------------
// What each row starts.

interface Row {
  group: Group;
  runtime: "Deno" | "Bun";
  kind: Kind;
  procs: number;
  label: string;
}

interface Launch {
  command: string;
  args: string[];
}

function runScript(runtime: "Deno" | "Bun", script: string, args: string[]): Launch {
  return runtime === "Deno"
    ? { command: DENO, args: ["run", "-A", "--unstable-net", "--quiet", script, ...args] }
    : { command: BUN, args: [script, ...args] };
}

function appserve(group: Group, workers: number, port: number, reusePort: boolean): Launch {
  const args = [
    "-w",
    String(workers),
    "-b",
    `${HOST}:${port}`,
    ...(reusePort ? ["--reuse-port"] : []),
    APP,
  ];
  const target = appserveTarget(group, "");
  return { command: target.command, args: [...target.prefix, ...args] };
}

/** The processes a row starts (several for the raw reusePort rows). */
function launches(row: Row, port: number): Launch[] {
  switch (row.kind) {
    case "serve":
      return Array.from(
        { length: row.procs },
        () => runScript(row.runtime, RAW_SERVE, [String(port)]),
      );
    case "inherited-http":
    case "inherited-fixed": {
      const server = row.kind === "inherited-http" ? "http" : "fixed";
      return [runScript(row.runtime, RAW_INHERITED, [String(port), String(row.procs), server])];
    }
    case "shared":
    case "reuse":
      return [appserve(row.group, row.procs, port, row.kind === "reuse")];
  }
}

/** True once the row's processes have all said they are serving. */
function readiness(row: Row, procs: Proc[]): () => boolean {
  const count = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0;
  switch (row.kind) {
    case "serve":
      return () => procs.every((p) => /^ready /m.test(p.output));
    case "inherited-http":
    case "inherited-fixed":
      return () => count(procs[0].output, /^ready /gm) >= row.procs;
    default:
      return () => count(procs[0].output, /Booting worker with pid/g) >= row.procs;
  }
}

function label(group: Group, kind: Kind): string {
  const runtime = group === "deno" ? "Deno" : "Bun";
  switch (kind) {
    case "serve":
      return `raw ${runtime}.serve (reusePort)`;
    case "inherited-http":
      return `raw node:http on inherited fd (${runtime})`;
    case "inherited-fixed":
      return `raw node:net fixed answer on inherited fd (${runtime})`;
    case "shared":
      return group === "deno"
        ? "appserve deno run, shared socket"
        : "appserve binary, shared socket";
    case "reuse":
      return group === "deno" ? "appserve deno run, --reuse-port" : "appserve binary, --reuse-port";
  }
}

function tableRows(only: Options["only"]): Row[] {
  const rows: Row[] = [];
  for (const group of ["deno", "binary"] as const) {
    if (only === "deno" && group !== "deno") continue;
    if (only === "binary" && group !== "binary") continue;
    // Bun's node:http cannot listen on an inherited fd.
    const raw: Kind[] = group === "deno" ? ["serve", ...INHERITED] : ["serve", "inherited-fixed"];
    const kinds: Kind[] = only === "raw" ? raw : [...raw, "shared", "reuse"];
    for (const kind of kinds) {
      for (const procs of [1, 2]) {
        rows.push({
          group,
          runtime: group === "deno" ? "Deno" : "Bun",
          kind,
          procs,
          label: label(group, kind),
        });
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------
// Running.

function start(name: string, list: Launch[]): Proc[] {
  return list.map((l) => launch(name, join(ROOT, l.command), l.args, ROOT));
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => stop(p)));
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

interface Measured {
  row: Row;
  port: number;
  result: WrkResult;
  commands: string[];
}

async function measure(row: Row, seconds: number, index: number, total: number): Promise<Measured> {
  const name = `${row.label} x${row.procs}`;
  const port = await freePort();
  const list = launches(row, port);
  const commands = list.map((l) => shellLine(l.command, l.args));
  progress(`[${index}/${total}] ${name}: starting`);
  const procs = start(name, list);
  try {
    await waitReady(name, procs, port, readiness(row, procs));
    const url = `http://${HOST}:${port}/`;
    await runWrk(wrkArgs(url, { connections: 64, seconds: 1 }), 1);
    const result = await runWrk(wrkArgs(url, { connections: 64, seconds, latency: true }), seconds);
    progress(
      `[${index}/${total}] ${name}: ${Math.round(result.rps)} req/s, p99 ${ms(result.p99Ms)}`,
    );
    return { row, port, result, commands };
  } finally {
    await stopAll(procs);
  }
}

interface Churned {
  group: Group;
  control?: Churned;
  reusePort: boolean;
  kills: number;
  booted: number;
  workersAfter: number;
  result: WrkResult;
  command: string;
}

/** One load run on appserve -w 2, SIGKILLing the oldest worker every second when `kill`. */
async function churn(
  group: Group,
  reusePort: boolean,
  seconds: number,
  kill: boolean,
): Promise<Churned> {
  const workers = 2;
  const name = `churn: appserve ${group}${reusePort ? " --reuse-port" : ""}` +
    (kill ? "" : " (control, no kills)");
  const port = await freePort();
  const l = appserve(group, workers, port, reusePort);
  progress(`${name}: starting`);
  const [master] = start(name, [l]);
  const booted = () => master.output.match(/Booting worker with pid/g)?.length ?? 0;
  try {
    await waitReady(name, [master], port, () => booted() >= workers);
    const args = wrkArgs(`http://${HOST}:${port}/`, {
      connections: 32,
      seconds,
      headers: ["Connection: close"],
    });
    const load = runWrk(args, seconds);
    // Keep the promise observed even if a kill below throws.
    load.catch(() => {});
    const t0 = Date.now();
    let kills = 0;
    for (let i = 0; kill && i < seconds; i++) {
      const wait = t0 + 500 + i * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      if (master.ended) {
        throw new BenchError(`${name}: the master exited (last output: ${master.lastLine()})`);
      }
      const oldest = childPids(master.pid)[0];
      if (oldest === undefined) continue;
      try {
        process.kill(oldest, "SIGKILL");
        kills++;
      } catch {
        // It exited on its own just now.
      }
    }
    const result = await load;
    const deadline = Date.now() + 10_000;
    while (childPids(master.pid).length < workers && Date.now() < deadline) await sleep(100);
    const errors = errorCount(result);
    progress(`${name}: ${kills} kills, ${result.requests} requests, ${errors} errors`);
    return {
      group,
      reusePort,
      kills,
      booted: booted(),
      workersAfter: childPids(master.pid).length,
      result,
      command: `${shellLine(l.command, l.args)}\n    load: ${shellLine("wrk", args)}`,
    };
  } finally {
    await stopAll([master]);
  }
}

// ---------------------------------------------------------------------------
// Reporting.

function ms(value: number): string {
  if (Number.isNaN(value)) return "n/a";
  return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(1)} ms`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)]
    .join("\n");
}

function errorText(r: WrkResult): string {
  const total = errorCount(r);
  const kinds = [
    ["connect", r.connect],
    ["read", r.read],
    ["write", r.write],
    ["timeout", r.timeout],
    ["non-2xx/3xx", r.non2xx],
  ] as const;
  const parts = kinds.filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`);
  return parts.length ? `${total} (${parts.join(", ")})` : "0";
}

function throughputReport(measured: Measured[], seconds: number): string {
  const out: string[] = [];
  out.push(
    `## Throughput: hello world, wrk -t1 -c64 -d${seconds}s --latency (after a 1 s warm-up)\n`,
  );
  out.push(table(
    ["server", "procs", "req/s", "p99", "errors"],
    measured.map((m) => [
      m.row.label,
      String(m.row.procs),
      String(Math.round(m.result.rps)),
      ms(m.result.p99Ms),
      errorText(m.result),
    ]),
  ));

  const find = (group: Group, kind: Kind, procs: number) =>
    measured.find((m) => m.row.group === group && m.row.kind === kind && m.row.procs === procs);
  const ratios: string[][] = [];
  const compare = (a: Measured, b: Measured, target: boolean) => {
    const ratio = a.result.rps / b.result.rps;
    ratios.push([
      a.row.label,
      String(a.row.procs),
      b.row.label,
      String(Math.round(a.result.rps)),
      String(Math.round(b.result.rps)),
      ratio.toFixed(2),
      !target ? "(for reference)" : ratio >= 0.95 ? ">= 0.95: met" : ">= 0.95: MISSED",
    ]);
  };
  for (const group of ["deno", "binary"] as const) {
    for (const procs of [1, 2]) {
      const serve = find(group, "serve", procs);
      const reuse = find(group, "reuse", procs);
      const shared = find(group, "shared", procs);
      // The target baseline is the fastest inherited-socket server measured for this runtime.
      const inherited = INHERITED.flatMap((k) => find(group, k, procs) ?? [])
        .sort((a, b) => b.result.rps - a.result.rps);
      if (reuse && serve) compare(reuse, serve, true);
      if (shared) inherited.forEach((b, i) => compare(shared, b, i === 0));
      if (shared && serve) compare(shared, serve, false);
    }
  }
  if (ratios.length) {
    out.push("\n## Ratios (appserve req/s / baseline req/s, same process count, same run)\n");
    out.push(
      "Targets: --reuse-port vs the raw native server; shared socket vs the fastest raw " +
        "inherited-socket server of that runtime.\n",
    );
    out.push(
      table([
        "appserve",
        "procs",
        "baseline",
        "appserve req/s",
        "baseline req/s",
        "ratio",
        "target",
      ], ratios),
    );
  }
  out.push("\n## Commands (run from the repository root)\n");
  out.push(`warm-up: wrk -t1 -c64 -d1s http://${HOST}:PORT/`);
  out.push(`measure: wrk -t1 -c64 -d${seconds}s --latency http://${HOST}:PORT/`);
  for (const m of measured) {
    out.push(`- ${m.row.label} x${m.row.procs} (PORT ${m.port}):`);
    for (const c of m.commands) out.push(`    ${c}`);
  }
  return out.join("\n");
}

/** Errors beyond what the control run shows at the same request count. */
function extraErrors(c: Churned): number {
  const control = c.control!.result;
  const perRequest = control.requests ? errorCount(control) / control.requests : 0;
  return errorCount(c.result) - Math.round(c.result.requests * perRequest);
}

function churnReport(runs: Churned[], seconds: number): string {
  const out: string[] = [];
  out.push(
    `## Churn: wrk -t1 -c32 -d${seconds}s -H "Connection: close" on appserve -w 2, ` +
      "the oldest worker SIGKILLed every second\n",
  );
  out.push(
    "Each mode also runs once without kills (control): wrk counts a read error whenever a server " +
      "closes a connection without sending `connection: close` (Bun.serve does so for every " +
      "answer), so only errors beyond the control's rate are due to the kills.\n",
  );
  out.push(table(
    [
      "appserve",
      "mode",
      "kills",
      "workers booted",
      "requests",
      "errors",
      "control: requests",
      "control: errors",
      "errors due to kills (est.)",
      "per kill",
    ],
    runs.map((c) => {
      const extra = extraErrors(c);
      return [
        c.group === "deno" ? "deno run" : "binary",
        c.reusePort ? "--reuse-port" : "shared socket",
        String(c.kills),
        String(c.booted),
        String(c.result.requests),
        errorText(c.result),
        String(c.control!.result.requests),
        errorText(c.control!.result),
        String(extra),
        c.kills ? (extra / c.kills).toFixed(1) : "-",
      ];
    }),
  ));
  const short = runs.flatMap((c) => [c, c.control!]).filter((c) => c.workersAfter < 2);
  if (short.length) {
    out.push(`\nWARNING: ${short.length} run(s) ended with fewer than 2 workers alive.`);
  }
  out.push(
    "\nCommands (run from the repository root; each control run used the same on another port):",
  );
  for (const c of runs) out.push(`- ${c.command}`);
  return out.join("\n");
}

function version(command: string, args: string[]): string {
  const r = spawnSync(join(ROOT, command), args, { encoding: "utf8" });
  return r.error ? "missing" : (r.stdout ?? "").split("\n")[0].trim();
}

// ---------------------------------------------------------------------------

function checkPrerequisites(o: Options): void {
  if (!wrkAvailable()) {
    throw new BenchError("wrk is not installed (make install, or apt-get install wrk)");
  }
  const groups = o.only === "deno"
    ? ["deno"]
    : o.only === "binary"
    ? ["binary"]
    : ["deno", "binary"];
  if (groups.includes("binary") && !existsSync(join(ROOT, BUN)) && o.table) {
    throw new BenchError(`${BUN} is missing (run make install)`);
  }
  if (groups.includes("binary") && o.only !== "raw" && !existsSync(join(ROOT, BINARY))) {
    throw new BenchError(`${BINARY} is missing (build it with make compile)`);
  }
}

async function main(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  checkPrerequisites(o);
  const out: string[] = [];
  out.push("# appserve hello-world benchmark\n");
  out.push(
    `${cpus().length} CPU cores; wrk takes one of them, so only the ratios between rows of this one run ` +
      "mean anything (absolute req/s depend on the machine and on what else runs).",
  );
  out.push(
    `deno ${version(DENO, ["--version"]).replace(/^deno /, "")}, bun ${
      version(BUN, ["--version"])
    }\n`,
  );

  if (o.table) {
    const rows = tableRows(o.only);
    const runs: Measured[][] = rows.map(() => []);
    // Rounds interleave the rows so a burst of outside load hits them alike.
    for (let round = 0; round < o.rounds; round++) {
      for (const [i, row] of rows.entries()) {
        runs[i].push(
          await measure(row, o.duration, round * rows.length + i + 1, rows.length * o.rounds),
        );
      }
    }
    const medians = runs.map((list) =>
      [...list].sort((a, b) => a.result.rps - b.result.rps)[list.length >> 1]
    );
    out.push(`Each row: the median of ${o.rounds} interleaved runs.\n`);
    out.push(throughputReport(medians, o.duration));
  }
  if (o.churn) {
    const groups: Group[] = o.only === "deno"
      ? ["deno"]
      : o.only === "binary"
      ? ["binary"]
      : ["deno", "binary"];
    const runs: Churned[] = [];
    for (const group of groups) {
      for (const reusePort of [false, true]) {
        const control = await churn(group, reusePort, o.churnSeconds, false);
        runs.push({ ...(await churn(group, reusePort, o.churnSeconds, true)), control });
      }
    }
    out.push(`\n${churnReport(runs, o.churnSeconds)}`);
  }
  process.stdout.write(`\n${out.join("\n")}\n`);
}

await runBench(() => main(process.argv.slice(2)));
