// The connections a gthread thread's own server keeps unread for want of room (parked) get the
// 503 a hung thread's get at THREAD TIMEOUT (gthread_hung_parked_test.ts), with its access line,
// also when their thread crashes and when a graceful stop's deadline cuts off a thread stuck in
// app code: never a bare close (a 502 behind nginx).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, type Server, sleep, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "threads_app.ts");
const CLIENTS = 6;
// Far beyond the stops and crashes here: a client still waiting by then was never answered.
const DEADLINE_MS = 25_000;

interface Outcome {
  status: number;
  /** The server closed the connection (with or without a reply) before the deadline. */
  closed: boolean;
}

/** `target` on a fresh connection: what came back before the server closed it (0: no reply). */
function ask(port: number, target: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const socket = connect(port, "127.0.0.1");
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(parts).toString("latin1"));
      resolve({ status: m ? Number(m[1]) : 0, closed });
    };
    const timer = setTimeout(() => done(false), DEADLINE_MS);
    socket.on("connect", () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`));
    socket.on("data", (d: Buffer) => parts.push(d));
    socket.on("close", () => done(true));
    socket.on("error", () => {});
  });
}

/** `target` on a connection kept open once answered: its status, and the connection. */
function askKeeping(port: number, target: string): Promise<{ status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("connect", () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`));
    socket.once("data", (d: Buffer) => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(d.toString("latin1"));
      resolve({ status: m ? Number(m[1]) : 0, socket });
    });
    socket.on("error", reject);
  });
}

/**
 * One thread with room for two connections. A request that holds the thread's loop still holds
 * one of them, so the listener stays open: what comes in meanwhile is taken in one go once the
 * loop turns again, and what is past the second place is parked (not left in the listen queue).
 */
function startOne(target: Parameters<typeof start>[0], more: string[]): Server {
  return start(target, [
    "-w",
    "1",
    "-k",
    "gthread",
    "--threads",
    "1",
    "--worker-connections",
    "2",
    "--access-logfile",
    "-",
    "-b",
    "127.0.0.1:0",
    ...more,
    APP,
  ]);
}

/** The access lines of `target`'s requests answered `status`. */
function accessLines(server: Server, target: string, status: number): number {
  return server.stdout.split("\n").filter((l) => l.includes(`"GET ${target} HTTP/1.1" ${status}`))
    .length;
}

e2e(
  "gthread: a crashed thread's parked connections get a 503, not a bare close",
  async (target) => {
    const server = startOne(target, ["--timeout", "60", "--graceful-timeout", "5"]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      // The thread's loop stands still while the clients come in; when it turns again it takes
      // them: one gets the place left and waits behind the crashing request for the app, the
      // others are parked; then the thread crashes.
      const crashing = get(`${url}/spin-crash?ms=1200&after=1000`);
      await sleep(300);
      const outcomes = await Promise.all(
        Array.from({ length: CLIENTS }, () => ask(port, "/sleep?ms=3000")),
      );
      assert.equal((await crashing).status, 500);
      await server.waitFor(/\[ERROR\] Thread \d+ crashed: Error: crash outside the request/);
      const hung = outcomes.filter((o) => !o.closed).length;
      assert.equal(hung, 0, `${hung} of ${CLIENTS} clients hung\n${server.stderr}`);
      // The one waiting for the app and the parked ones: the crash's 503 each (one left in the
      // listen queue after all would get the replacement's 200).
      const statuses = outcomes.map((o) => o.status);
      const bare = statuses.filter((status) => status !== 503 && status !== 200).length;
      assert.equal(bare, 0, `statuses (0: closed without a reply): ${statuses}`);
      const refused = statuses.filter((status) => status === 503).length;
      assert.ok(refused > 1, `no connection was parked: ${statuses}`);
      // Whoever answers a request writes its access line: one per 503.
      const lines = () => accessLines(server, "/sleep?ms=3000", 503);
      await eventually(() => lines() >= refused, "access lines").catch(() => {});
      assert.equal(lines(), refused, `access lines:\n${server.stdout}`);
    } finally {
      server.signal("SIGINT");
      await server.stop();
    }
  },
);

e2e(
  "gthread: a graceful stop's deadline answers a stuck thread's parked connections with a 503",
  async (target) => {
    // No THREAD TIMEOUT before the graceful stop's deadline: that cuts the thread off.
    const server = startOne(target, ["--timeout", "120", "--graceful-timeout", "2"]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      // As above, the clients come in while the thread's loop stands still: one gets the place
      // left, and holds the thread in app code far past the stop's deadline once the first is
      // done; the others are parked. The first one's connection stays open: its place freed,
      // a parked one would be let in, and be neither parked nor the app's at the deadline.
      const first = askKeeping(port, "/cpu?ms=1200");
      await sleep(300);
      const asked = Array.from({ length: CLIENTS }, () => ask(port, "/cpu?ms=30000"));
      const { status, socket } = await first;
      assert.equal(status, 200);
      socket.on("error", () => {});
      await sleep(700);
      server.signal("SIGTERM");
      const outcomes = await Promise.all(asked);
      const hung = outcomes.filter((o) => !o.closed).length;
      assert.equal(hung, 0, `${hung} of ${CLIENTS} clients hung\n${server.stderr}`);
      // The one the app runs gets the cut-off's 504, the others a 503 each.
      const statuses = outcomes.map((o) => o.status).sort();
      const expected = [...Array(CLIENTS - 1).fill(503), 504];
      assert.deepEqual(
        statuses,
        expected,
        `statuses (0: closed without a reply):\n${server.stderr}`,
      );
      // The access lines are written by the time the worker exits.
      await server.stop();
      assert.equal(accessLines(server, "/cpu?ms=30000", 503), CLIENTS - 1, server.stdout);
      assert.equal(accessLines(server, "/cpu?ms=30000", 504), 1, server.stdout);
      socket.destroy();
    } finally {
      if (!server.ended) server.signal("SIGINT");
      await server.stop();
    }
  },
);
