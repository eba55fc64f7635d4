// The tables `make bench`'s targets print (scripts/bench/targets.ts): every row's medians, each
// appserve row against its peer and its target, against the ceiling, and against gunicorn.

import type { Measured } from "./target_measure.ts";
import type { Row, Via } from "./target_rows.ts";
import { FLAVOUR_NAME, gunicorn } from "./target_servers.ts";
import { errorCount } from "./wrk.ts";

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

export function report(all: Row[], runs: Map<string, Measured[]>): string {
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
