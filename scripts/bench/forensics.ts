// What the timeout forensics cost a request (issue 19; target <= 2% of hello-world req/s):
// every request written into the worker's in-flight table on the scoreboard, and the access
// lines waiting for their batch written before the first request of each event-loop turn.
// Two builds (binaries, or checkouts: their binary or deno run) take turns under wrk, -w 1
// hello world, with Bun and with Deno workers, with the access log off and on: per round the
// ratio of their req/s and of their workers' CPU per request (/proc schedstat), medians. With
// `--self` the base is this build with the forensics switched off (APPSERVE_BENCH_NO_FORENSICS,
// a bench-only switch: docs/architecture.md), and `--metrics` adds --metrics-bind on against off:
// that much runs in `make bench`; `--base PATH` compares with the build before a change.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import {
  appserveTarget,
  BenchError,
  childPids,
  cpuMs,
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
import { errorCount, runWrk, wrkArgs } from "./wrk.ts";

const APP = "scripts/bench/hello_app.ts";
const USAGE =
  `Usage: deno run -A scripts/bench/forensics.ts --base PATH|--self [--new PATH] [options]

PATH is a compiled binary or a checkout (its dist/appserve, or its src/cli/main.ts
under deno run). The base (the build before the change) and the new one (default:
this checkout) take turns under wrk -t1 -c32, -w 1 hello world, Bun and Deno workers,
access log off and on; the same PATH twice is the control.
--self                 the base is the new one with the forensics off
                       (APPSERVE_BENCH_NO_FORENSICS=1: no in-flight table, access
                       lines batched in the worker's heap)
--metrics              also rows of the new one with --metrics-bind against without
                       (access log off)
--target binary|deno   the compiled binary (default) or deno run (checkouts only;
                       Deno workers)
--new-args "ARGS"      adds ARGS to the new one's command line (e.g. the cost of
                       "--metrics-bind 127.0.0.1:0", with --base .)
--args "ARGS"          adds ARGS to both (e.g. "--reuse-port")
--header "NAME: VALUE" wrk sends it with every request (repeatable: e.g. a browser's
                       User-Agent and Referer, which the default access format shows
                       and an in-flight entry then keeps)
--log off|on           one access-log mode; --only bun|deno one worker runtime
--rounds N (9), --duration SECONDS (2)
`;

interface Options {
  base: string;
  self: boolean;
  metrics: boolean;
  next: string;
  target: "binary" | "deno";
  nextArgs: string[];
  args: string[];
  headers: string[];
  logs: string[];
  runtimes: string[];
  rounds: number;
  duration: number;
}

function parse(argv: string[]): Options {
  const o = {
    base: "",
    self: false,
    metrics: false,
    next: ROOT,
    target: "binary" as Options["target"],
    rounds: 9,
    duration: 2,
    runtimes: ["bun", "deno"],
    nextArgs: [] as string[],
    args: [] as string[],
    headers: [] as string[],
    logs: ["off", "on"],
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === "--help" || argv[i] === "-h") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (argv[i] === "--base" && v) o.base = resolve(v), i++;
    else if (argv[i] === "--self") o.self = true;
    else if (argv[i] === "--metrics") o.metrics = true;
    else if (argv[i] === "--new" && v) o.next = resolve(v), i++;
    else if (argv[i] === "--target" && (v === "binary" || v === "deno")) o.target = v, i++;
    else if (argv[i] === "--new-args" && v) o.nextArgs = v.split(/\s+/).filter(Boolean), i++;
    else if (argv[i] === "--args" && v) o.args = v.split(/\s+/).filter(Boolean), i++;
    else if (argv[i] === "--header" && v) o.headers.push(v), i++;
    else if (argv[i] === "--log" && (v === "off" || v === "on")) o.logs = [v], i++;
    else if (argv[i] === "--only" && (v === "bun" || v === "deno")) o.runtimes = [v], i++;
    else if (argv[i] === "--rounds" && Number(v) >= 1) o.rounds = Number(v), i++;
    else if (argv[i] === "--duration" && Number(v) >= 1) o.duration = Number(v), i++;
    else throw new BenchError(`unknown or incomplete option "${argv[i]}" (see --help)`);
  }
  if (!o.base && !o.self) throw new BenchError("--base PATH or --self is required (see --help)");
  if (o.self) o.base = o.next;
  if (o.target === "deno") o.runtimes = ["deno"];
  return o;
}

/** The command that starts appserve from PATH (a binary, or a checkout) for the target. */
function command(path: string, target: Options["target"]): { command: string; prefix: string[] } {
  let dir = false;
  try {
    dir = statSync(path).isDirectory();
  } catch {
    throw new BenchError(`no such binary or checkout: ${path}`);
  }
  if (target === "deno") {
    if (!dir) throw new BenchError(`--target deno needs checkouts, not a binary: ${path}`);
    const t = appserveTarget("deno", path);
    // The toolchain of this checkout, whichever tree is run.
    return { command: join(ROOT, DENO), prefix: t.prefix };
  }
  return { command: dir ? join(path, "dist/appserve") : path, prefix: [] };
}

interface Server {
  proc: Proc;
  url: string;
}

async function startServer(
  o: Options,
  path: string,
  args: string[],
  name: string,
  env?: Record<string, string>,
): Promise<Server> {
  const port = await freePort();
  const { command: cmd, prefix } = command(path, o.target);
  const proc = launch(
    name,
    cmd,
    [...prefix, "-w", "1", "-b", `${HOST}:${port}`, ...args, APP],
    ROOT,
    env,
  );
  await waitReady(name, [proc], port, () => /Booting worker/.test(proc.output));
  return { proc, url: `http://${HOST}:${port}/` };
}

// CPU ms of the workers (the master's children), at nanosecond precision (schedstat).
const workersCpuMs = (s: Server) => childPids(s.proc.pid).reduce((a, pid) => a + cpuMs(pid), 0);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[], digits: number) =>
  `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(digits)}–${
    Math.max(...xs).toFixed(digits)
  })`;

/** What the base and the new one of a row add to the common arguments. */
interface Pair {
  baseEnv?: Record<string, string>;
  nextArgs: string[];
}

async function row(o: Options, label: string, args: string[], pair: Pair): Promise<string> {
  const base = await startServer(o, o.base, args, `base ${label}`, pair.baseEnv);
  const next = await startServer(o, o.next, [...args, ...pair.nextArgs], `new ${label}`);
  const load = (s: Server) =>
    runWrk(
      wrkArgs(s.url, { connections: 32, seconds: o.duration, headers: o.headers }),
      o.duration,
    );
  try {
    await Promise.all([load(base), load(next)]);
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const us: [number[], number[]] = [[], []];
    for (let round = 1; round <= o.rounds; round++) {
      const order = round % 2 ? [base, next] : [next, base];
      const results = new Map<Server, { rps: number; us: number; errors: number }>();
      for (const s of order) {
        const cpu0 = workersCpuMs(s);
        const r = await load(s);
        const cpu = workersCpuMs(s) - cpu0;
        results.set(s, { rps: r.rps, us: cpu * 1000 / r.requests, errors: errorCount(r) });
      }
      const [a, b] = [results.get(base)!, results.get(next)!];
      if (a.errors + b.errors > 0) throw new BenchError(`${label}: failed requests`);
      ratios.push(b.rps / a.rps);
      cpuRatios.push(b.us / a.us);
      us[0].push(a.us);
      us[1].push(b.us);
      process.stderr.write(
        `[${label} ${round}/${o.rounds}] ${Math.round(a.rps)} | ${Math.round(b.rps)} req/s, ` +
          `${a.us.toFixed(2)} | ${b.us.toFixed(2)} CPU µs/req\n`,
      );
    }
    return `| ${label} | ${spread(ratios, 2)} | ${median(us[0]).toFixed(2)} → ${
      median(us[1]).toFixed(2)
    } | ${spread(cpuRatios, 3)} |`;
  } finally {
    await Promise.all([stop(base.proc), stop(next.proc)]);
  }
}

await runBench(async () => {
  const o = parse(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "appserve-forensics-"));
  try {
    const base = o.self ? "this build, forensics off" : o.base;
    const out = [
      `${o.target}: ${o.rounds} rounds of ${o.duration} s, wrk -t1 -c32, -w 1 hello world ${
        o.args.join(" ")
      }; base: ${base}`,
      "| workers, access log | new/base req/s, median (range) | CPU µs/req, medians | new/base CPU µs/req, paired per round, median (range) |",
      "| --- | --- | --- | --- |",
    ];
    // Deno workers under the binary: the Deno this checkout installed, unless DENO names one.
    process.env.DENO ??= join(ROOT, DENO);
    process.stdout.write(out.join("\n") + "\n");
    const forensics: Pair = {
      baseEnv: o.self ? { APPSERVE_BENCH_NO_FORENSICS: "1" } : undefined,
      nextArgs: o.nextArgs,
    };
    for (const runtime of o.runtimes) {
      const runtimeArgs = o.target === "binary" ? ["--runtime", runtime] : [];
      for (const mode of o.logs) {
        const log = mode === "on" ? ["--access-logfile", join(dir, `${runtime}.log`)] : [];
        const args = [...runtimeArgs, ...log, ...o.args];
        const label = `${o.self ? "forensics: " : ""}${runtime}, ${mode}`;
        process.stdout.write(await row(o, label, args, forensics) + "\n");
      }
    }
    // --metrics-bind against none, both this build (the scrape is not part of the load).
    const metrics: Pair = { nextArgs: ["--metrics-bind", `${HOST}:0`] };
    for (const runtime of o.metrics ? o.runtimes : []) {
      const args = [...(o.target === "binary" ? ["--runtime", runtime] : []), ...o.args];
      const metricsOptions = { ...o, base: o.next };
      process.stdout.write(
        await row(metricsOptions, `--metrics-bind: ${runtime}, off`, args, metrics) + "\n",
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
