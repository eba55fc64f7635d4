// --worker-connections and open WebSockets (docs/websockets.md, "Worker classes"): each open
// socket counts until it closes, for every app shape and worker class, on the shared socket (a
// burst past the limit is not served, not even the part the worker accepted before it stopped
// accepting) and under --reuse-port (further upgrades and requests wait their turn); the sync
// worker under --reuse-port is held by its one socket.

import assert from "node:assert/strict";
import { join } from "node:path";
import net from "node:net";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  sleep,
  start,
  type Target,
} from "../_helpers.ts";
import { parsePrometheus, sampleValue } from "../_prometheus.ts";
import { type Client, connect, wsUrl } from "../_ws_client.ts";

const APPS = join(FIXTURES, "websocket");
const NEUTRAL = join(APPS, "neutral.ts");
const DENO_PLAIN = join(APPS, "deno_plain.ts");
const HONO_DENO = join(APPS, "hono_deno.ts");
const DENO_SLOW_UPGRADE = join(APPS, "deno_slow_upgrade.ts");
const BUN_PLAIN = join(APPS, "bun_plain.ts");
const HONO_BUN = join(APPS, "hono_bun.ts");

/** The app shapes each runtime's workers run, with the path that upgrades. */
function shapes(target: Target): [string, string][] {
  return target.workers === "deno"
    ? [[DENO_PLAIN, "/"], [HONO_DENO, "/ws"], [NEUTRAL, "/"], [BUN_PLAIN, "/"]]
    : [[BUN_PLAIN, "/"], [HONO_BUN, "/ws"], [NEUTRAL, "/"]];
}

const LIMIT = 3;

/** Client sockets opened at once, and how many of them are open (their handshakes came). */
function burst(url: string, count: number): { opened: Client[]; all: Promise<Client[]> } {
  const opened: Client[] = [];
  const all = Promise.all(
    Array.from({ length: count }, async () => {
      const c = await connect("npm-ws", url);
      opened.push(c);
      return c;
    }),
  );
  return { opened, all };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await sleep(50);
  assert.ok(check(), what);
}

/**
 * Twice LIMIT sockets at once on a worker with --worker-connections LIMIT: LIMIT open, the rest
 * not served (a moment later still not), one more once one closes, and every one in the end.
 */
async function heldAtTheLimit(url: string, mode: string): Promise<void> {
  const { opened, all } = burst(url, 2 * LIMIT);
  await until(() => opened.length >= LIMIT, `${mode}: ${LIMIT} sockets open`);
  await sleep(600);
  assert.equal(opened.length, LIMIT, `${mode}: no more than --worker-connections open`);
  // The open ones work meanwhile.
  opened[0].send("still here");
  assert.equal(await opened[0].next(), "still here", mode);
  opened[0].close(1000);
  await until(() => opened.length >= LIMIT + 1, `${mode}: one more open after a close`);
  await sleep(300);
  assert.equal(opened.length, LIMIT + 1, `${mode}: one close lets one in`);
  for (let closed = 1; closed < 2 * LIMIT; closed++) {
    await until(() => opened.length > closed, `${mode}: the next one opens`);
    opened[closed].close(1000);
  }
  for (const c of await all) await c.closed;
}

/** Each app shape on one worker with --worker-connections LIMIT (`flags` added): held at it. */
async function everyShape(target: Target, flags: string[]): Promise<void> {
  const reusePort = flags.includes("--reuse-port");
  for (const [app, path] of shapes(target)) {
    // Bun's shape under --reuse-port on Deno workers is refused (docs/websockets.md).
    if (reusePort && target.workers === "deno" && app === BUN_PLAIN) continue;
    const port = await freePort();
    const server = start(target, [
      "-w",
      "1",
      "--worker-connections",
      String(LIMIT),
      ...flags,
      "-b",
      `127.0.0.1:${port}`,
      app,
    ]);
    const url = await server.ready();
    await heldAtTheLimit(wsUrl(url, path), `${app} ${reusePort ? "--reuse-port" : "shared"}`);
    assert.equal((await server.stop()).code, 0);
  }
}

e2e(
  "--worker-connections on the shared socket: open WebSockets count until they close, every " +
    "app shape, and a burst past the limit waits",
  (target) => everyShape(target, []),
);

e2e(
  "--worker-connections under --reuse-port: open WebSockets keep their places until they close, " +
    "every app shape, and further upgrades wait",
  (target) => everyShape(target, ["--reuse-port"]),
);

e2e(
  "--worker-connections under gthread: open WebSockets of both threads count until they close",
  async (target) => {
    const server = start(target, [
      "-k",
      "gthread",
      "--threads",
      "2",
      "-w",
      "1",
      "--worker-connections",
      String(LIMIT),
      "-b",
      "127.0.0.1:0",
      NEUTRAL,
    ]);
    const url = await server.ready();
    await heldAtTheLimit(wsUrl(url), "gthread");
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "--worker-connections under gthread: a burst's surplus handed between threads is served as " +
    "either thread frees a place",
  async (target) => {
    // Parts of 2 and 1: most of a burst lands on a thread without room, much of it handed over
    // from its sibling, and the places free on one thread or the other.
    const limit = 3;
    const server = start(target, [
      "-k",
      "gthread",
      "--threads",
      "2",
      "-w",
      "1",
      "--worker-connections",
      String(limit),
      "-b",
      "127.0.0.1:0",
      NEUTRAL,
    ]);
    const url = await server.ready();
    const count = 12;
    for (let round = 1; round <= 4; round++) {
      const { opened, all } = burst(wsUrl(url), count);
      // Long enough for the threads' ticks to hand waiting connections over.
      await until(() => opened.length >= limit, `round ${round}: ${limit} sockets open`);
      await sleep(600);
      // Every place is taken again after each close, the others staying open meanwhile.
      for (let closed = 0; closed < count; closed++) {
        const filled = Math.min(count, closed + limit);
        await until(() => opened.length >= filled, `round ${round}: socket ${filled} opens`);
        assert.ok(opened.length <= closed + limit, "no more than --worker-connections open");
        opened[closed].close(1000);
      }
      for (const c of await all) await c.closed;
    }
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "the sync worker under --reuse-port: an open WebSocket holds the worker until it closes",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      "-k",
      "sync",
      "-w",
      "1",
      "--reuse-port",
      "-b",
      `127.0.0.1:${port}`,
      NEUTRAL,
    ]);
    const url = await server.ready();
    const held = await connect("npm-ws", wsUrl(url));
    held.send("holding");
    assert.equal(await held.next(), "holding");
    let answered = false;
    const waiting = get(url).then((a) => {
      answered = true;
      return a;
    });
    const second = burst(wsUrl(url), 1);
    await sleep(600);
    assert.equal(answered, false, "a request waits while the socket is open");
    assert.equal(second.opened.length, 0, "a second socket waits while the first is open");
    held.close(1000);
    assert.match((await waiting).body, /neutral pid/);
    const [next] = await second.all;
    next.send("next");
    assert.equal(await next.next(), "next");
    next.close(1000);
    await next.closed;
    assert.equal((await server.stop()).code, 0);
  },
);

/** `answer` within `ms`, else a failure saying `what` (a worker stuck for good never answers). */
function within<T>(answer: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not served: ${what}`)), ms);
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

e2e(
  "the sync worker under --reuse-port: a client that leaves during an async upgrade handler " +
    "gives its place back (its socket never opens, nor closes), and its session is ended: " +
    "its access line written, the open-WebSocket gauge back to 0",
  async (target) => {
    // Deno.upgradeWebSocket: Deno workers only.
    if (target.workers !== "deno") return;
    const port = await freePort();
    const metricsPort = await freePort();
    const server = start(target, [
      "-k",
      "sync",
      "-w",
      "1",
      "--reuse-port",
      "--metrics-bind",
      `127.0.0.1:${metricsPort}`,
      "--access-logfile",
      "-",
      // Deno.serve's shutdown() waits for good on an upgrade request whose client left (Deno
      // 2.9.6, whatever the answer): the stop cuts it.
      "--graceful-timeout",
      "1",
      "-b",
      `127.0.0.1:${port}`,
      DENO_SLOW_UPGRADE,
    ]);
    const url = await server.ready();
    // Sends the upgrade and leaves at once, before the app returns its 101.
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end(
          "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
          () => {
            socket.destroy();
            resolve();
          },
        );
      });
      socket.on("error", reject);
    });
    assert.match(
      (await within(get(url), 10_000, "a request after the client left")).body,
      /deno slow upgrade pid/,
    );
    const next = await within(connect("npm-ws", wsUrl(url)), 10_000, "an upgrade after it");
    next.send("next");
    assert.equal(await next.next(), "next");
    next.close(1000);
    await next.closed;
    // Both sessions logged (the one whose client left too), and neither counted as open.
    await eventually(async () => {
      const scrape = await get(`http://127.0.0.1:${metricsPort}/metrics`);
      return sampleValue(parsePrometheus(scrape.body), "appserve_websockets_open") === 0;
    }, "no WebSocket counted as open");
    await eventually(
      () => server.all(/"GET \/ HTTP\/1\.1" 101 /g).length === 2,
      "an access line for each upgrade",
    );
    assert.equal((await server.stop()).code, 0);
  },
);
