// `make bench`, third part: the shared-socket targets (issue 17) in one run. Each appserve row is
// a ratio against its raw peer on the same number of processes, measured in the same rounds:
// TCP keep-alive, nginx → unix socket with and without upstream keepalive, gthread against -w 2
// (keep-alive and Connection: close), and gunicorn. Besides req/s, the server's CPU per request
// (every process of its tree, from /proc, over the measured run; nginx's own CPU not counted).

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { startNginx } from "../../tests/_nginx.ts";
import { cpuTicks, descendants, TICKS_PER_SECOND } from "../../tests/_procs.ts";
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
import { errorCount, runWrk, wrkArgs, wrkAvailable, type WrkResult } from "./wrk.ts";

const USAGE = `Usage: deno run -A scripts/bench/targets.ts [OPTIONS]

The shared-socket targets side by side: hello world, wrk -t1 -c64, 1 s warm-up per
server, every row measured --rounds times interleaved, each row's median run.

Options:
  --duration N   seconds per measured run (default 5)
  --rounds N     interleaved rounds (default 3)
  --only LIST    comma-separated parts: tcp, nginx, gthread, gunicorn (default: these), and
                 close (TCP with Connection: close, -w 2 against the raw peers; only asked)
  --base DIR     an earlier appserve checkout (its dist/appserve and src/cli/main.ts,
                 built): its appserve rows run too, as "before"
  -h, --help     this text
`;

const APP = "scripts/bench/hello_app.ts";
const RAW_SERVE = "scripts/bench/raw_serve.ts";
const RAW_INHERITED = "scripts/bench/raw_inherited.ts";
const GUNICORN_APP = "cpu_wsgi:app";

type Part = "tcp" | "close" | "nginx" | "gthread" | "gunicorn";
/** How wrk reaches the server: straight over TCP, or through nginx on unix sockets. */
type Via = "tcp" | "tcp-close" | "nginx" | "nginx-keepalive";

interface Launch {
  command: string;
  args: string[];
}

/** One server, started fresh for each measurement. */
interface Server {
  name: string;
  /** Processes it serves with (the raw peer's count must match appserve's). */
  procs: number;
  /** What to start, listening on `at` (a TCP port, or unix socket paths, one per launch). */
  launches(at: { port: number } | { sockets: string[] }): Launch[];
  /** How many unix sockets it listens on behind nginx (raw servers: one each). */
  sockets: number;
  ready(procs: Proc[]): boolean;
}

interface Row {
  part: Part;
  via: Via;
  server: Server;
  /** The row this one is compared against (its raw peer), by key; none for a peer. */
  peer?: string;
  /** The fixed-reply node:net server on the shared socket, the ceiling of this mode, by key. */
  ceiling?: string;
  target?: { rps?: number; cpu?: number };
  key: string;
}

function rawServe(runtime: "Deno" | "Bun", procs: number): Server {
  const run = (where: string): Launch =>
    runtime === "Deno"
      ? { command: DENO, args: ["run", "-A", "--unstable-net", "--quiet", RAW_SERVE, where] }
      : { command: BUN, args: [RAW_SERVE, where] };
  return {
    name: `raw ${runtime}.serve ×${procs}`,
    procs,
    sockets: procs,
    launches: (at) =>
      "port" in at
        ? Array.from({ length: procs }, () => run(String(at.port)))
        : at.sockets.map((s) => run(s)),
    ready: (ps) => ps.every((p) => /^ready /m.test(p.output)),
  };
}

/**
 * The ceiling of the shared-socket mode: node:net on the one inherited socket, answering every
 * request head with a pre-encoded reply (no HTTP parsing, no Request, no Response).
 */
function rawFixed(runtime: "Deno" | "Bun", procs: number): Server {
  const script = (where: string): Launch =>
    runtime === "Deno"
      ? {
        command: DENO,
        args: ["run", "-A", "--unstable-net", "--quiet", RAW_INHERITED, where, `${procs}`, "fixed"],
      }
      : { command: BUN, args: [RAW_INHERITED, where, `${procs}`, "fixed"] };
  return {
    name: `${runtime} node:net fixed reply, shared socket ×${procs}`,
    procs,
    sockets: 1,
    launches: (at) => [script("port" in at ? String(at.port) : at.sockets[0])],
    ready: (ps) => (ps[0].output.match(/^ready /gm)?.length ?? 0) >= procs,
  };
}

type Flavour = "deno" | "binary" | "binary-deno";
const FLAVOUR_NAME: Record<Flavour, string> = {
  deno: "appserve deno run",
  binary: "appserve binary",
  "binary-deno": "appserve binary, Deno workers",
};

function appserve(flavour: Flavour, args: string[], base?: string): Server {
  const t = appserveTarget(flavour, base ?? "");
  const workers = Number(args[args.indexOf("-w") + 1]);
  const threads = args.includes("--threads") ? ` ${args.join(" ")}` : ` -w ${workers}`;
  return {
    name: `${FLAVOUR_NAME[flavour]}${threads}${base ? " (before)" : ""}`,
    procs: workers,
    sockets: 1,
    launches: (at) => [{
      command: t.command,
      args: [
        ...t.prefix,
        ...args,
        "-b",
        "port" in at ? `${HOST}:${at.port}` : `unix:${at.sockets[0]}`,
        APP,
      ],
    }],
    ready: (ps) => (ps[0].output.match(/Booting worker with pid/g)?.length ?? 0) >= workers,
  };
}

const gunicorn: Server = {
  name: "gunicorn sync -w 2",
  procs: 2,
  sockets: 1,
  launches: (at) => [{
    command: "gunicorn",
    args: [
      "-w",
      "2",
      "-k",
      "sync",
      "-b",
      "port" in at ? `${HOST}:${at.port}` : `unix:${at.sockets[0]}`,
      "--chdir",
      "scripts/bench",
      GUNICORN_APP,
    ],
  }],
  ready: (ps) => (ps[0].output.match(/Booting worker with pid/g)?.length ?? 0) >= 2,
};

function rows(parts: Set<Part>, base?: string): Row[] {
  const out: Row[] = [];
  const add = (
    part: Part,
    via: Via,
    server: Server,
    peer?: string,
    target?: Row["target"],
    ceiling?: string,
  ) => {
    const row = { part, via, server, peer, target, ceiling, key: `${via}: ${server.name}` };
    out.push(row);
    if (base && server.name.startsWith("appserve")) {
      const before = appserve(flavourOf(server), argsOf(server), base);
      out.push({ ...row, server: before, key: `${via}: ${before.name}` });
    }
    return row.key;
  };
  const bun2 = rawServe("Bun", 2);
  const deno2 = rawServe("Deno", 2);
  const w2 = ["-w", "2"];
  if (parts.has("tcp")) {
    const bunPeer = add("tcp", "tcp", bun2);
    const bunFixed = add("tcp", "tcp", rawFixed("Bun", 2));
    add("tcp", "tcp", appserve("binary", w2), bunPeer, { rps: 0.85, cpu: 1.3 }, bunFixed);
    const denoPeer = add("tcp", "tcp", deno2);
    const denoFixed = add("tcp", "tcp", rawFixed("Deno", 2));
    add("tcp", "tcp", appserve("deno", w2), denoPeer, { rps: 0.85, cpu: 1.3 }, denoFixed);
    const t = { rps: 0.85, cpu: 1.3 };
    add("tcp", "tcp", appserve("binary-deno", w2), denoPeer, t, denoFixed);
  }
  if (parts.has("close")) {
    const bunPeer = add("close", "tcp-close", bun2);
    add("close", "tcp-close", appserve("binary", w2), bunPeer);
    const denoPeer = add("close", "tcp-close", deno2);
    add("close", "tcp-close", appserve("deno", w2), denoPeer);
  }
  if (parts.has("nginx")) {
    for (const via of ["nginx", "nginx-keepalive"] as const) {
      const t = { rps: via === "nginx" ? 0.9 : 0.95, cpu: 1.3 };
      const bunPeer = add("nginx", via, bun2);
      const bunFixed = add("nginx", via, rawFixed("Bun", 2));
      add("nginx", via, appserve("binary", w2), bunPeer, t, bunFixed);
      const denoPeer = add("nginx", via, deno2);
      const denoFixed = add("nginx", via, rawFixed("Deno", 2));
      add("nginx", via, appserve("deno", w2), denoPeer, t, denoFixed);
    }
  }
  if (parts.has("gthread")) {
    const gthread = ["-w", "1", "-k", "gthread", "--threads", "2"];
    for (const via of ["tcp", "tcp-close"] as const) {
      // The -w 2 row is the tcp (close) part's, when that part runs.
      const peer = parts.has(via === "tcp" ? "tcp" : "close")
        ? `${via}: ${FLAVOUR_NAME.binary} -w 2`
        : add("gthread", via, appserve("binary", w2));
      add("gthread", via, appserve("binary", gthread), peer, { rps: 0.9 });
    }
  }
  if (parts.has("gunicorn")) {
    add("gunicorn", "tcp", gunicorn);
    add("gunicorn", "nginx", gunicorn);
  }
  return out;
}

// A "before" row is the same server built from the base checkout.
function flavourOf(s: Server): Flavour {
  return s.name.startsWith(FLAVOUR_NAME["binary-deno"])
    ? "binary-deno"
    : s.name.startsWith(FLAVOUR_NAME.binary)
    ? "binary"
    : "deno";
}
function argsOf(s: Server): string[] {
  const m = s.name.match(/ (-w \d+.*)$/)![1];
  return m.split(" ");
}

// ---------------------------------------------------------------------------------------------

interface Measured {
  result: WrkResult;
  /** Server CPU (all its processes) per request, µs. */
  cpuUs: number;
}

function treeTicks(roots: number[]): number {
  let ticks = 0;
  for (const root of roots) {
    for (const pid of [root, ...descendants(root)]) {
      try {
        ticks += cpuTicks(pid);
      } catch {
        // It ended while we looked.
      }
    }
  }
  return ticks;
}

function nginxBlock(sockets: string[], keepalive: boolean): (port: number) => string {
  const servers = sockets.map((s) => `server unix:${s};`).join(" ");
  return (port) => `
http {
  access_log off;
  upstream app { ${servers} ${keepalive ? "keepalive 64;" : ""} }
  server {
    listen ${HOST}:${port};
    location / {
      proxy_pass http://app;
      ${keepalive ? 'proxy_http_version 1.1; proxy_set_header Connection "";' : ""}
    }
  }
}`;
}

async function measure(row: Row, seconds: number, label: string): Promise<Measured> {
  const { server, via } = row;
  const dir = mkdtempSync(join(tmpdir(), "appserve-bench-"));
  const behindNginx = via === "nginx" || via === "nginx-keepalive";
  const port = await freePort();
  const sockets = Array.from({ length: server.sockets }, (_, i) => join(dir, `s${i}.sock`));
  const procs = server.launches(behindNginx ? { sockets } : { port }).map((l) =>
    launch(
      server.name,
      l.command === "gunicorn" ? l.command : resolve(ROOT, l.command),
      l.args,
      ROOT,
    )
  );
  let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
  try {
    let url = `http://${HOST}:${port}/`;
    if (behindNginx) {
      nginx = await startNginx(dir, nginxBlock(sockets, via === "nginx-keepalive"));
      url = `http://${HOST}:${nginx.port}/`;
    }
    await waitReady(
      server.name,
      procs,
      behindNginx ? nginx!.port : port,
      () => server.ready(procs),
      30_000,
    );
    const headers = via === "tcp-close" ? ["Connection: close"] : [];
    await runWrk(wrkArgs(url, { connections: 64, seconds: 1, headers }), 1);
    const roots = procs.map((p) => p.pid);
    const before = treeTicks(roots);
    const result = await runWrk(wrkArgs(url, { connections: 64, seconds, headers }), seconds);
    const ticks = treeTicks(roots) - before;
    const cpuUs = result.requests ? (ticks / TICKS_PER_SECOND) * 1e6 / result.requests : NaN;
    process.stderr.write(
      `${label} ${row.key}: ${Math.round(result.rps)} req/s, ${cpuUs.toFixed(1)} µs CPU/req` +
        `${errorCount(result) ? `, ${errorCount(result)} errors` : ""}\n`,
    );
    return { result, cpuUs };
  } finally {
    await nginx?.stop();
    await Promise.all(procs.map((p) => stop(p)));
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(list: number[]): number {
  const s = [...list].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const VIA_TEXT: Record<Via, string> = {
  tcp: "TCP keep-alive",
  "tcp-close": "TCP, Connection: close",
  nginx: "nginx → unix socket, no upstream keepalive",
  "nginx-keepalive": "nginx → unix socket, upstream keepalive 64",
};

function report(all: Row[], runs: Map<string, Measured[]>): string {
  const rps = (key: string) => median(runs.get(key)!.map((m) => m.result.rps));
  const cpu = (key: string) => median(runs.get(key)!.map((m) => m.cpuUs));
  const errors = (key: string) => runs.get(key)!.reduce((n, m) => n + errorCount(m.result), 0);
  const lines: string[] = [];
  lines.push("| setup | server | req/s | CPU µs/req | errors |");
  lines.push("|---|---|---|---|---|");
  for (const row of all) {
    lines.push(
      `| ${VIA_TEXT[row.via]} | ${row.server.name} | ${Math.round(rps(row.key))} | ` +
        `${cpu(row.key).toFixed(1)} | ${errors(row.key)} |`,
    );
  }
  lines.push("");
  lines.push("| setup | server | against | req/s ratio | CPU ratio | target |");
  lines.push("|---|---|---|---|---|---|");
  for (const row of all) {
    if (row.peer === undefined || !runs.has(row.peer)) continue;
    const r = rps(row.key) / rps(row.peer);
    const c = cpu(row.key) / cpu(row.peer);
    const t = row.target ?? {};
    const verdicts = [
      t.rps !== undefined ? `req/s ≥ ${t.rps}: ${r >= t.rps ? "met" : "MISSED"}` : "",
      t.cpu !== undefined ? `CPU ≤ ${t.cpu}×: ${c <= t.cpu ? "met" : "MISSED"}` : "",
    ].filter(Boolean).join("; ");
    lines.push(
      `| ${VIA_TEXT[row.via]} | ${row.server.name} | ${row.peer.replace(/^[^:]+: /, "")} | ` +
        `${r.toFixed(2)} | ${c.toFixed(2)} | ${verdicts} |`,
    );
  }
  const capped = all.filter((r) => r.ceiling !== undefined && runs.has(r.ceiling));
  if (capped.length) {
    lines.push("");
    lines.push(
      "Against the ceiling of the shared socket (node:net answering with a fixed reply, same " +
        "runtime and processes):",
    );
    lines.push("");
    lines.push("| setup | server | ceiling req/s | req/s ratio | ceiling CPU µs/req | CPU ratio |");
    lines.push("|---|---|---|---|---|---|");
    for (const row of capped) {
      const c = row.ceiling!;
      lines.push(
        `| ${VIA_TEXT[row.via]} | ${row.server.name} | ${Math.round(rps(c))} | ` +
          `${(rps(row.key) / rps(c)).toFixed(2)} | ${cpu(c).toFixed(1)} | ` +
          `${(cpu(row.key) / cpu(c)).toFixed(2)} |`,
      );
    }
  }
  const gunicornRows = all.filter((r) => r.server === gunicorn);
  if (gunicornRows.length) {
    lines.push("");
    lines.push("| setup | appserve binary -w 2 ÷ gunicorn sync -w 2, req/s (target ≥ 10×) |");
    lines.push("|---|---|");
    for (const g of gunicornRows) {
      const mine = all.find((r) =>
        r.via === g.via && r.server.name === `${FLAVOUR_NAME.binary} -w 2`
      );
      if (mine === undefined) continue;
      lines.push(`| ${VIA_TEXT[g.via]} | ${(rps(mine.key) / rps(g.key)).toFixed(1)}× |`);
    }
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "5" },
      rounds: { type: "string", default: "3" },
      only: { type: "string" },
      base: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(rounds) || rounds < 1) {
    throw new BenchError("--duration and --rounds take whole numbers from 1");
  }
  const known: Part[] = ["tcp", "nginx", "gthread", "gunicorn"];
  const parts = new Set<Part>(
    values.only === undefined ? known : values.only.split(",").map((p) => {
      if (![...known, "close"].includes(p)) throw new BenchError(`--only: unknown part "${p}"`);
      return p as Part;
    }),
  );
  if (!wrkAvailable()) throw new BenchError("wrk is not installed (make install)");
  if ((parts.has("nginx") || parts.has("gunicorn")) && spawnSync("nginx", ["-v"]).error) {
    throw new BenchError("nginx is not installed (make install)");
  }
  if (parts.has("gunicorn") && spawnSync("gunicorn", ["--version"]).error) {
    process.stderr.write("gunicorn is not installed: its rows are left out\n");
    parts.delete("gunicorn");
  }
  const all = rows(parts, values.base);
  const runs = new Map<string, Measured[]>(all.map((r) => [r.key, []]));
  const total = all.length * rounds;
  let n = 0;
  for (let round = 0; round < rounds; round++) {
    for (const row of all) {
      runs.get(row.key)!.push(await measure(row, seconds, `[${++n}/${total}]`));
    }
  }
  const [l1, l5] = loadavg();
  process.stdout.write(
    `\n# Shared-socket targets: hello world, wrk -t1 -c64 -d${seconds}s, median of ${rounds} ` +
      `interleaved rounds\n\n${cpus().length} CPU cores, load ${l1.toFixed(1)} / ${
        l5.toFixed(1)
      } at the end. CPU is the server's processes' (user + system, /proc) over the measured ` +
      "run, per request; nginx's own is not counted.\n\n" + report(all, runs) + "\n",
  );
}

await runBench(main);
