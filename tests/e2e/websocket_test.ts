// WebSockets end to end (docs/websockets.md): each app shape unchanged on the workers it runs on,
// echo with two client implementations, the message limit, graceful and quick stops, many
// sockets on one worker, the worker classes, --reuse-port, the access log and idle pings.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import process from "node:process";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  pidOf,
  type Server,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";
import { rawConnect, rawExchange } from "../_raw.ts";
import { type Client, CLIENT_KINDS, connect, wsUrl } from "../_ws_client.ts";
import { openRaw, readMessages } from "../_ws_raw.ts";
import { e2eOn } from "../_websocket.ts";

const APPS = join(FIXTURES, "websocket");
const NEUTRAL = join(APPS, "neutral.ts");
const DENO_PLAIN = join(APPS, "deno_plain.ts");
const HONO_DENO = join(APPS, "hono_deno.ts");
const BUN_PLAIN = join(APPS, "bun_plain.ts");
const HONO_BUN = join(APPS, "hono_bun.ts");

/**
 * Registers the test only for the targets whose workers run on `workers`: Deno's shapes need
 * Deno workers (Bun has no Deno global), Hono's Bun adapter needs Bun.
 */
const BYTES = new Uint8Array([0, 1, 2, 253, 254, 255]);

/** Text and binary round trips, then a close the server starts (code 4001 from the app). */
async function echoes(client: Client, closeByServer = true): Promise<void> {
  client.send("hello");
  assert.equal(await client.next(), "hello");
  client.send(BYTES);
  assert.deepEqual(await client.next(), BYTES);
  if (!closeByServer) return client.close(1000);
  client.send("close:4001");
  const closed = await client.closed;
  assert.equal(closed.code, 4001);
  assert.equal(closed.reason, "asked to");
}

async function echoesWithBothClients(url: string, path = "/", closeByServer = true) {
  for (const kind of CLIENT_KINDS) {
    await echoes(await connect(kind, wsUrl(url, path)), closeByServer);
  }
}

e2e(
  "upgradeWebSocket from appserve echoes text and binary to Deno's WebSocket and npm ws, " +
    "and the session's access line says 101 with bytes and the HTTP layer still serves",
  async (target) => {
    const server = start(target, [
      "-w",
      "1",
      "-b",
      "127.0.0.1:0",
      "--access-logfile",
      "-",
      NEUTRAL,
    ]);
    const url = await server.ready();
    await echoesWithBothClients(url);
    // Each session logs once, when it ends: status 101 and the bytes it sent (frames included).
    await eventually(
      () => server.all(/"GET \/ HTTP\/1\.1" 101 (\d+)/g).length === 2,
      "two access lines with 101",
    );
    for (const m of server.all(/"GET \/ HTTP\/1\.1" 101 (\d+)/g)) assert.ok(Number(m[1]) > 0);
    assert.match((await get(url)).body, /neutral pid \d+/);
    assert.equal((await server.stop()).code, 0);
  },
);

e2eOn(
  "deno",
  "Deno.upgradeWebSocket and hono/deno apps run unchanged on Deno workers",
  async (t) => {
    for (const [app, path] of [[DENO_PLAIN, "/"], [HONO_DENO, "/ws"]]) {
      const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", app]);
      const url = await server.ready();
      await echoesWithBothClients(url, path, app === DENO_PLAIN);
      if (app === HONO_DENO) {
        // hono/deno asks for the client's first subprotocol.
        const c = await connect("npm-ws", wsUrl(url, path), { protocols: ["chat", "other"] });
        assert.equal(c.protocol, "chat");
        c.close(1000);
        await c.closed;
      }
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2e(
  "an app in Bun's shape (server.upgrade, websocket handlers, data, publish, drain) runs unchanged",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", BUN_PLAIN]);
    const url = await server.ready();
    await echoesWithBothClients(url, "/chat");
    // As Bun.serve: the client's first subprotocol when the app names none.
    const p = await connect("npm-ws", wsUrl(url, "/p"), { protocols: ["chat", "other"] });
    assert.equal(p.protocol, "chat");
    p.close(1000);
    await p.closed;
    const a = await connect("native", wsUrl(url, "/room"));
    const b = await connect("npm-ws", wsUrl(url, "/room"));
    a.send("data");
    assert.equal(await a.next(), JSON.stringify({ path: "/room" }));
    // ws.publish reaches the other subscriber, not the sender; server.publish reaches both.
    a.send("publish:hi");
    assert.equal(await b.next(), "hi");
    assert.match((await get(`${url}/broadcast`)).body, /^sent \d+/);
    assert.equal(await a.next(), "broadcast");
    assert.equal(await b.next(), "broadcast");
    a.close(1000);
    b.close(1000);
    await Promise.all([a.closed, b.closed]);
    // send() reports backpressure and `drain` follows once the client read the backlog.
    const filler = await connect("npm-ws", wsUrl(url, "/fill"));
    filler.send("fill");
    let m: unknown;
    do m = await filler.next(); while (m instanceof Uint8Array);
    assert.equal(m, "drained");
    filler.close(1000);
    await filler.closed;
    assert.equal((await server.stop()).code, 0);
  },
);

e2eOn("bun", "Hono's createBunWebSocket app runs unchanged on Bun workers", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", HONO_BUN]);
  const url = await server.ready();
  await echoesWithBothClients(url, "/ws", false);
  assert.equal((await server.stop()).code, 0);
});

e2e("a 16 MiB message echoes, and one past --websocket-max-message closes with 1009", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
  const url = await server.ready();
  const big = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 255;
  const client = await connect("npm-ws", wsUrl(url));
  client.send(big);
  const back = await client.next(60_000) as Uint8Array;
  assert.equal(back.length, big.length);
  assert.deepEqual(back.subarray(0, 8192), big.subarray(0, 8192));
  client.send(new Uint8Array(big.length + 1));
  assert.equal((await client.closed).code, 1009);
  assert.equal((await server.stop()).code, 0);

  const small = start(t, [
    "-w",
    "1",
    "-b",
    "127.0.0.1:0",
    "--websocket-max-message",
    "1024",
    NEUTRAL,
  ]);
  const smallUrl = await small.ready();
  for (const kind of CLIENT_KINDS) {
    const c = await connect(kind, wsUrl(smallUrl));
    c.send("x".repeat(1024));
    assert.equal(await c.next(), "x".repeat(1024));
    c.send("x".repeat(1025));
    assert.equal((await c.closed).code, 1009);
  }
  // The worker keeps serving.
  await echoes(await connect("native", wsUrl(smallUrl)));
  assert.equal((await small.stop()).code, 0);
});

e2e(
  "a graceful stop (TERM) sends 1001 to open WebSockets; a quick stop (INT) drops them",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
    const url = await server.ready();
    const clients = await Promise.all(CLIENT_KINDS.map((k) => connect(k, wsUrl(url))));
    clients.push(await connect("native", wsUrl(url, "/report-close")));
    for (const c of clients) {
      c.send("still here");
      assert.equal(await c.next(), "still here");
    }
    server.signal("SIGTERM");
    for (const c of clients) assert.equal((await c.closed).code, 1001);
    const stopped = await server.exited;
    assert.equal(stopped.code, 0);
    // The closing handshake completed: the client's 1001 came back, the socket was not cut (1006).
    assert.match(stopped.stderr, /neutral: the server saw close 1001\n/);

    const quick = start(target, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
    const quickUrl = await quick.ready();
    const c = await connect("npm-ws", wsUrl(quickUrl));
    quick.signal("SIGINT");
    // Dropped without a close frame.
    assert.equal((await c.closed).code, 1006);
    await quick.exited;
  },
);

e2e("1000 WebSockets stay open at once on one async worker", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
  const url = await server.ready(1);
  const worker = await server.onlyWorker();
  const clients: Client[] = [];
  // In batches, so the listen backlog never overflows.
  for (let i = 0; i < 1000; i += 100) {
    clients.push(
      ...await Promise.all(
        Array.from({ length: 100 }, (_, k) => connect(k % 2 ? "native" : "npm-ws", wsUrl(url))),
      ),
    );
  }
  clients.forEach((c, i) => c.send(`m${i}`));
  const answers = await Promise.all(clients.map((c) => c.next()));
  answers.forEach((a, i) => assert.equal(a, `m${i}`));
  for (const c of clients) c.close(1000);
  await Promise.all(clients.map((c) => c.closed));
  assert.deepEqual(childPids(server.pid), [worker]);
  assert.equal((await server.stop()).code, 0);
});

e2e(
  "WebSockets on gthread threads and on a sync worker (which the socket holds until it closes)",
  async (target) => {
    const threads = start(target, [
      "-k",
      "gthread",
      "--threads",
      "2",
      "-w",
      "1",
      "-b",
      "127.0.0.1:0",
      "--access-logfile",
      "-",
      NEUTRAL,
    ]);
    const url = await threads.ready();
    await echoesWithBothClients(url);
    // Sessions on two threads at once; graceful stop reaches each thread's sockets.
    const open = await Promise.all([connect("native", wsUrl(url)), connect("npm-ws", wsUrl(url))]);
    for (const c of open) {
      c.send("on a thread");
      assert.equal(await c.next(), "on a thread");
    }
    await threads.waitFor(/" 101 \d+/);
    threads.signal("SIGTERM");
    for (const c of open) assert.equal((await c.closed).code, 1001);
    assert.equal((await threads.exited).code, 0);

    const sync = start(target, ["-k", "sync", "-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
    const syncUrl = await sync.ready();
    const held = await connect("npm-ws", wsUrl(syncUrl));
    held.send("holding");
    assert.equal(await held.next(), "holding");
    // The worker's one connection is the socket: a request waits until it closes.
    let answered = false;
    const waiting = get(syncUrl).then((a) => {
      answered = true;
      return a;
    });
    await sleep(500);
    assert.equal(answered, false);
    held.close(1000);
    assert.match((await waiting).body, /neutral pid/);
    assert.equal((await sync.stop()).code, 0);
  },
);

e2e(
  "--reuse-port: the native servers' WebSockets for the runtime's shape and for " +
    "upgradeWebSocket from appserve, one access line per session, 1001 on TERM",
  async (target) => {
    for (const app of [target.workers === "deno" ? DENO_PLAIN : BUN_PLAIN, NEUTRAL]) {
      const port = await freePort();
      const server = start(target, [
        "-w",
        "1",
        "--reuse-port",
        "-b",
        `127.0.0.1:${port}`,
        "--access-logfile",
        "-",
        app,
      ]);
      const url = await server.ready();
      await echoesWithBothClients(url);
      // One access line per session, once it ended.
      await eventually(
        () => server.all(/"GET \/ HTTP\/1\.1" 101 /g).length === 2,
        "two access lines with 101",
      );
      const held = await connect("npm-ws", wsUrl(url));
      held.send("x");
      assert.equal(await held.next(), "x");
      server.signal("SIGTERM");
      assert.equal((await held.closed).code, 1001);
      assert.equal((await server.exited).code, 0);
    }
  },
);

const BYTES_LOGGER = join(FIXTURES, "loggers", "bytes_logger.ts");

e2e(
  "the access line of a session has the bytes each way in both socket modes: frames on the " +
    "shared socket, message payloads (UTF-8 for text) under --reuse-port",
  async (target) => {
    const runtimeShape = target.workers === "deno" ? DENO_PLAIN : BUN_PLAIN;
    for (
      const [app, reusePort] of [[NEUTRAL, false], [NEUTRAL, true], [runtimeShape, true]] as const
    ) {
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "-b", `127.0.0.1:${port}`, "--access-logfile", "-"],
        ...["--logger-class", `${BYTES_LOGGER}:BytesLogger`],
        ...(reusePort ? ["--reuse-port"] : []),
        app,
      ]);
      const url = await server.ready();
      const mode = `${app} ${reusePort ? "--reuse-port" : "shared"}`;
      if (app === NEUTRAL) {
        // send() before the socket opens throws, as Deno's does.
        const early = await connect("npm-ws", wsUrl(url, "/early"));
        assert.equal(await early.next(), "early: InvalidStateError", mode);
        early.close(1000);
        await early.closed;
      }
      const client = await connect("npm-ws", wsUrl(url, "/s"));
      // 6 bytes of UTF-8 in 5 UTF-16 units, then 6 bytes of binary: 12 each way.
      client.send("héllo");
      assert.equal(await client.next(), "héllo");
      client.send(BYTES);
      assert.deepEqual(await client.next(), BYTES);
      let expected = [12, 12];
      if (app === NEUTRAL) {
        // A Blob counts its bytes (11 in, 6 out); a send() after the app's close() is dropped,
        // uncounted and unthrown (10 in).
        client.send("blob:héllo");
        assert.deepEqual(await client.next(), new TextEncoder().encode("héllo"), mode);
        client.send("close-send");
        assert.equal((await client.closed).code, 4002, mode);
        await assert.rejects(client.next(200), /closed \(4002\)/, mode);
        expected = [33, 18];
      } else {
        client.close(1000);
        await client.closed;
      }
      const m = await server.waitFor(/^bytes \/s 101 in=(\d+) out=(\d+)$/m);
      const what = `${mode}: ${m[0]}`;
      assert.doesNotMatch(server.output, /send after close threw/, what);
      if (reusePort) {
        assert.deepEqual([Number(m[1]), Number(m[2])], expected, what);
      } else {
        // Frame heads, the client's masks and the close frames come on top.
        assert.ok(Number(m[1]) > 12 && Number(m[2]) > 12, what);
      }
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2eOn(
  "deno",
  "--reuse-port on Deno workers: an app in Bun's shape serves plain requests and refuses an " +
    "upgrade with a 500 that says why",
  async (target) => {
    const port = await freePort();
    const server = start(target, ["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, BUN_PLAIN]);
    const url = await server.ready();
    assert.match((await get(url)).body, /bun plain pid/);
    await assert.rejects(connect("npm-ws", wsUrl(url)), /unexpected response 500/);
    await server.waitFor(/server\.upgrade\(\) \(Bun's WebSocket shape\) needs Bun workers/);
    assert.equal((await server.stop()).code, 0);
  },
);

e2eOn(
  "bun",
  "--reuse-port on Bun workers behind a trusted proxy (X-Forwarded-For from 127.0.0.1): " +
    "server.upgrade(), publish() and requestIP() are Bun's, with the forwarded client",
  async (target) => {
    const port = await freePort();
    const server = start(target, ["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, BUN_PLAIN]);
    await server.ready();
    const forwarded = { "x-forwarded-for": "10.1.2.3" };
    const [status, ip] = await rawGet(
      port,
      "/ip",
      "X-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n",
    );
    assert.equal(status, 200);
    assert.equal(JSON.parse(ip).address, "10.1.2.3");
    const opened = await openRaw(port, "/", forwarded);
    assert.equal(opened.status, 101);
    opened.socket.write(textFrame("hello"));
    assert.deepEqual(await readMessages(opened, 1), ["hello"]);
    // The open socket is subscribed to "room": a forwarded request's publish() reaches it.
    const [, sent] = await rawGet(
      port,
      "/broadcast",
      "X-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n",
    );
    // Bun's publish() says the bytes it sent; 0 would be a publish to nobody.
    assert.match(sent, /^sent [1-9]\d*\n$/);
    assert.deepEqual(await readMessages(opened, 1), ["broadcast"]);
    opened.socket.destroy();
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "--websocket-idle-timeout closes a socket that answers no ping, while heartbeats keep the " +
    "worker alive",
  async (target) => {
    const server = start(target, [
      "-w",
      "1",
      "-t",
      "2",
      "--websocket-idle-timeout",
      "2",
      "-b",
      "127.0.0.1:0",
      NEUTRAL,
    ]);
    const url = await server.ready(1);
    const worker = pidOf(await get(url));
    const mute = await connect("npm-ws", wsUrl(url), { noPong: true });
    const polite = await connect("npm-ws", wsUrl(url));
    // A close frame, as from Deno.serve (websocket_stop_test.ts has the raw frames).
    assert.equal((await mute.closed).code, 1001);
    // The one that answers pings is still open, and the worker was never taken for stuck.
    polite.send("still");
    assert.equal(await polite.next(), "still");
    assert.ok(alive(worker));
    assert.doesNotMatch(server.stderr, /WORKER TIMEOUT/);
    polite.close(1000);
    await polite.closed;
    assert.equal((await server.stop()).code, 0);
  },
);

/** The status and Sec-WebSocket-Version of the answer to an upgrade request so changed. */
async function handshake(
  port: number,
  changes: Record<string, string | null>,
): Promise<[number, string | null]> {
  // The head alone: Deno.serve keeps the connection after a refusal, appserve's layer closes it.
  const o = await openRaw(port, "/", changes);
  o.socket.destroy();
  return [o.status, o.headers["sec-websocket-version"] ?? null];
}

e2e(
  "a bad handshake gets 400 without Sec-WebSocket-Key and 426 with Sec-WebSocket-Version: 13 " +
    "for any version but 13, in both socket modes; the worker keeps serving",
  async (t) => {
    const runtimeShape = t.workers === "deno" ? DENO_PLAIN : BUN_PLAIN;
    const runs = [[NEUTRAL, false], [NEUTRAL, true], [runtimeShape, false], [runtimeShape, true]];
    for (const [app, reusePort] of runs as [string, boolean][]) {
      const port = await freePort();
      const server = start(t, [
        "-w",
        "1",
        ...(reusePort ? ["--reuse-port"] : []),
        "-b",
        `127.0.0.1:${port}`,
        "--access-logfile",
        "-",
        app,
      ]);
      const url = await server.ready();
      const mode = `${app} ${reusePort ? "--reuse-port" : "shared socket"}`;
      assert.deepEqual(await handshake(port, { "sec-websocket-key": null }), [400, null], mode);
      for (const version of ["12", "8", null]) {
        assert.deepEqual(
          await handshake(port, { "sec-websocket-version": version }),
          [426, "13"],
          `${mode}, version ${version}`,
        );
      }
      // The refusal says `connection: close` exactly when the connection ends after it (on
      // Deno.serve it goes on): the request pipelined behind it is answered only if not.
      const a = await rawExchange(
        port,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n" +
          "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      const head = a.text.slice(0, a.text.indexOf("\r\n\r\n") + 2).toLowerCase();
      const answers = a.text.match(/HTTP\/1\.1 \d{3} /g)?.length;
      assert.equal(a.status, 426, mode);
      assert.equal(head.includes("\r\nconnection: close\r\n"), answers === 1, `${mode}: ${a.text}`);
      await echoes(await connect("native", wsUrl(url)));
      // appserve answers it, not the native server: the access log has it in both modes.
      await server.waitFor(/"GET \/ HTTP\/1\.1" 426 /);
      assert.equal((await server.stop()).code, 0);
    }
  },
);

const FALLBACK = join(APPS, "fallback.ts");

/** The status and body of the first answer to a GET of `path` with these extra header lines. */
async function rawGet(port: number, path: string, lines: string): Promise<[number, string]> {
  const a = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n${lines}\r\n`);
  const body = a.text.slice(a.text.indexOf("\r\n\r\n") + 4);
  return [a.status, /^[0-9a-f]+\r\n/.test(body) ? body.split("\r\n")[1] : body];
}

e2e(
  "a request that asks for no WebSocket is not refused: upgradeWebSocket throws (Deno's words " +
    "on Deno workers) and server.upgrade() says false, so the app's fallback answers, in both " +
    "socket modes",
  async (target) => {
    for (const reusePort of [false, true]) {
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "-b", `127.0.0.1:${port}`],
        ...(reusePort ? ["--reuse-port"] : []),
        FALLBACK,
      ]);
      await server.ready();
      const mode = reusePort ? "--reuse-port" : "shared socket";
      const plain = await rawGet(port, "/", "Connection: close\r\n");
      const h2c = await rawGet(port, "/", "Connection: Upgrade, close\r\nUpgrade: h2c\r\n");
      for (const [what, [status, body]] of [["plain", plain], ["h2c", h2c]] as const) {
        assert.equal(status, 200, `${mode} ${what}: ${body}`);
        if (target.workers === "deno") {
          assert.equal(
            body,
            "fallback: Invalid Header: 'upgrade' header must contain 'websocket'\n",
            `${mode} ${what}`,
          );
        } else {
          assert.match(body, /^fallback: /, `${mode} ${what}`);
        }
      }
      // Upgrade: websocket without Connection: upgrade is Deno's second throw.
      if (target.workers === "deno") {
        assert.deepEqual(
          await rawGet(port, "/", "Connection: close\r\nUpgrade: websocket\r\n"),
          [200, "fallback: Invalid Header: 'connection' header must contain 'Upgrade'\n"],
          mode,
        );
      }
      // Bun's shape: server.upgrade() needs Bun workers under --reuse-port.
      if (!(reusePort && target.workers === "deno")) {
        assert.deepEqual(
          await rawGet(port, "/bun", "Connection: Upgrade, close\r\nUpgrade: h2c\r\n"),
          [200, "not upgraded\n"],
          mode,
        );
      }
      // A real upgrade still goes through.
      const c = await connect("npm-ws", wsUrl(`http://127.0.0.1:${port}`));
      c.send("hi");
      assert.equal(await c.next(), "hi");
      c.close(1000);
      await c.closed;
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2e(
  "--max-requests counts an upgrade; the retiring worker says 1001 to its open WebSocket",
  async (target) => {
    const server = start(target, ["-w", "1", "--max-requests", "2", "-b", "127.0.0.1:0", NEUTRAL]);
    const url = await server.ready(1);
    const worker = await server.onlyWorker();
    // The readiness request was the first; the upgrade is the second and last: the worker
    // retires at once, and its drain reaches the new socket too.
    const held = await connect("npm-ws", wsUrl(url));
    assert.equal((await held.closed).code, 1001);
    await eventually(() => !alive(worker), "the retired worker is gone");
    assert.match((await get(url)).body, /neutral pid/);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "the access line of a session has its whole duration, and statsd counts upgrades and open sockets",
  async (target) => {
    const udp = createSocket("udp4");
    const metrics: string[] = [];
    udp.on("message", (d) => metrics.push(...String(d).split("\n").filter((m) => m)));
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    try {
      const server = start(target, [
        "-w",
        "1",
        "-b",
        "127.0.0.1:0",
        "--statsd-host",
        `127.0.0.1:${udp.address().port}`,
        "--access-logfile",
        "-",
        "--access-logformat",
        "session %(s)s %(M)s",
        NEUTRAL,
      ]);
      const url = await server.ready();
      const client = await connect("native", wsUrl(url));
      const has = (re: RegExp) => metrics.some((m) => re.test(m));
      await sleep(600);
      // The master's gauge is the workers' sum, taken on its loop's turns: open until it said 1.
      await eventually(() => has(/^gunicorn\.websocket\.open:1\|g$/), "the gauge at 1");
      client.close(1000);
      await client.closed;
      const line = await server.waitFor(/^session 101 (\d+)$/m);
      // Held open for 600 ms: the line covers the session, not the handshake.
      assert.ok(Number(line[1]) >= 600, line[0]);
      await eventually(
        () =>
          has(/^gunicorn\.websocket\.upgrades:1\|c\|@1\.0$/) &&
          has(/^gunicorn\.websocket\.open:1\|g$/) &&
          has(/^gunicorn\.websocket\.open:0\|g$/) &&
          has(/^gunicorn\.request\.status\.101:1\|c\|@1\.0$/),
        "the WebSocket metrics",
      );
      assert.equal((await server.stop()).code, 0);
    } finally {
      udp.close();
    }
  },
);

/** A statsd listener keeping the `gunicorn.websocket.open` gauges it gets, in order. */
async function gaugeListener() {
  const udp = createSocket("udp4");
  const gauges: string[] = [];
  udp.on("message", (d) =>
    gauges.push(
      ...String(d).split("\n").filter((m) => m.startsWith("gunicorn.websocket.open:")),
    ));
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
  return { udp, gauges };
}

e2e(
  "gthread: the statsd gauge of open WebSockets is the worker's total over its threads",
  async (target) => {
    const { udp, gauges } = await gaugeListener();
    try {
      const server = start(target, [
        ...["-k", "gthread", "--threads", "2", "-w", "1", "-b", "127.0.0.1:0"],
        ...["--statsd-host", `127.0.0.1:${udp.address().port}`],
        NEUTRAL,
      ]);
      const url = await server.ready(1);
      // The worker hands each connection to the thread with the fewest.
      const clients: Client[] = [];
      const threads = new Map<string, number>();
      for (let i = 0; i < 4; i++) {
        const c = await connect("npm-ws", wsUrl(url));
        c.send("instance");
        const instance = String(await c.next());
        threads.set(instance, (threads.get(instance) ?? 0) + 1);
        clients.push(c);
      }
      // On both threads, or one thread's own count would be the total anyway. (Not always two
      // each: the fewest-first count a thread keeps can lag a connection on a busy box.)
      assert.equal(threads.size, 2, [...threads.values()].join());
      // Each thread sending its own count would leave the gauge at 2.
      await eventually(() => gauges.at(-1) === "gunicorn.websocket.open:4|g", "the gauge at 4");
      // One closes: only the total goes out (a thread's own count would say 1 on the way).
      const sent = gauges.length;
      clients[0].close(1000);
      await clients[0].closed;
      await eventually(() => gauges.at(-1) === "gunicorn.websocket.open:3|g", "the gauge at 3");
      // (4 again: the gauge is sent again every few seconds.)
      assert.ok(gauges.slice(sent).every((g) => /:[34]\|g$/.test(g)), gauges.join());
      for (const c of clients.slice(1)) c.close(1000);
      await Promise.all(clients.map((c) => c.closed));
      await eventually(() => gauges.at(-1) === "gunicorn.websocket.open:0|g", "the gauge at 0");
      assert.ok(gauges.every((g) => /:[0-4]\|g$/.test(g)), gauges.join());
      assert.equal((await server.stop()).code, 0);
    } finally {
      udp.close();
    }
  },
);

// Each worker sending its own count as the gauge left a collector with whichever sent last: the
// master sends the workers' sum, again every few seconds (a lost packet is made good).
e2e(
  "with 2 workers the statsd gauge of open WebSockets is the total over the workers",
  async (target) => {
    const { udp, gauges } = await gaugeListener();
    const server = start(target, [
      ...["-w", "2", "-b", "127.0.0.1:0"],
      ...["--statsd-host", `127.0.0.1:${udp.address().port}`],
      NEUTRAL,
    ]);
    const clients: Client[] = [];
    try {
      const url = await server.allAnswering(2);
      // Sockets on both workers, or one worker's own count would be the total anyway.
      const workers = new Map<string, number>();
      while (clients.length < 40 && (workers.size < 2 || clients.length < 6)) {
        const c = await connect("npm-ws", wsUrl(url));
        clients.push(c);
        c.send("pid");
        const pid = String(await c.next());
        workers.set(pid, (workers.get(pid) ?? 0) + 1);
      }
      assert.equal(workers.size, 2, "sockets on both workers");
      const open = `gunicorn.websocket.open:${clients.length}|g`;
      await eventually(() => gauges.at(-1) === open, `the gauge at ${clients.length}`);
      // Never one worker's own count, neither before nor once all are open.
      const own = [...workers.values()].map((n) => `gunicorn.websocket.open:${n}|g`);
      const since = gauges.length;
      // Sent again unchanged (a collector that lost the packet gets it again).
      await eventually(() => gauges.length > since, "the gauge sent again", 15_000);
      assert.ok(gauges.slice(since).every((g) => g === open), gauges.join());
      assert.ok(!own.includes(gauges.at(-1)!), gauges.join());
      for (const c of clients) c.close(1000);
      await Promise.all(clients.map((c) => c.closed));
      await eventually(() => gauges.at(-1) === "gunicorn.websocket.open:0|g", "the gauge at 0");
      assert.equal((await server.stop()).code, 0);
    } finally {
      for (const c of clients) c.close(1000);
      await server.stop();
      udp.close();
    }
  },
);

// During a USR2 overlap both masters sent their own total, on every change and again every few
// seconds: a collector saw the gauge alternate between them. The new master sends it once promoted.
e2e(
  "during a USR2 overlap one master sends the statsd gauge of open WebSockets",
  async (target) => {
    const { udp, gauges } = await gaugeListener();
    const dir = tempDir();
    const server = start(target, [
      ...["-w", "1", "-b", "127.0.0.1:0", "-p", join(dir.path, "app.pid")],
      ...["--statsd-host", `127.0.0.1:${udp.address().port}`],
      NEUTRAL,
    ]);
    const clients: Client[] = [];
    let next = 0;
    try {
      const url = await server.ready(1);
      for (let i = 0; i < 2; i++) clients.push(await connect("npm-ws", wsUrl(url)));
      const two = "gunicorn.websocket.open:2|g";
      await eventually(() => gauges.at(-1) === two, "the gauge at 2");
      const before = gauges.length;
      server.signal("SIGUSR2");
      next = Number((await server.waitFor(/Started new master with pid: (\d+)/))[1]);
      // The new master's loop has turned by then (it starts its worker in a turn).
      await eventually(() => server.bootedWorkers(next).length === 1, "the new master's worker");
      const since = gauges.length;
      await eventually(() => gauges.length > since, "the gauge sent again", 15_000);
      assert.deepEqual(gauges.slice(before).filter((g) => g !== two), [], gauges.join());
      server.signal("SIGTERM");
      await eventually(
        () => server.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
        "promotion",
      );
      clients.push(await connect("npm-ws", wsUrl(url)));
      await eventually(
        () => gauges.at(-1) === "gunicorn.websocket.open:1|g",
        "the promoted master's gauge at 1",
      );
    } finally {
      for (const c of clients) c.close(1000);
      for (const pid of [next, ...(next ? childPids(next) : [])]) {
        if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
      }
      await server.stop();
      udp.close();
      dir.remove();
    }
  },
);

/** A masked client text frame (RFC 6455 §5.2), for a raw-socket client. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = payload.map((b, i) => b ^ mask[i % 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(masked)]);
}

/**
 * A client that asks the app at `url` for a flood and never reads is closed at the 16 MiB send
 * cap, with the warning; the worker goes on echoing.
 */
async function floodsToTheSendCap(server: Server, url: string): Promise<void> {
  const socket = await rawConnect(Number(new URL(url).port));
  socket.write(
    "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  socket.write(textFrame("flood"));
  // Never read: the app's sends pile up until the cap closes the socket.
  socket.pause();
  await server.waitFor(/\[WARNING\] WebSocket closed with 1008: more than 16777216 bytes/);
  socket.destroy();
  await echoes(await connect("native", wsUrl(url)));
}

e2e(
  "a client that stops reading while the app sends is closed at the 16 MiB send cap, with a warning",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
    const url = await server.ready();
    await floodsToTheSendCap(server, url);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "--reuse-port: a message past --websocket-max-message (in UTF-8 bytes) closes with 1009 " +
    "unseen by the app, and a client that stops reading is closed at the 16 MiB send cap",
  async (target) => {
    const runtimeShape = target.workers === "deno" ? DENO_PLAIN : BUN_PLAIN;
    for (const app of [runtimeShape, NEUTRAL]) {
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`],
        ...["--websocket-max-message", "1024", app],
      ]);
      const url = await server.ready();
      for (const kind of CLIENT_KINDS) {
        // Deno.serve's socket goes on dispatching messages while closing (Bun's stops reading,
        // and Deno's own client ends without a close code when it sends after the 1009).
        const probe = app === NEUTRAL && kind === "npm-ws" && target.workers === "deno";
        const c = await connect(kind, wsUrl(url, probe ? "/report-close" : "/"));
        c.send("é".repeat(512));
        assert.equal(await c.next(), "é".repeat(512));
        // 513 UTF-16 units, 1026 bytes, and right behind it a message the app must not see.
        c.send("é".repeat(513));
        if (probe) c.send("log:after");
        const closed = await Promise.race([c.closed, sleep(10_000).then(() => null)]);
        // Data after its close makes Deno.serve drop the connection: 1006 may come first.
        assert.ok(closed?.code === 1009 || probe && closed?.code === 1006, `${app} ${kind}`);
        // The app never echoed it.
        await assert.rejects(c.next(200), /closed \(100[69]\)/);
        if (!probe) continue;
        // The app's close event comes after any message event the socket dispatches.
        await server.waitFor(/the server saw close/);
        assert.doesNotMatch(server.output, /neutral: got log:after/, `${app} ${kind}`);
      }
      await server.stop();
    }
    const port = await freePort();
    const server = start(target, ["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, NEUTRAL]);
    const url = await server.ready();
    await floodsToTheSendCap(server, url);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "an upgrade whose client left before the app upgraded it logs no app error; serving goes on",
  async (target) => {
    const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", BUN_PLAIN]);
    const url = await server.ready();
    const socket = await rawConnect(Number(new URL(url).port));
    socket.write(
      "GET /late HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    socket.destroy();
    await sleep(600);
    assert.match((await get(url)).body, /^bun plain pid \d+/);
    const stopped = await server.stop();
    assert.equal(stopped.code, 0);
    assert.doesNotMatch(stopped.stderr, /instead of a Response|\[ERROR\]/);
  },
);

e2e(
  "HUP: the replaced worker says 1001 to its open WebSocket; the new one takes upgrades",
  async (t) => {
    const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
    const url = await server.ready(1);
    const old = await server.onlyWorker();
    const held = await connect("native", wsUrl(url));
    held.send("x");
    assert.equal(await held.next(), "x");
    server.signal("SIGHUP");
    assert.equal((await held.closed).code, 1001);
    await eventually(() => !alive(old), "the old worker is gone");
    await echoes(await connect("npm-ws", wsUrl(url)));
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "USR2: the new master's workers take upgrades; the old master's drain says 1001 to its socket",
  async (t) => {
    const cleanups: (() => void)[] = [];
    const killTree = (pid: number) => {
      for (const p of [pid, ...childPids(pid)]) if (alive(p)) process.kill(p, "SIGKILL");
    };
    try {
      const old = start(t, ["-w", "1", "-b", "127.0.0.1:0", NEUTRAL]);
      cleanups.push(() => killTree(old.pid));
      const url = await old.ready(1);
      const oldWorker = await old.onlyWorker();
      const held = await connect("native", wsUrl(url));
      held.send("pid");
      assert.equal(await held.next(), String(oldWorker));
      old.signal("SIGUSR2");
      const next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
      cleanups.push(() => killTree(next));
      // Its worker, by its booting line: not another child it may run meanwhile (a runtime probe).
      const booted = () =>
        [...old.stderr.matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1]))
          .find((pid) => childPids(next).includes(pid));
      await eventually(() => booted() !== undefined, "the new master's worker");
      const newWorker = booted()!;
      // Both masters accept on the shared socket until the old one stops; its session goes on.
      held.send("still");
      assert.equal(await held.next(), "still");
      old.signal("SIGTERM");
      assert.equal((await held.closed).code, 1001);
      await eventually(
        () => !alive(old.pid) && !alive(oldWorker),
        "the old master and worker exit",
      );
      // Only the new master's worker is left to take the upgrade.
      const fresh = await connect("npm-ws", wsUrl(url));
      fresh.send("pid");
      assert.equal(await fresh.next(), String(newWorker));
      await echoes(fresh);
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master stops");
    } finally {
      cleanups.reverse().forEach((cleanup) => cleanup());
    }
  },
);
