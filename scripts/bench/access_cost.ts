// In-process cost of one access-log line: Logger.access with gunicorn's
// default format to a real file, lines written as the worker writes them.
// Prints the µs per line (median of 5 runs, less the same loop without
// logging); run under deno or bun. --compare: the text and JSON lines, to a
// file and to syslog over UDP, taking turns (7 runs each).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setImmediate } from "node:timers";
import { Logger } from "../../mod.ts";
import { parseSyslogAddr } from "../../src/config/syslog_addr.ts";
import { Syslog } from "../../src/log/syslog.ts";
import { inetSockaddr } from "../../src/net/sockaddr.ts";
import { AF_INET } from "../../src/net/socket_constants.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";

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

/**
 * A UDP socket that takes syslog's datagrams and is never read (the kernel drops what does not
 * fit): bound through libc, since a node:dgram socket would receive them in this very process.
 */
async function sink(): Promise<{ port: number; close(): void }> {
  const libc = (await detectRuntime()).libc();
  const fd = libc.socket(AF_INET, 2, 0);
  if (fd < 0 || libc.bind(fd, inetSockaddr("127.0.0.1", 0)) < 0) throw new Error("cannot bind");
  const address = new Uint8Array(16);
  libc.getsockname(fd, address, new Uint8Array(new Uint32Array([16]).buffer));
  const port = new DataView(address.buffer).getUint16(2, false);
  return { port, close: () => libc.close(fd) };
}

async function syslogLogger(port: number, json: boolean): Promise<Logger> {
  const runtime = await detectRuntime();
  const syslog = await Syslog.open(parseSyslogAddr(`udp://127.0.0.1:${port}`), {
    facility: 1,
    prefix: "bench",
    libc: runtime.libc(),
    onProblem: (message) => process.stderr.write(`${message}\n`),
  });
  return new Logger({ syslog, format: json ? "json" : "text" });
}

if (!process.argv.includes("--compare")) {
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
} else {
  // --compare: gunicorn's line and --log-format json's to a file, and both to syslog over UDP,
  // taking turns with the loop without logging in each of 7 runs; µs per line over that loop.
  const variants: Record<string, (run: number) => Promise<Logger | undefined>> = {
    "off": () => Promise.resolve(undefined),
    "text file": (run) => Promise.resolve(new Logger({ accessLog: join(dir, `text-${run}.log`) })),
    "json file": (run) =>
      Promise.resolve(new Logger({ accessLog: join(dir, `json-${run}.log`), format: "json" })),
    "text syslog udp": () => syslogLogger(udp.port, false),
    "json syslog udp": () => syslogLogger(udp.port, true),
  };
  const udp = await sink();
  const times: Record<string, number[]> = {};
  try {
    for (let run = 0; run < 7; run++) {
      for (const [name, make] of Object.entries(variants)) {
        (times[name] ??= []).push(await loop(await make(run)));
      }
    }
  } finally {
    udp.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const off = median(times.off);
  for (const [name, values] of Object.entries(times)) {
    if (name === "off") continue;
    process.stdout.write(`${name}: ${(median(values) - off).toFixed(2)} µs a line\n`);
  }
}
