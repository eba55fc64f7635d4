// One measurement of one row of `make bench`'s targets (scripts/bench/targets.ts): the server
// started fresh (behind nginx on unix sockets, if the row says so), a warm-up, then wrk, with the
// server's CPU per request from /proc.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { startNginx } from "../../tests/_nginx.ts";
import { cpuNanos, descendants } from "../../tests/_procs.ts";
import { freePort, HOST, launch, ROOT, stop, waitReady } from "./procs.ts";
import type { Row } from "./target_rows.ts";
import { errorCount, runWrk, wrkArgs, type WrkResult } from "./wrk.ts";

export interface Measured {
  result: WrkResult;
  /** Server CPU (all its processes) per request, µs. */
  cpuUs: number;
}

// The scheduler's CPU time of every thread of the tree (cpuNanos), not /proc's tick samples.
function treeNanos(roots: number[]): number {
  let ns = 0;
  for (const root of roots) {
    for (const pid of [root, ...descendants(root)]) ns += cpuNanos(pid);
  }
  return ns;
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

export async function measure(row: Row, seconds: number, label: string): Promise<Measured> {
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
    const before = treeNanos(roots);
    const result = await runWrk(wrkArgs(url, { connections: 64, seconds, headers }), seconds);
    const ns = treeNanos(roots) - before;
    const cpuUs = result.requests ? ns / 1e3 / result.requests : NaN;
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
