// What OpenTelemetry request spans cost (issue 20): hello world on appserve -w 1
// under deno run, with OTel off and with OTEL_DENO=true exporting every span to
// a local OTLP/HTTP receiver (in this process), then the same two with
// --reuse-port (Deno.serve's own spans: what `deno serve` users had), and this
// tree with the span hook taken out (a copy under .tmp/ whose withRequestSpans
// returns the app at once): what "off" must not differ from. With --base DIR also
// a tree before the spans existed. The servers take turns under wrk, each alone
// while measured; req/s ratios against "off" per round, medians, and each
// worker's CPU µs per request from /proc. Part of `make bench`.

import { createServer } from "node:http";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  BenchError,
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
import { errorCount, runWrk, wrkArgs, wrkAvailable } from "./wrk.ts";

const USAGE = `Usage: deno run -A scripts/bench/otel.ts [--rounds N] [--duration N] [--base DIR]

  --rounds N     rounds (default 9)
  --duration N   seconds per server and round (default 2)
  --base DIR     a checkout of appserve before the spans (its node_modules installed)
`;

interface Variant {
  name: string;
  tree: string;
  env: Record<string, string>;
  /** Extra arguments (--reuse-port: Deno.serve and its own spans). */
  args?: string[];
}

interface Running extends Variant {
  proc: Proc;
  url: string;
  rps: number[];
  requests: number;
  cpu: number;
}

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

/** Counts the spans OTLP/JSON export requests carry. */
async function receiver(): Promise<{ endpoint: string; spans: () => number; close(): void }> {
  let spans = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      spans += body.split('"spanId"').length - 1;
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as { port: number }).port;
  return { endpoint: `http://${HOST}:${port}`, spans: () => spans, close: () => server.close() };
}

/**
 * A copy of this tree's sources (node_modules linked) whose withRequestSpans returns the app's
 * handler without looking for OpenTelemetry: the build without the span hook.
 */
function hooklessTree(): string {
  const tree = join(ROOT, ".tmp", "otel_bench_hookless");
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  for (const part of ["src", "workers", "mod.ts", "deno.json", "package.json"]) {
    cpSync(join(ROOT, part), join(tree, part), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"));
  const file = join(tree, "src/log/request_span.ts");
  const text = readFileSync(file, "utf8");
  const hook = "if (!otelRegistered()) return handler;";
  if (!text.includes(hook)) throw new BenchError(`${file}: no "${hook}" to take out`);
  writeFileSync(file, text.replace(hook, "return handler;"));
  return tree;
}

async function startServer(v: Variant): Promise<Running> {
  const port = await freePort();
  const args = ["run", "-A", "--unstable-net", "--quiet", "src/cli/main.ts", "-w", "1"];
  args.push(...v.args ?? [], "-b", `${HOST}:${port}`, join(ROOT, "scripts/bench/hello_app.ts"));
  // spawn copies the environment at the call: set this variant's, then restore.
  const saved = { ...process.env };
  Object.assign(process.env, v.env);
  const proc = launch(v.name, join(ROOT, DENO), args, v.tree);
  for (const key of Object.keys(v.env)) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  await waitReady(v.name, [proc], port, () => /Booting worker/.test(proc.output));
  return { ...v, proc, url: `http://${HOST}:${port}/`, rps: [], requests: 0, cpu: 0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (!wrkAvailable()) throw new BenchError("wrk is not installed (make install)");
  const collector = await receiver();
  const on = {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_DENO_CONSOLE: "ignore",
  };
  const variants: Variant[] = [
    { name: "off", tree: ROOT, env: {} },
    { name: "no span hook (off)", tree: hooklessTree(), env: {} },
    { name: "on (OTEL_DENO=true)", tree: ROOT, env: on },
    { name: "--reuse-port, off", tree: ROOT, env: {}, args: ["--reuse-port"] },
    { name: "--reuse-port, on (Deno.serve's spans)", tree: ROOT, env: on, args: ["--reuse-port"] },
  ];
  if (o.base) variants.unshift({ name: "base (before the spans)", tree: o.base, env: {} });
  const servers: Running[] = [];
  try {
    for (const v of variants) servers.push(await startServer(v));
    for (const s of servers) await runWrk(wrkArgs(s.url, { connections: 32, seconds: 1 }), 1);
    const before = servers.map((s) => childrenCpuSeconds(s.proc.pid));
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
  } finally {
    await Promise.all(servers.map((s) => stop(s.proc)));
    collector.close();
    rmSync(join(ROOT, ".tmp", "otel_bench_hookless"), { recursive: true, force: true });
  }
  const off = servers.find((s) => s.name === "off")!;
  const out = [
    "",
    `OpenTelemetry spans, deno run -w 1 hello world, wrk -t1 -c32, ${o.duration} s per server, ` +
    `${o.rounds} rounds taking turns; spans received: ${collector.spans()}`,
    "",
    "| server | req/s (median) | / off (median of rounds) | worker CPU µs/request |",
    "| --- | ---: | ---: | ---: |",
    ...servers.map((s) =>
      `| ${s.name} | ${Math.round(median(s.rps))} | ` +
      `${median(s.rps.map((r, i) => r / off.rps[i])).toFixed(2)} | ${s.cpu.toFixed(1)} |`
    ),
    "",
  ];
  process.stdout.write(out.join("\n"));
}

await runBench(main);
