// Bun's pub/sub reaches the sockets of one worker, or of one gthread thread (each thread imports
// the app and runs a hub of its own): with more than one, the first topic a socket subscribes to
// in a worker (or thread) is a WARNING that says so, once per worker (or thread), on the shared
// socket and under --reuse-port (Bun's own topics); with one, nothing is said.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, type Server, start, type Target } from "../_helpers.ts";
import { type Client, connect, wsUrl } from "../_ws_client.ts";
import { e2eOn } from "../_websocket.ts";

// Subscribes each socket to "room" as it opens; "data" is answered once open ran; "instance"
// names the import of the app (the worker's, or the gthread thread's) that serves the socket.
const BUN_PLAIN = join(FIXTURES, "websocket", "bun_plain.ts");

const RELAY = "so clients of the others miss what it publishes; relay through something shared " +
  "\\(Redis, Postgres LISTEN\\) to reach them all";
/** Workers of one thread each: `m[1]` is how many. */
const PER_WORKER = new RegExp(
  '\\[WARNING\\] WebSocket topic "room" subscribed: publish\\(\\) reaches only the sockets ' +
    `subscribed in this worker, one of (\\d+), ${RELAY} \\(said once per worker\\)`,
  "g",
);
/** gthread threads: `m[1]` says how many, and where. */
const PER_THREAD = new RegExp(
  '\\[WARNING\\] WebSocket topic "room" subscribed: publish\\(\\) reaches only the sockets ' +
    `subscribed in this thread, one of ([^,]+), ${RELAY} \\(said once per thread\\)`,
  "g",
);

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

/** The warning `pattern` is said, each time with `reach` (its first group), once per hub at most. */
async function warnsOnce(
  target: Target,
  args: string[],
  pattern: RegExp,
  reach: string,
): Promise<void> {
  // A port of its own: --reuse-port binds one in each worker.
  const server = start(target, [...args, "-b", `127.0.0.1:${await freePort()}`, BUN_PLAIN]);
  try {
    await twoSubscribers(server);
    await server.waitFor(pattern);
    const said = server.all(pattern);
    // Once per hub that got a socket: one or two lines for two sockets, never one a socket.
    assert.ok(said.length >= 1 && said.length <= 2, server.output);
    for (const m of said) assert.equal(m[1], reach);
    // all(), not assert.match: a global pattern's lastIndex would carry over to the next test.
    assert.equal(server.all(pattern === PER_THREAD ? PER_WORKER : PER_THREAD).length, 0);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
}

e2e("pub/sub with -w 2: the first topic subscribed in a worker is a WARNING", (target) => {
  return warnsOnce(target, ["-w", "2"], PER_WORKER, "2");
});

// It said "in this worker, one of 2" here, of the one worker, and twice ("once per worker").
e2e(
  "pub/sub with one worker of two threads: the first topic in a thread is a WARNING",
  (target) => {
    return warnsOnce(target, ["-w", "1", "--threads", "2"], PER_THREAD, "2 threads of the worker");
  },
);

e2e("pub/sub with two workers of two threads each: the WARNING counts the threads", (target) => {
  return warnsOnce(
    target,
    ["-w", "2", "--threads", "2"],
    PER_THREAD,
    "4 (2 threads in each of 2 workers)",
  );
});

e2eOn("bun", "pub/sub with -w 2 under --reuse-port: Bun's own topics warn too", (target) => {
  return warnsOnce(target, ["-w", "2", "--reuse-port"], PER_WORKER, "2");
});

/** A client on /room (subscribed to "room") and the import of the app that serves it. */
interface Member {
  client: Client;
  instance: string;
}

async function member(url: string): Promise<Member> {
  const client = await connect("npm-ws", wsUrl(url, "/room"));
  client.send("instance");
  return { client, instance: String(await client.next()) };
}

// What the warning above rests on: each gthread thread runs a hub of its own.
e2e(
  "gthread: publish() reaches the sockets of its thread, not the worker's other thread",
  async (target) => {
    const server = start(target, ["-w", "1", "--threads", "2", "-b", "127.0.0.1:0", BUN_PLAIN]);
    const members: Member[] = [];
    try {
      const url = await server.ready(1);
      // The threads share out open sockets (src/worker/thread_board.ts): a few sockets make two
      // on one thread and one on the other.
      const byThread = () => Map.groupBy(members, (m) => m.instance);
      while (members.length < 10) {
        members.push(await member(url));
        const groups = [...byThread().values()];
        if (groups.length === 2 && groups.some((g) => g.length >= 2)) break;
      }
      const groups = [...byThread().values()].sort((a, b) => b.length - a.length);
      assert.equal(groups.length, 2, `sockets on ${groups.length} app instance(s) of 2 threads`);
      assert.ok(groups[0].length >= 2, JSON.stringify(members.map((m) => m.instance)));
      const [publisher, sibling] = groups[0];
      const [other] = groups[1];
      publisher.client.send("publish:hi");
      assert.equal(await sibling.client.next(), "hi");
      // Same-hub delivery is one synchronous loop: had it reached `other`, "hi" would come first.
      other.client.send("instance");
      assert.equal(await other.client.next(), other.instance);
    } finally {
      for (const m of members) m.client.close(1000);
      await Promise.all(members.map((m) => m.client.closed));
      assert.equal((await server.stop()).code, 0);
    }
    assert.ok(server.all(PER_THREAD).length > 0, server.output);
  },
);

// --threads counts only under gthread: an async worker runs one hub, whatever --threads says.
e2e("pub/sub with one async worker and --threads 2: nothing is said", async (target) => {
  const args = ["-w", "1", "-k", "async", "--threads", "2", "-b", "127.0.0.1:0"];
  const server = start(target, [...args, BUN_PLAIN]);
  try {
    await server.waitFor(/\[INFO\] Using worker: async/);
    await twoSubscribers(server);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
  assert.doesNotMatch(server.output, /WebSocket topic/);
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
