// The connections a gthread thread's own server keeps unread for want of room (parked) get the
// 503 a hung thread's get at THREAD TIMEOUT (gthread_hung_parked_test.ts), with its access line,
// also when their thread crashes and when a graceful stop's deadline cuts off a thread stuck in
// app code: never a bare close (a 502 behind nginx).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "node:net";
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
