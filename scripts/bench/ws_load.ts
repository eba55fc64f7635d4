// The WebSocket load client of scripts/bench/websocket.ts, run under Bun: Bun's own WebSocket
// client (native framing, so the client costs little next to the server under test). Reads the
// server's CPU itself, over exactly the measured window: every thread of every pid given, from
// /proc/PID/task/TID/schedstat (ns).
//
//   bun ws_load.ts echo  URL PIDS SECONDS CONNS WINDOW SIZE
//     CONNS sockets each keep WINDOW text messages of SIZE bytes in flight (a reply sends the next)
//   bun ws_load.ts setup URL PIDS SECONDS LOOPS
//     LOOPS loops each open a socket, send one message, wait for its echo, close (1000), again
//
// Prints one JSON line: {"count", "perSec", "cpuUs" (server CPU µs per message or setup), "errors"}.

import process from "node:process";
import { cpuNanos } from "../../tests/_procs.ts";

const [mode, url, pidList, secondsText, ...rest] = process.argv.slice(2);
const pids = pidList.split(",").map(Number);
const seconds = Number(secondsText);
const WARM_UP_MS = 500;

function cpuNs(): number {
  let ns = 0;
  for (const pid of pids) ns += cpuNanos(pid);
  return ns;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let errors = 0;

/**
 * After the warm-up, the measured window: `measuring(true)`, SECONDS, `measuring(false)`; its
 * length in seconds and the servers' CPU over it.
 */
async function measured(measuring: (on: boolean) => void): Promise<{ dt: number; cpuNs: number }> {
  await sleep(WARM_UP_MS);
  const c0 = cpuNs();
  const t0 = performance.now();
  measuring(true);
  await sleep(seconds * 1000);
  measuring(false);
  return { dt: (performance.now() - t0) / 1000, cpuNs: cpuNs() - c0 };
}

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
  });
}

/** Counts echoes between start and stop; returns the count over the measured window. */
async function echo(conns: number, window: number, size: number) {
  const message = "x".repeat(size);
  const sockets = await Promise.all(Array.from({ length: conns }, open));
  let count = 0;
  let measuring = false;
  for (const ws of sockets) {
    ws.onmessage = () => {
      if (measuring) count++;
      ws.send(message);
    };
    ws.onerror = () => errors++;
    for (let i = 0; i < window; i++) ws.send(message);
  }
  const { dt, cpuNs: serverNs } = await measured((on) => measuring = on);
  for (const ws of sockets) ws.close();
  return { count, dt, cpuNs: serverNs };
}

function oneSetup(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => ws.send("x");
    ws.onmessage = () => ws.close(1000);
    ws.onclose = () => resolve();
    ws.onerror = () => errors++;
  });
}

async function setups(loops: number) {
  let count = 0;
  let measuring = false;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      await oneSetup();
      if (measuring) count++;
    }
  };
  const running = Array.from({ length: loops }, loop);
  const { dt, cpuNs: serverNs } = await measured((on) => measuring = on);
  stop = true;
  await Promise.all(running);
  return { count, dt, cpuNs: serverNs };
}

const r = mode === "echo"
  ? await echo(Number(rest[0]), Number(rest[1]), Number(rest[2]))
  : await setups(Number(rest[0]));
process.stdout.write(
  JSON.stringify({
    count: r.count,
    perSec: Math.round(r.count / r.dt),
    cpuUs: r.count ? +(r.cpuNs / 1000 / r.count).toFixed(2) : null,
    errors,
  }) + "\n",
);
process.exit(0);
