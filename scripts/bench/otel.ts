// What OpenTelemetry request spans cost (issue 20): hello world on appserve -w 1
// under deno run, with OTel off and with OTEL_DENO=true exporting every span to
// a local OTLP/HTTP receiver (in this process), then the same two with
// --reuse-port (Deno.serve's own spans: what `deno serve` users had), and this
// tree with the span hook taken out (a copy under .tmp/ whose withRequestSpans
// returns the app at once): what "off" must not differ from. With --base DIR also
// a tree before the spans existed. Then the binary with Bun workers: hello world
// plain and with the OpenTelemetry SDK registered by the app module
// (scripts/bench/otel_sdk_app.ts: BatchSpanProcessor over OTLPTraceExporter, to a
// receiver here too), on the shared socket and under --reuse-port. The servers
// take turns under wrk, each alone while measured; req/s ratios against each
// row's "off" per round, medians, and each worker's CPU µs per request from
// /proc. Part of `make bench`.

import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { BenchError, BINARY, childrenCpuSeconds, ROOT, runBench, sleep, stop } from "./procs.ts";
import {
  hooklessTree,
  removeHooklessTree,
  type Running,
  startServer,
  type Variant,
} from "./otel_servers.ts";
import { errorCount, runWrk, wrkArgs, wrkAvailable } from "./wrk.ts";

const USAGE = `Usage: deno run -A scripts/bench/otel.ts [--rounds N] [--duration N] [--base DIR]

  --rounds N     rounds (default 9)
  --duration N   seconds per server and round (default 2)
  --base DIR     a checkout of appserve before the spans (its node_modules installed)
`;

function parse(argv: string[]): { rounds: number; duration: number; base?: string } {
  const o: { rounds: number; duration: number; base?: string } = { rounds: 9, duration: 2 };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i] ?? "";
    if (argv[i] === "--rounds") o.rounds = Number(value());
    else if (argv[i] === "--duration") o.duration = Number(value());
    else if (argv[i] === "--base") o.base = value();
    else if (argv[i] === "-h" || argv[i] === "--help") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new BenchError(`unknown option "${argv[i]}" (see --help)`);
  }
  if (!(o.rounds >= 1 && o.duration >= 1)) throw new BenchError("--rounds and --duration >= 1");
  if (o.base && !existsSync(join(o.base, "src/cli/main.ts"))) {
    throw new BenchError(`--base ${o.base}: no src/cli/main.ts there`);
  }
  return o;
}

const OFF = "off";
const BUN_OFF = "binary (Bun workers), off";

function variants(base?: string): Variant[] {
  const deno = { target: "deno", tree: ROOT, app: "hello_app.ts", against: OFF } as const;
  const bun = { target: "binary", tree: ROOT, against: BUN_OFF } as const;
  const reuse = ["--reuse-port"];
  return [
    ...base ? [{ ...deno, name: "base (before the spans)", tree: base }] : [],
    { ...deno, name: OFF },
    { ...deno, name: "no span hook (off)", tree: hooklessTree() },
    { ...deno, name: "on (OTEL_DENO=true)", otel: "deno" },
    { ...deno, name: "--reuse-port, off", args: reuse },
    { ...deno, name: "--reuse-port, on (Deno.serve's spans)", otel: "deno", args: reuse },
    { ...bun, name: BUN_OFF, app: "hello_app.ts" },
    { ...bun, name: "binary, on (the app's SDK)", app: "otel_sdk_app.ts", otel: "sdk" },
    { ...bun, name: "binary --reuse-port, off", app: "hello_app.ts", args: reuse },
    {
      ...bun,
      name: "binary --reuse-port, on (the app's SDK)",
      app: "otel_sdk_app.ts",
      otel: "sdk",
      args: reuse,
    },
  ];
}

const EXPORT_WAIT_MS = 6000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (!wrkAvailable()) throw new BenchError("wrk is not installed (make install)");
  if (!existsSync(join(ROOT, BINARY))) throw new BenchError(`no ${BINARY} (make dist/appserve)`);
  const all = variants(o.base);
  const servers: Running[] = [];
  try {
    for (const v of all) servers.push(await startServer(v));
    for (const s of servers) await runWrk(wrkArgs(s.url, { connections: 32, seconds: 1 }), 1);
    const before = servers.map((s) => childrenCpuSeconds(s.proc.pid));
    const spansBefore = servers.map((s) => s.receiver?.spans() ?? 0);
    for (let round = 0; round < o.rounds; round++) {
      // A different server goes first each round.
      const order = servers.map((_, i) => servers[(i + round) % servers.length]);
      for (const s of order) {
        const r = await runWrk(
          wrkArgs(s.url, { connections: 32, seconds: o.duration }),
          o.duration,
        );
        if (errorCount(r) > 0) throw new BenchError(`${s.name}: ${errorCount(r)} failed requests`);
        s.rps.push(r.rps);
        s.requests += r.requests;
      }
      process.stderr.write(
        `[round ${round + 1}/${o.rounds}] ` +
          servers.map((s) => `${s.name} ${Math.round(s.rps.at(-1)!)}`).join(" | ") + "\n",
      );
    }
    servers.forEach((s, i) => {
      s.cpu = (childrenCpuSeconds(s.proc.pid) - before[i]) * 1e6 / s.requests;
    });
    // Both exporters send a batch at least every 5 s: let the last ones arrive.
    if (servers.some((s) => s.receiver)) await sleep(EXPORT_WAIT_MS);
    servers.forEach((s, i) => {
      if (s.receiver) s.spansPerRequest = (s.receiver.spans() - spansBefore[i]) / s.requests;
    });
  } finally {
    await Promise.all(servers.map((s) => stop(s.proc)));
    for (const s of servers) s.receiver?.close();
    removeHooklessTree();
  }
  const ratio = (s: Running) => {
    const against = servers.find((x) => x.name === s.against)!;
    return median(s.rps.map((r, i) => r / against.rps[i])).toFixed(2);
  };
  const out = [
    "",
    `OpenTelemetry spans, appserve -w 1 hello world (deno run; the binary: Bun workers), ` +
    `wrk -t1 -c32, ${o.duration} s per server, ${o.rounds} rounds taking turns`,
    "",
    "| server | req/s (median) | / its off (median of rounds) | worker CPU µs/request | " +
    "spans received / request |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...servers.map((s) =>
      `| ${s.name} | ${Math.round(median(s.rps))} | ${ratio(s)} (${s.against}) | ` +
      `${s.cpu.toFixed(1)} | ${s.spansPerRequest?.toFixed(2) ?? "-"} |`
    ),
    "",
  ];
  process.stdout.write(out.join("\n"));
}

await runBench(main);
