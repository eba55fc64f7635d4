// Connections that never bring a request: one that sends nothing is closed 30 s after accept (the
// head timeout) and said only at DEBUG; one that trickles part of a head gets its 408 and WARNING
// 30 s after accept too, not 30 s after its first byte; and a quick stop counts those it closes
// with no request read yet in one WARNING.

import assert from "node:assert/strict";
import { join } from "node:path";
import { countConnections, e2e, eventually, FIXTURES, get, sleep, start } from "../_helpers.ts";
import { rawConnect, readAll } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

e2e(
  "a connection that sends nothing is closed at the 30 s head timeout, said at DEBUG; a head trickled from 20 s on gets its 408 by then too",
  async (target) => {
    const server = start(target, ["-w", "1", "--log-level", "debug", "-b", "127.0.0.1:0", PID_APP]);
    try {
      const port = Number(new URL(await server.ready(1)).port);
      const silent = await rawConnect(port);
      const silentEnd = readAll(silent, 45_000);
      const slow = await rawConnect(port);
      const slowAnswer = readAll(slow, 60_000);
      let closed = false;
      slow.once("close", () => closed = true);
      // Silent for 20 s, then a whole head, two bytes a second (whole at ~42 s): timed from
      // accept it is cut at 30 s; timed from its first byte it would have until 50 s and be answered.
      const trickle = (async () => {
        await sleep(20_000);
        for (const byte of `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${"a".repeat(8)}\r\n\r\n`) {
          if (closed) return;
          slow.write(byte);
          await sleep(500);
        }
      })();
      const quiet = await silentEnd;
      assert.equal(quiet.text, "");
      await server.waitFor(
        /\[DEBUG\] Closed connection from ip=127\.0\.0\.1: no request received in 30 s$/m,
      );
      const answer = await slowAnswer;
      await trickle;
      assert.equal(answer.status, 408, answer.text);
      await server.waitFor(
        /\[WARNING\] Invalid request from ip=127\.0\.0\.1: request head not received in time \(408\)/,
      );
      // The silent one only: the trickled head is no silent client.
      const lines = server.stderr.match(/Closed connection from .*: no request received/g);
      assert.equal(lines?.length, 1, server.stderr);
      assert.doesNotMatch(server.stderr, /\[(WARNING|ERROR)\] .*no request received/);
    } finally {
      await server.stop();
    }
  },
);

// gthread: each thread closes its own and tells the process, which says them in one line too.
for (
  const [signal, klass] of [
    ["SIGINT", []],
    ["SIGQUIT", []],
    ["SIGINT", ["-k", "gthread", "--threads", "2"]],
  ] as const
) {
  e2e(
    `a ${signal} stop counts the connections it closes with no request read yet, in one line${
      klass.length ? ` (${klass.join(" ")})` : ""
    }`,
    async (target) => {
      const server = start(target, [
        ...["-w", "1", ...klass, "--keep-alive", "60", "-b", "127.0.0.1:0", PID_APP],
      ]);
      try {
        const url = await server.ready(1);
        const port = Number(new URL(url).port);
        const pid = await server.onlyWorker();
        const silent = await Promise.all([rawConnect(port), rawConnect(port)]);
        const partial = await rawConnect(port);
        partial.write("GET / HTTP/1.1\r\nHost");
        // Idle after its response: a keep-alive close loses nothing, and is not counted.
        const kept = await rawConnect(port);
        kept.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        await new Promise((resolve) => kept.once("data", resolve));
        const ends = [...silent, partial, kept].map((socket) => readAll(socket, 10_000));
        await eventually(() => countConnections([pid], port)[0] >= 4, "4 connections accepted");
        await sleep(300); // The partial head is read.
        server.signal(signal);
        assert.equal((await server.exited).code, 0, server.stderr);
        await Promise.all(ends);
        assert.match(
          server.stderr,
          new RegExp(
            `\\[WARNING\\] Killed by the quick stop on worker \\(pid:${pid}\\): ` +
              "3 connections with no request read yet \\(1 with part of one received\\)$",
            "m",
          ),
        );
        assert.equal(server.stderr.match(/with no request read yet/g)?.length, 1, server.stderr);
      } finally {
        await server.stop();
      }
    },
  );
}

// Nothing held: no line.
e2e("a quick stop with no connection waiting for a request says nothing of them", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  try {
    const url = await server.ready(1);
    await get(url);
    server.signal("SIGINT");
    assert.equal((await server.exited).code, 0, server.stderr);
    assert.doesNotMatch(server.stderr, /no request read yet/);
  } finally {
    await server.stop();
  }
});
