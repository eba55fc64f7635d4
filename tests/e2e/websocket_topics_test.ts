// Bun's pub/sub reaches the sockets of one worker (or gthread thread) only: with more than one,
// the first topic a socket subscribes to in a worker is a WARNING that says so, once per worker,
// on the shared socket and under --reuse-port (Bun's own topics); with one, nothing is said.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, type Server, start, type Target } from "../_helpers.ts";
import { connect, wsUrl } from "../_ws_client.ts";
import { e2eOn } from "../_websocket.ts";

// Subscribes each socket to "room" as it opens; "data" is answered once open ran.
const BUN_PLAIN = join(FIXTURES, "websocket", "bun_plain.ts");

const WARNING =
  /\[WARNING\] WebSocket topic "room" subscribed: publish\(\) reaches only the sockets subscribed in this worker, one of (\d+), so clients of the others miss what it publishes; relay through something shared \(Redis, Postgres LISTEN\) to reach them all \(said once per worker\)/g;

/** Opens two sockets on /room, one after the other, each answered once subscribed. */
async function twoSubscribers(server: Server): Promise<void> {
  const url = await server.ready();
  for (let i = 0; i < 2; i++) {
    const c = await connect("npm-ws", wsUrl(url, "/room"));
    c.send("data");
    assert.equal(await c.next(), JSON.stringify({ path: "/room" }));
    c.close(1000);
    await c.closed;
  }
}

async function warnsPerWorker(target: Target, args: string[], servers: number): Promise<void> {
  // A port of its own: --reuse-port binds one in each worker.
  const server = start(target, [...args, "-b", `127.0.0.1:${await freePort()}`, BUN_PLAIN]);
  try {
    await twoSubscribers(server);
    await server.waitFor(WARNING);
    const said = server.all(WARNING);
    // Once per worker that got a socket: one or two lines for two sockets, never one a socket.
    assert.ok(said.length >= 1 && said.length <= Math.min(2, servers), server.output);
    for (const m of said) assert.equal(Number(m[1]), servers);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
}

e2e("pub/sub with -w 2: the first topic subscribed in a worker is a WARNING", (target) => {
  return warnsPerWorker(target, ["-w", "2"], 2);
});

e2e("pub/sub with one worker of two threads: the first topic is a WARNING", (target) => {
  return warnsPerWorker(target, ["-w", "1", "--threads", "2"], 2);
});

e2eOn("bun", "pub/sub with -w 2 under --reuse-port: Bun's own topics warn too", (target) => {
  return warnsPerWorker(target, ["-w", "2", "--reuse-port"], 2);
});

e2e("pub/sub with one worker: nothing is said", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", BUN_PLAIN]);
  try {
    await twoSubscribers(server);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
  assert.doesNotMatch(server.output, /WebSocket topic/);
});
