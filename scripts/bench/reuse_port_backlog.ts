// In-process cost of one reuse-port backlog read (--metrics-bind scrape, --enable-backlog-metric
// tick) on a host with many TCP sockets and a worker with many fds: this process plays both,
// holding LISTENERS listeners with CONNECTIONS unaccepted connections each (two sockets each in
// the TCP tables) and /dev/null opened up to FDS fds. Times, taking turns: the inet_diag dump
// read now, the /proc/net/tcp{,6} parse it replaced (kept here as the baseline only), and the
// /proc/PID/fd scan, which was done every read and now only until a worker's sockets are
// found. Prints ms per read, wall and CPU, each the median of ROUNDS; run under deno or bun.

import { openSync, readFileSync } from "node:fs";
import process from "node:process";
import { socketInodes, tcpListeners } from "../../src/net/listen_backlog.ts";
import { decodeSockaddr, inetSockaddr } from "../../src/net/sockaddr.ts";
import { AF_INET } from "../../src/net/socket_constants.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";

const LISTENERS = 3;
const CONNECTIONS = 2000;
const FDS = 18_000;
const ROUNDS = 15;
const runtime = await detectRuntime();
const libc = runtime.libc();
const opened: number[] = [];

function check(result: number, what: string): number {
  if (result < 0) throw new Error(`Cannot ${what}: ${libc.strerror(libc.errno())}`);
  return result;
}

for (let l = 0; l < LISTENERS; l++) {
  const fd = check(libc.socket(AF_INET, 1, 0), "open a socket");
  opened.push(fd);
  check(libc.bind(fd, inetSockaddr("127.0.0.1", 0)), "bind");
  check(libc.listen(fd, 4096), "listen");
  const address = new Uint8Array(128);
  check(libc.getsockname(fd, address, new Uint8Array(new Uint32Array([128]).buffer)), "name");
  const to = inetSockaddr("127.0.0.1", decodeSockaddr(address, 128).port);
  for (let i = 0; i < CONNECTIONS; i++) {
    const client = check(libc.socket(AF_INET, 1, 0), "open a socket");
    opened.push(client);
    check(libc.connect(client, to), "connect");
  }
}
while (opened.length < FDS) opened.push(openSync("/dev/null", "r"));

// The former reader: every listening socket's line of /proc/net/tcp and tcp6.
function procNetTcp(): number {
  let listening = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "latin1").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && f[3] === "0A") listening++;
    }
  }
  return listening;
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const reads: Record<string, () => unknown> = {
  "inet_diag dump (now)": () => tcpListeners(libc),
  "/proc/net/tcp{,6} parse (before)": procNetTcp,
  "/proc/PID/fd scan (before: every read; now: until found)": () => socketInodes(process.pid),
};
const times: Record<string, { wall: number[]; cpu: number[] }> = {};
for (const name of Object.keys(reads)) times[name] = { wall: [], cpu: [] };
const tcpLines = readFileSync("/proc/net/tcp", "latin1").split("\n").length - 1;
const listening = tcpListeners(libc)?.length;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, read] of Object.entries(reads)) {
    const [t0, c0] = [performance.now(), cpuMicros()];
    read();
    times[name].wall.push(performance.now() - t0);
    times[name].cpu.push((cpuMicros() - c0) / 1000);
  }
}
opened.forEach((fd) => libc.close(fd));
console.log(
  `${runtime.name}: ${tcpLines} lines in /proc/net/tcp, ${FDS} fds in this process, ` +
    `${listening} listening TCP sockets on the host`,
);
for (const [name, { wall, cpu }] of Object.entries(times)) {
  console.log(
    `  ${name}: ${median(wall).toFixed(2)} ms wall, ${median(cpu).toFixed(2)} ms CPU ` +
      `(median of ${ROUNDS})`,
  );
}
