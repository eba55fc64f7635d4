// In-process cost of one scrape's backlog read: a unix listener's through sock_diag (a netlink
// socket opened, one request, closed) against a TCP listener's getsockopt(TCP_INFO), taking
// turns. Prints µs per read, wall and CPU (getrusage, through process.cpuUsage), each the
// median of 7 rounds of 1000 reads; run under deno or bun.

import { mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tcpListenQueue, unixListenQueues } from "../../src/net/listen_backlog.ts";
import { inetSockaddr, unixSockaddr } from "../../src/net/sockaddr.ts";
import { AF_INET, AF_UNIX } from "../../src/net/socket_constants.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";

const READS = 1000;
const ROUNDS = 7;
const runtime = await detectRuntime();
const libc = runtime.libc();
const dir = mkdtempSync(join(tmpdir(), "appserve-backlog-bench-"));

function listener(family: number, address: Uint8Array): number {
  const fd = libc.socket(family, 1, 0);
  if (fd < 0 || libc.bind(fd, address) !== 0 || libc.listen(fd, 128) !== 0) {
    throw new Error(`Cannot listen: ${libc.strerror(libc.errno())}`);
  }
  return fd;
}

// User and system time of this process, µs.
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const unix = listener(AF_UNIX, unixSockaddr(join(dir, "app.sock")));
const tcp = listener(AF_INET, inetSockaddr("127.0.0.1", 0));
const reads = {
  unix: () => unixListenQueues(libc, [unix]).get(unix),
  tcp: () => tcpListenQueue(libc, tcp),
};
type Times = { wall: number[]; cpu: number[] };
const results: Record<"unix" | "tcp", Times> = {
  unix: { wall: [], cpu: [] },
  tcp: { wall: [], cpu: [] },
};
try {
  if (reads.unix() !== 0 || reads.tcp() !== 0) throw new Error("No backlog figure to time");
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ["unix", "tcp"] as const) {
      const [t0, c0] = [performance.now(), cpuMicros()];
      for (let i = 0; i < READS; i++) reads[kind]();
      const [t1, c1] = [performance.now(), cpuMicros()];
      results[kind].wall.push(((t1 - t0) * 1000) / READS);
      results[kind].cpu.push((c1 - c0) / READS);
    }
  }
} finally {
  libc.close(unix);
  libc.close(tcp);
  rmSync(dir, { recursive: true, force: true });
}
for (const kind of ["unix", "tcp"] as const) {
  const { wall, cpu } = results[kind];
  console.log(
    `${runtime.name} ${kind}: ${median(wall).toFixed(1)} µs wall, ` +
      `${median(cpu).toFixed(1)} µs CPU per read (median of ${ROUNDS} x ${READS})`,
  );
}
