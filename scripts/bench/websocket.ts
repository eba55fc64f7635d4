// `make bench`, WebSocket part (issue 18): echo messages/s and connection setups/s, appserve
// against the runtime's own server on the same number of processes, all serving the same app
// (tests/fixtures/apps/websocket_app.ts): the binary (Bun workers) against Bun.serve, deno run
// and the binary's Deno workers against Deno.serve, on the shared socket and with --reuse-port;
// plus the shared socket's ceiling, node:net + ws with nothing of appserve (ws_ceiling.ts).
// Rounds are interleaved and each row reports its median; besides the rates, the server's CPU
// (every process and thread of it, /proc schedstat) per message and per setup.

import { loadavg } from "node:os";
import process from "node:process";
import { parseArgs } from "node:util";
import { descendants } from "../../tests/_procs.ts";
import { APPSERVE_WS_PENDING } from "../../tests/_websocket.ts";
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
  track,
  waitReady,
} from "./procs.ts";
import { spawn } from "node:child_process";
import { join } from "node:path";

const USAGE = `Usage: deno run -A scripts/bench/websocket.ts [OPTIONS]

WebSocket echo and connection setups side by side, appserve against Deno.serve / Bun.serve on
the same number of processes, every row measured --rounds times interleaved, medians reported.
Load client: ${BUN} scripts/bench/ws_load.ts (Bun's own WebSocket client).
  echo:   8 sockets, 16 messages of --size bytes in flight each (a reply sends the next)
  setups: 4 loops of open, one echo, close 1000

Options:
  --duration N   seconds per measured part (default 3; 0.5 s warm-up before each)
  --warm-up N    seconds of setups each server serves, unmeasured, before its first measured
                 part, in every round (default 8, about 4 minutes of a default run): until the
                 runtime's JIT has compiled the setup path, which takes longer than --duration
                 (docs/architecture.md); 0 for none. Its errors count with the setups'.
  --rounds N     interleaved rounds (default 3)
  --size N       bytes per echo message (default 32)
  --procs N      processes per server: workers, or native server copies (default 1; the box's
                 other core runs the load client)
  -h, --help     this text
`;

const APP = "tests/fixtures/apps/websocket_app.ts";
const NATIVE = "tests/fixtures/websocket_native.ts";
const LOAD = "scripts/bench/ws_load.ts";
const CEILING = "scripts/bench/ws_ceiling.ts";
const ECHO = { conns: 8, window: 16 };
const SETUP_LOOPS = 4;
const TARGET = 0.85;

type Flavour = "deno" | "binary" | "binary-deno";
const FLAVOUR_NAME: Record<Flavour, string> = {
  deno: "appserve deno run",
  binary: "appserve binary",
  "binary-deno": "appserve binary, Deno workers",
};

interface Row {
  name: string;
  /** The raw peer's name, for appserve rows. */
  peer?: string;
  /** The shared socket's ceiling row of the same runtime, for appserve's shared-socket rows. */
  ceiling?: string;
  /** Set when appserve's WebSocket support for this target is not merged yet. */
  pending?: boolean;
  launches(port: number): { command: string; args: string[] }[];
  ready(procs: Proc[]): boolean;
}

function native(runtime: "Deno" | "Bun", procs: number): Row {
  const one = (port: number) =>
    runtime === "Deno"
      ? { command: DENO, args: ["run", "-A", "--unstable-net", "--quiet", NATIVE, `${port}`] }
      : { command: BUN, args: [NATIVE, `${port}`] };
  return {
    name: `raw ${runtime}.serve ×${procs}`,
    launches: (port) => Array.from({ length: procs }, () => one(port)),
    ready: (ps) => ps.every((p) => /^ready /m.test(p.output)),
  };
}

/** node:net + ws with nothing of appserve (scripts/bench/ws_ceiling.ts): the shared socket's ceiling. */
function ceiling(runtime: "Deno" | "Bun", procs: number): Row {
  const one = (port: number) =>
    runtime === "Deno"
      ? { command: DENO, args: ["run", "-A", "--unstable-net", "--quiet", CEILING, `${port}`] }
      : { command: BUN, args: [CEILING, `${port}`] };
  return {
    name: `${runtime} node:net + ws, no appserve ×${procs}`,
    launches: (port) => Array.from({ length: procs }, () => one(port)),
    ready: (ps) => ps.every((p) => /^ready /m.test(p.output)),
  };
}

function appserve(
  flavour: Flavour,
  procs: number,
  peer: Row,
  reusePort: boolean,
  ceiling?: Row,
): Row {
  const t = appserveTarget(flavour, "");
  const extra = reusePort ? ["--reuse-port"] : [];
  return {
    name: `${FLAVOUR_NAME[flavour]} -w ${procs}${reusePort ? " --reuse-port" : ""}`,
    peer: peer.name,
    ceiling: reusePort ? undefined : ceiling?.name,
    pending: APPSERVE_WS_PENDING.includes(flavour),
    launches: (port) => [{
      command: t.command,
      args: [...t.prefix, "-w", `${procs}`, ...extra, "-b", `${HOST}:${port}`, APP],
    }],
    ready: (ps) => (ps[0].output.match(/Booting worker with pid/g)?.length ?? 0) >= procs,
  };
}

function rows(procs: number): Row[] {
  const bun = native("Bun", procs);
  const deno = native("Deno", procs);
  const bunCeiling = ceiling("Bun", procs);
  const denoCeiling = ceiling("Deno", procs);
  return [
    bun,
    bunCeiling,
    appserve("binary", procs, bun, false, bunCeiling),
    appserve("binary", procs, bun, true),
    deno,
    denoCeiling,
    appserve("deno", procs, deno, false, denoCeiling),
    appserve("binary-deno", procs, deno, false, denoCeiling),
    appserve("deno", procs, deno, true),
  ];
}

interface Load {
  count: number;
  perSec: number;
  cpuUs: number;
  errors: number;
}

function runLoad(args: string[], seconds: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, BUN), [LOAD, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    track(child);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 20) * 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").at(-1) ?? "";
      try {
        if (code !== 0) throw new Error();
        resolve(JSON.parse(line));
      } catch {
        reject(new BenchError(`load client failed (exit ${code}): ${line}`));
      }
    });
  });
}

interface Measured {
  echo: Load;
  setup: Load;
}

async function measure(
  row: Row,
  seconds: number,
  warmUp: number,
  size: number,
  label: string,
): Promise<Measured> {
  const port = await freePort();
  const procs = row.launches(port).map((l) =>
    launch(row.name, join(ROOT, l.command), l.args, ROOT)
  );
  try {
    await waitReady(row.name, procs, port, () => row.ready(procs), 30_000);
    const pids = procs.flatMap((p) => [p.pid, ...descendants(p.pid)]).join(",");
    const url = `ws://${HOST}:${port}/echo`;
    const warm = warmUp > 0
      ? await runLoad(["setup", url, pids, `${warmUp}`, `${SETUP_LOOPS}`], warmUp)
      : null;
    const echo = await runLoad(
      ["echo", url, pids, `${seconds}`, `${ECHO.conns}`, `${ECHO.window}`, `${size}`],
      seconds,
    );
    const setup = await runLoad(["setup", url, pids, `${seconds}`, `${SETUP_LOOPS}`], seconds);
    setup.errors += warm?.errors ?? 0;
    process.stderr.write(
      `${label} ${row.name}: echo ${echo.perSec}/s ${echo.cpuUs} µs CPU/msg; setups ` +
        `${setup.perSec}/s ${setup.cpuUs} µs CPU/setup` +
        `${echo.errors + setup.errors ? `; ${echo.errors + setup.errors} errors` : ""}\n`,
    );
    return { echo, setup };
  } finally {
    await Promise.all(procs.map((p) => stop(p)));
  }
}

function median(list: number[]): number {
  const s = [...list].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function report(all: Row[], runs: Map<string, Measured[]>): string {
  const m = (name: string, part: keyof Measured, key: "perSec" | "cpuUs") =>
    median(runs.get(name)!.map((r) => r[part][key]));
  const errors = (name: string) =>
    runs.get(name)!.reduce((n, r) => n + r.echo.errors + r.setup.errors, 0);
  const lines = [
    "| server | echo msg/s | CPU µs/msg | setups/s | CPU µs/setup | errors |",
    "|---|---|---|---|---|---|",
  ];
  for (const row of all) {
    if (!runs.has(row.name)) {
      lines.push(`| ${row.name} | pending: WebSocket support not merged | | | | |`);
      continue;
    }
    lines.push(
      `| ${row.name} | ${m(row.name, "echo", "perSec")} | ${
        m(row.name, "echo", "cpuUs").toFixed(2)
      } | ` +
        `${m(row.name, "setup", "perSec")} | ${m(row.name, "setup", "cpuUs").toFixed(1)} | ${
          errors(row.name)
        } |`,
    );
  }
  lines.push("");
  lines.push(
    "Ratios against the raw peer (rate: msg/s or setups/s ÷ the peer's; CPU: the peer's CPU per " +
      `unit ÷ this row's, so 1 is as cheap and higher is cheaper). Target ≥ ${TARGET}× on both.`,
  );
  lines.push("");
  lines.push("| server | against | echo rate | echo CPU | setup rate | setup CPU | target |");
  lines.push("|---|---|---|---|---|---|---|");
  for (const row of all) {
    if (row.peer === undefined || !runs.has(row.name) || !runs.has(row.peer)) continue;
    const rate = (part: keyof Measured) =>
      m(row.name, part, "perSec") / m(row.peer!, part, "perSec");
    const cpu = (part: keyof Measured) => m(row.peer!, part, "cpuUs") / m(row.name, part, "cpuUs");
    const all4 = [rate("echo"), cpu("echo"), rate("setup"), cpu("setup")];
    const missed = all4.filter((r) => r < TARGET).length;
    lines.push(
      `| ${row.name} | ${row.peer} | ${all4.map((r) => r.toFixed(2)).join(" | ")} | ${
        missed ? `MISSED (${missed} of 4)` : "met"
      } |`,
    );
  }
  const capped = all.filter((r) => r.ceiling !== undefined && runs.has(r.ceiling));
  if (capped.length) {
    lines.push("");
    lines.push(
      "Against the shared socket's ceiling (node:net + ws with nothing of appserve, same " +
        "runtime): the CPU ratio, ceiling ÷ row (1: appserve adds nothing).",
    );
    lines.push("");
    lines.push("| server | ceiling | echo CPU | setup CPU |");
    lines.push("|---|---|---|---|");
    for (const row of capped) {
      const c = row.ceiling!;
      const ratio = (part: keyof Measured) =>
        (m(c, part, "cpuUs") / m(row.name, part, "cpuUs")).toFixed(2);
      lines.push(`| ${row.name} | ${c} | ${ratio("echo")} | ${ratio("setup")} |`);
    }
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "3" },
      "warm-up": { type: "string", default: "8" },
      rounds: { type: "string", default: "3" },
      procs: { type: "string", default: "1" },
      size: { type: "string", default: "32" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const seconds = Number(values.duration);
  const warmUp = Number(values["warm-up"]);
  const rounds = Number(values.rounds);
  const procs = Number(values.procs);
  const size = Number(values.size);
  const numbers = [["--duration", seconds], ["--rounds", rounds], ["--procs", procs], [
    "--size",
    size,
  ]];
  if (!Number.isInteger(warmUp) || warmUp < 0) {
    throw new BenchError(`--warm-up takes a whole number from 0, got "${values["warm-up"]}"`);
  }
  for (const [flag, n] of numbers) {
    if (!Number.isInteger(n) || (n as number) < 1) {
      throw new BenchError(`${flag} takes a whole number from 1, got "${n}"`);
    }
  }
  const all = rows(procs);
  const measured = all.filter((r) => !r.pending);
  const runs = new Map<string, Measured[]>(measured.map((r) => [r.name, []]));
  const total = measured.length * rounds;
  let n = 0;
  for (let round = 0; round < rounds; round++) {
    for (const row of measured) {
      runs.get(row.name)!.push(await measure(row, seconds, warmUp, size, `[${++n}/${total}]`));
    }
  }
  const [l1, l5] = loadavg();
  process.stdout.write(
    `\n# WebSocket: echo (${ECHO.conns} sockets × ${ECHO.window} in flight, ${size} B) and ` +
      `setups (${SETUP_LOOPS} loops), ${seconds} s each` +
      `${warmUp > 0 ? ` after ${warmUp} s of setups unmeasured` : ""}, ` +
      `median of ${rounds} interleaved rounds, ` +
      `${procs} process(es) per server\n\nLoad ${l1.toFixed(1)} / ${l5.toFixed(1)} at the end ` +
      "(a shared box: rates move with it; CPU per unit much less). CPU is every thread of the " +
      "server's processes (appserve: master and workers) over the measured window.\n\n" +
      report(all, runs) + "\n",
  );
}

await runBench(main);
