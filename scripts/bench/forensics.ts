// What the timeout forensics cost a request (issue 19; target <= 2% of hello-world req/s):
// every request written into the worker's in-flight table on the scoreboard, and the access
// lines waiting for their batch written before the first request of each event-loop turn.
// Two builds of the binary take turns under wrk, -w 1 hello world, with Bun and with Deno
// workers, with the access log off and on: the ratio of their req/s per round (median), and
// each worker's CPU per request from /proc over all rounds. Not part of `make bench`: it needs
// the binary from before the change (`--base PATH`).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  BenchError,
  BINARY,
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
import { errorCount, runWrk, wrkArgs } from "./wrk.ts";

const APP = "scripts/bench/hello_app.ts";
const USAGE =
  `Usage: deno run -A scripts/bench/forensics.ts --base BINARY [--rounds N] [--duration N]

BINARY (the build before the change) and dist/appserve take turns under
wrk -t1 -c32, -w 1 hello world, Bun and Deno workers, access log off and on.
--new BINARY instead of dist/appserve; the same binary twice is the control.
--new-args "ARGS" adds ARGS to the new one's command line (e.g. the cost of
"--metrics-bind 127.0.0.1:0", with --base dist/appserve); --args "ARGS" adds ARGS
to both (e.g. "--reuse-port"); --log off|on picks a mode; --only bun|deno one runtime.
`;

interface Options {
  base: string;
  next: string;
  nextArgs: string[];
  args: string[];
  logs: string[];
  runtimes: string[];
  rounds: number;
  duration: number;
}

function parse(argv: string[]): Options {
  const o = {
    base: "",
    next: join(ROOT, BINARY),
    rounds: 9,
    duration: 2,
    runtimes: ["bun", "deno"],
    nextArgs: [] as string[],
    args: [] as string[],
    logs: ["off", "on"],
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === "--help" || argv[i] === "-h") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (argv[i] === "--base" && v) o.base = v, i++;
    else if (argv[i] === "--new" && v) o.next = v, i++;
    else if (argv[i] === "--new-args" && v) o.nextArgs = v.split(/\s+/).filter(Boolean), i++;
    else if (argv[i] === "--args" && v) o.args = v.split(/\s+/).filter(Boolean), i++;
    else if (argv[i] === "--log" && (v === "off" || v === "on")) o.logs = [v], i++;
    else if (argv[i] === "--only" && (v === "bun" || v === "deno")) o.runtimes = [v], i++;
    else if (argv[i] === "--rounds" && Number(v) >= 1) o.rounds = Number(v), i++;
    else if (argv[i] === "--duration" && Number(v) >= 1) o.duration = Number(v), i++;
    else throw new BenchError(`unknown or incomplete option "${argv[i]}" (see --help)`);
  }
  if (!o.base) throw new BenchError("--base BINARY is required (see --help)");
  return o;
}

interface Server {
  proc: Proc;
  url: string;
}

async function startServer(binary: string, args: string[], name: string): Promise<Server> {
  const port = await freePort();
  const proc = launch(name, binary, ["-w", "1", "-b", `${HOST}:${port}`, ...args, APP], ROOT);
  await waitReady(name, [proc], port, () => /Booting worker/.test(proc.output));
  return { proc, url: `http://${HOST}:${port}/` };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function row(o: Options, label: string, args: string[]): Promise<string> {
  const base = await startServer(o.base, args, `base ${label}`);
  const next = await startServer(o.next, [...args, ...o.nextArgs], `new ${label}`);
  const load = (s: Server) =>
    runWrk(wrkArgs(s.url, { connections: 32, seconds: o.duration }), o.duration);
  try {
    await Promise.all([load(base), load(next)]);
    const cpu0 = [childrenCpuSeconds(base.proc.pid), childrenCpuSeconds(next.proc.pid)];
    const ratios: number[] = [];
    const served = [0, 0];
    for (let round = 1; round <= o.rounds; round++) {
      const order = round % 2 ? [base, next] : [next, base];
      const results = new Map<Server, Awaited<ReturnType<typeof load>>>();
      for (const s of order) results.set(s, await load(s));
      const [a, b] = [results.get(base)!, results.get(next)!];
      if (errorCount(a) + errorCount(b) > 0) throw new BenchError(`${label}: failed requests`);
      served[0] += a.requests;
      served[1] += b.requests;
      ratios.push(b.rps / a.rps);
      process.stderr.write(
        `[${label} ${round}/${o.rounds}] ${Math.round(a.rps)} | ${Math.round(b.rps)} req/s\n`,
      );
    }
    const us = [0, 1].map((i) =>
      (childrenCpuSeconds([base, next][i].proc.pid) - cpu0[i]) * 1e6 / served[i]
    );
    return `| ${label} | ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${
      Math.max(...ratios).toFixed(2)
    }) | ${us[0].toFixed(2)} | ${us[1].toFixed(2)} | ${((us[1] / us[0] - 1) * 100).toFixed(1)}% |`;
  } finally {
    await Promise.all([stop(base.proc), stop(next.proc)]);
  }
}

await runBench(async () => {
  const o = parse(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "appserve-forensics-"));
  try {
    const out = [
      `${o.rounds} rounds of ${o.duration} s, wrk -t1 -c32, -w 1 hello world ${o.args.join(" ")}`,
      "| workers, access log | new/base req/s, median (range) | base CPU µs/req | new CPU µs/req | CPU |",
      "| --- | --- | --- | --- | --- |",
    ];
    // Deno workers under the binary: the Deno this checkout installed, unless DENO names one.
    process.env.DENO ??= join(ROOT, DENO);
    process.stdout.write(out.join("\n") + "\n");
    for (const runtime of o.runtimes) {
      for (const mode of o.logs) {
        const log = mode === "on" ? ["--access-logfile", join(dir, `${runtime}.log`)] : [];
        const args = ["--runtime", runtime, ...log, ...o.args];
        process.stdout.write(await row(o, `${runtime}, ${mode}`, args) + "\n");
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
