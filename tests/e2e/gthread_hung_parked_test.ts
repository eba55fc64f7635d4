// A gthread thread that hangs holding more connections than its part of --worker-connections: the
// ones its own server accepted and keeps unread for want of room (parked) are answered at THREAD
// TIMEOUT, as the requests waiting behind the hung one and the hand-offs waiting for room are,
// not left to the retiring worker's --graceful-timeout (Deno) or dropped with the thread (Bun).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, sleep, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "threads_app.ts");
const CLIENTS = 12;
// Far below --graceful-timeout: an answer by then comes from THREAD TIMEOUT, not the retire.
const DEADLINE_MS = 25_000;

interface Outcome {
  status: number;
  /** The server closed the connection (with or without a reply) before the deadline. */
  closed: boolean;
}

/** One `/hang` request on a fresh connection: what came back before the server closed it. */
function hang(port: number): Promise<Outcome> {
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
    socket.on("connect", () => socket.write("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n"));
    socket.on("data", (d: Buffer) => parts.push(d));
    socket.on("close", () => done(true));
    socket.on("error", () => {});
  });
}

e2e(
  "gthread: THREAD TIMEOUT answers every connection a hung thread holds, parked ones too",
  async (target) => {
    const server = start(target, [
      "-w",
      "1",
      "-k",
      "gthread",
      "--threads",
      "2",
      "--worker-connections",
      "4",
      "--timeout",
      "2",
      "--graceful-timeout",
      "60",
      "--access-logfile",
      "-",
      "-b",
      "127.0.0.1:0",
      APP,
    ]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      // Both threads spin (their loops stand still) while the burst comes in, so that each
      // accepts what waits for it in one go when its loop turns again: beyond their parts the
      // connections are parked or handed on, not left in the listen queue behind held gates
      // (those wait for the retiring worker's replacement under Deno, not for THREAD TIMEOUT).
      const spinning = [get(`${url}/cpu?ms=1200`), get(`${url}/cpu?ms=1200`)];
      await sleep(300);
      const outcomes = await Promise.all(Array.from({ length: CLIENTS }, () => hang(port)));
      await Promise.all(spinning);
      const hung = outcomes.filter((o) => !o.closed).length;
      assert.equal(hung, 0, `${hung} of ${CLIENTS} clients hung\n${server.stderr}`);
      // Each got the reply of a hung thread's request (504) or of one waiting behind it (503).
      const statuses = outcomes.map((o) => o.status);
      const unanswered = statuses.filter((status) => status !== 503 && status !== 504).length;
      assert.equal(unanswered, 0, `statuses (0: closed without a reply): ${statuses}`);
      await server.waitFor(/\[CRITICAL\] THREAD TIMEOUT/);
      // Whoever answers a request writes its access line: one per client. One claimed in the
      // few statements between the HTTP layer's start and the handler has no name yet (a loaded
      // box does that now and then): its line says `"- - -" 503`.
      const lines = () =>
        server.stdout.split("\n").filter((l) =>
          l.includes('"GET /hang HTTP/1.1" 50') || l.includes('"- - -" 503')
        ).length;
      await eventually(() => lines() >= CLIENTS, `${CLIENTS} access lines:\n${server.stdout}`)
        .catch(() => {});
      assert.equal(lines(), CLIENTS, `access lines:\n${server.stdout}`);
    } finally {
      // A quick shutdown: a Deno worker retiring with a hung thread would take its graceful 60 s.
      server.signal("SIGINT");
      await server.stop();
    }
  },
);
