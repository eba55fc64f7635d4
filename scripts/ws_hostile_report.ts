// Runs the hostile-frame corpus (tests/corpus/websocket/cases.json) against the native servers,
// Deno.serve and Bun.serve serving the same app as appserve (tests/fixtures/websocket_native.ts),
// and against appserve's targets unless they are listed as awaiting the implementation, then
// prints the comparison table; --write puts it into docs/websockets_hostile.md between its
// markers. Usage: deno run -A scripts/ws_hostile_report.ts [--write] [--only COLUMNS]
// [--cases NAMES] (comma-separated; columns: deno-serve, bun-serve, deno, binary, binary-deno,
// deno-reuse-port, binary-reuse-port)

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { appserveTarget, childPids, freePort, PATHS, ROOT, spawnProc } from "../tests/_procs.ts";
import {
  type CaseResult,
  loadWsCorpus,
  runWsCase,
  stillServes,
  WS_APP,
  WS_NATIVE,
} from "../tests/_ws_raw.ts";
import { APPSERVE_WS_PENDING } from "../tests/_websocket.ts";

const DOC = join(ROOT, "docs", "websockets_hostile.md");
const BEGIN = "<!-- ws_hostile_report: begin -->";
const END = "<!-- ws_hostile_report: end -->";
/** Deno.serve's fixed message limit (measured: 64 MiB passes, one byte more is dropped). */
const DENO_LIMIT = 64 * 1024 * 1024;

interface Column {
  key: string;
  title: string;
  limit: number;
  start(port: number): { proc: ReturnType<typeof spawnProc>; pid: () => number };
}

function columns(limit: number): Column[] {
  const native = (key: string, title: string, command: string, args: string[], l: number) => ({
    key,
    title,
    limit: l,
    start: (port: number) => {
      const proc = spawnProc(join(ROOT, command), [...args, WS_NATIVE, String(port)], {
        name: title,
      });
      return { proc, pid: () => proc.pid };
    },
  });
  // With --reuse-port the workers run the native servers; appserve holds Deno.serve's sockets to
  // --websocket-max-message too (docs/websockets.md), so every appserve column has the one limit.
  const appserve = (name: "deno" | "binary" | "binary-deno", reusePort = false) => ({
    key: reusePort ? `${name}-reuse-port` : name,
    title: `appserve ${name}${reusePort ? " --reuse-port" : ""}`,
    limit,
    start: (port: number) => {
      const t = appserveTarget(name);
      const proc = spawnProc(t.command, [
        ...t.prefix,
        "-w",
        "1",
        ...(reusePort ? ["--reuse-port"] : []),
        "-b",
        `127.0.0.1:${port}`,
        "--websocket-max-message",
        String(limit),
        WS_APP,
      ]);
      return { proc, pid: () => childPids(proc.pid)[0] ?? -1 };
    },
  });
  return [
    native(
      "deno-serve",
      "Deno.serve",
      PATHS.deno,
      ["run", "-A", "--unstable-net", "--quiet"],
      DENO_LIMIT,
    ),
    // Bun.serve with maxPayloadLength set to appserve's limit, so the limit cases compare.
    {
      ...native("bun-serve", "Bun.serve", PATHS.bun, [], limit),
      start: (port: number) => {
        const proc = spawnProc(join(ROOT, PATHS.bun), [WS_NATIVE, String(port), String(limit)], {
          name: "Bun.serve",
        });
        return { proc, pid: () => proc.pid };
      },
    },
    ...(["deno", "binary", "binary-deno"] as const).map((name) => appserve(name)),
    appserve("deno", true),
    appserve("binary", true),
  ];
}

async function runColumn(col: Column, names?: string[]): Promise<Map<string, CaseResult>> {
  const corpus = loadWsCorpus();
  const cases = corpus.cases.filter((c) => names === undefined || names.includes(c.name));
  const port = await freePort();
  const { proc, pid } = col.start(port);
  const out = new Map<string, CaseResult>();
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.ended) throw new Error(`${col.title} exited: ${proc.lastLine()}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/`);
        await r.body?.cancel();
        if (r.status === 200 && pid() > 0) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`${col.title} did not answer`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const serverPid = pid();
    for (const c of cases) {
      const r = await runWsCase({ port, pid: serverPid, limit: col.limit }, c);
      const alive = await stillServes(port, serverPid);
      out.set(c.name, { what: r.what, problems: [...r.problems, ...alive] });
      process.stderr.write(`${col.title} ${c.name}: ${r.what}${alive.length ? ` ${alive}` : ""}\n`);
    }
  } finally {
    proc.signal("SIGTERM");
    const timer = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
    await proc.exited;
    clearTimeout(timer);
  }
  return out;
}

function table(cols: Column[], results: Map<string, Map<string, CaseResult>>): string {
  const corpus = loadWsCorpus();
  const lines = [
    `| case | appserve must | ${cols.map((c) => c.title).join(" | ")} |`,
    `|---|---|${cols.map(() => "---").join("|")}|`,
  ];
  for (const c of corpus.cases) {
    const e = c.expect;
    const must = e.status !== undefined
      ? `HTTP ${e.status}`
      : e.close !== undefined
      ? `close ${e.close}`
      : e.app_sees_close
      ? "app sees the close"
      : `RSS growth ≤ ${e.max_rss_growth_mib} MiB`;
    const cells = cols.map((col) => {
      const r = results.get(col.key)?.get(c.name);
      if (!r) return "pending";
      const mark = r.problems.length ? "**differs**: " : "";
      return `${mark}${r.what}`;
    });
    lines.push(`| ${c.name} | ${must} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

async function main() {
  const { values } = parseArgs({
    options: {
      write: { type: "boolean" },
      only: { type: "string" },
      cases: { type: "string" },
    },
  });
  const corpus = loadWsCorpus();
  const limit = corpus.limits["websocket-max-message"];
  const only = values.only?.split(",");
  const all = columns(limit);
  const cols = all.filter((c) =>
    (only === undefined || only.includes(c.key)) &&
    !(APPSERVE_WS_PENDING as readonly string[]).includes(c.key.replace("-reuse-port", ""))
  );
  const results = new Map<string, Map<string, CaseResult>>();
  for (const col of cols) results.set(col.key, await runColumn(col, values.cases?.split(",")));
  const shown = all.filter((c) =>
    results.has(c.key) || APPSERVE_WS_PENDING.includes(c.key.replace("-reuse-port", "") as never)
  );
  const text = `${BEGIN}\n${table(shown, results)}\n${END}`;
  process.stdout.write(`${text}\n`);
  if (values.write) {
    const doc = readFileSync(DOC, "utf8");
    const a = doc.indexOf(BEGIN);
    const b = doc.indexOf(END);
    if (a < 0 || b < 0) throw new Error(`${DOC} has no ${BEGIN} … ${END} markers`);
    writeFileSync(DOC, doc.slice(0, a) + text + doc.slice(b + END.length));
    process.stderr.write(`wrote ${DOC}\n`);
  }
}

await main();
