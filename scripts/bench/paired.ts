// Before and after, paired: appserve -w 2 from this tree and from a base checkout, taking turns
// within each round (the order alternating), TCP keep-alive and Connection: close, binary and
// deno run. Each after-run is divided by the before-run next to it, so load from elsewhere on the
// box, which moves whole rounds, cancels out more than it does between medians.
//
//   deno run -A scripts/bench/paired.ts BASE [ROUNDS=6] [SECONDS=3]

import process from "node:process";
import { BenchError, runBench } from "./procs.ts";
import { measure } from "./target_measure.ts";
import type { Row, Via } from "./target_rows.ts";
import { appserve } from "./target_servers.ts";

type Flavour = "binary" | "deno";
const CASES: [Via, Flavour][] = [
  ["tcp", "binary"],
  ["tcp", "deno"],
  ["tcp-close", "binary"],
  ["tcp-close", "deno"],
];

interface Runs {
  cpu: number[];
  rps: number[];
}

function row(via: Via, flavour: Flavour, base?: string): Row {
  const server = appserve(flavour, ["-w", "2"], base);
  return { part: "tcp", via, server, key: `${via}: ${server.name}` };
}

function median(list: number[]): number {
  return [...list].sort((a, b) => a - b)[list.length >> 1];
}

async function main(): Promise<void> {
  const [base, roundsArg = "6", secondsArg = "3"] = process.argv.slice(2);
  const rounds = Number(roundsArg);
  const seconds = Number(secondsArg);
  if (!base || !Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seconds)) {
    throw new BenchError("usage: paired.ts BASE [ROUNDS] [SECONDS]");
  }
  const runs = new Map<string, { before: Runs; after: Runs }>();
  for (let round = 0; round < rounds; round++) {
    for (const [via, flavour] of CASES) {
      const key = `${via} ${flavour}`;
      if (!runs.has(key)) {
        runs.set(key, { before: { cpu: [], rps: [] }, after: { cpu: [], rps: [] } });
      }
      const entry = runs.get(key)!;
      for (const before of round % 2 ? [true, false] : [false, true]) {
        const m = await measure(
          row(via, flavour, before ? base : undefined),
          seconds,
          `[${round}]`,
        );
        const into = before ? entry.before : entry.after;
        into.cpu.push(m.cpuUs);
        into.rps.push(m.result.rps);
      }
    }
  }
  for (const [key, { before, after }] of runs) {
    const cpu = after.cpu.map((a, i) => a / before.cpu[i]);
    const rps = after.rps.map((a, i) => a / before.rps[i]);
    process.stdout.write(
      `${key}: CPU µs/req ${median(before.cpu).toFixed(1)} → ${median(after.cpu).toFixed(1)}, ` +
        `paired ratio ${median(cpu).toFixed(2)} (${cpu.map((x) => x.toFixed(2)).join(" ")}); ` +
        `req/s ${Math.round(median(before.rps))} → ${Math.round(median(after.rps))}, ` +
        `paired ratio ${median(rps).toFixed(2)}\n`,
    );
  }
}

await runBench(main);
