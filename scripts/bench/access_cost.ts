// In-process cost of one access-log line: Logger.access with gunicorn's
// default format to a real file, lines written as the worker writes them.
// Prints the µs per line (median of 5 runs, less the same loop without
// logging); run under deno or bun.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setImmediate } from "node:timers";
import { Logger } from "../../mod.ts";

function entry(i: number) {
  const request = new Request(`http://127.0.0.1:8000/hello?n=${i}`);
  // As appserve's HTTP layer builds requests: headers appended one by one.
  request.headers.append("host", "127.0.0.1:8000");
  request.headers.append("user-agent", "wrk");
  request.headers.append("accept", "*/*");
  return {
    request,
    response: new Response("Hello, world!\n"),
    details: {
      remote: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 + (i % 1000) },
      protocol: "HTTP/1.1" as const,
      target: `/hello?n=${i}`,
      bodyBytes: 14,
    },
    durationMs: 0.05,
    end: new Date(),
  };
}

const entries = Array.from({ length: 1000 }, (_, i) => entry(i));
const dir = mkdtempSync(join(tmpdir(), "appserve-access-cost-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// µs per request of 100 000 requests, one per event-loop turn: the worst case
// for batching (under load a turn often finishes only a request or two).
async function loop(log: Logger | undefined): Promise<number> {
  const start = performance.now();
  for (let round = 0; round < 100; round++) {
    for (const e of entries) {
      log?.access(e);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await log?.close();
  return ((performance.now() - start) * 1000) / (100 * entries.length);
}

const on: number[] = [];
const off: number[] = [];
try {
  for (let run = 0; run < 5; run++) {
    off.push(await loop(undefined));
    on.push(await loop(new Logger({ accessLog: join(dir, `access-${run}.log`) })));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${(median(on) - median(off)).toFixed(2)}\n`);
