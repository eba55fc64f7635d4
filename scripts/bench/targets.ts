// `make bench`, third part: the shared-socket targets (issue 17) in one run. Each appserve row is
// a ratio against its raw peer on the same number of processes, measured in the same rounds:
// TCP keep-alive, nginx → unix socket with and without upstream keepalive, gthread against -w 2
// (keep-alive and Connection: close), and gunicorn. Besides req/s, the server's CPU per request
// (every thread of its tree, from /proc's schedstat, over the measured run; nginx's own CPU not
// counted).

// The servers are in target_servers.ts, the rows in target_rows.ts, one measurement in
// target_measure.ts and the tables in target_report.ts.

import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import process from "node:process";
import { parseArgs } from "node:util";
import { BenchError, runBench } from "./procs.ts";
import { measure, type Measured } from "./target_measure.ts";
import { report } from "./target_report.ts";
import { type Part, rows } from "./target_rows.ts";
import { wrkAvailable } from "./wrk.ts";

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
      } at the end. CPU is the time the scheduler gave every thread of the server's processes ` +
      "(/proc/PID/task/TID/schedstat) over the measured run, per request; nginx's own is not " +
      "counted.\n\n" + report(all, runs) + "\n",
  );
}

await runBench(main);
