// Connections that never bring a request: one that sends nothing is closed 30 s after accept (the
// head timeout) and said only at DEBUG; one that trickles part of a head gets its 408 and WARNING
// 30 s after accept too, not 30 s after its first byte.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, sleep, start } from "../_helpers.ts";
import { rawConnect, readAll } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

e2e(
  "a connection that sends nothing is closed at the 30 s head timeout, said at DEBUG; a head trickled from 20 s on gets its 408 by then too",
  async (target) => {
    const server = start(target, ["-w", "1", "--log-level", "debug", "-b", "127.0.0.1:0", PID_APP]);
    try {
      const port = Number(new URL(await server.ready(1)).port);
      const opened = performance.now();
      const silent = await rawConnect(port);
      const silentEnd = readAll(silent, 45_000);
      const slow = await rawConnect(port);
      const slowAnswer = readAll(slow, 60_000);
      let closed = false;
      slow.once("close", () => closed = true);
      // Silent for 20 s, then a byte a second: timed from that first byte, the head would have
      // until 50 s.
      const trickle = (async () => {
        await sleep(20_000);
        for (const byte of `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${"a".repeat(40)}`) {
          if (closed) return;
          slow.write(byte);
          await sleep(1000);
        }
      })();
      const quiet = await silentEnd;
      assert.equal(quiet.text, "");
      await server.waitFor(
        /\[DEBUG\] Closed connection from ip=127\.0\.0\.1: no request received in 30 s$/m,
      );
      const answer = await slowAnswer;
      const after = (performance.now() - opened) / 1000;
      await trickle;
      assert.equal(answer.status, 408, answer.text);
      assert.ok(after < 45, `408 after ${after.toFixed(1)} s`);
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
