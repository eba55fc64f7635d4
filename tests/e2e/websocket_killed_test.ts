// A worker killed from outside (the OOM killer's SIGKILL) while it has WebSocket sessions open
// cannot say they ended: the master's line for it counts them, from the worker's scoreboard.

import assert from "node:assert/strict";
import { join } from "node:path";
import { childPids, e2e, eventually, FIXTURES, freePort, get, start } from "../_helpers.ts";
import { openRaw } from "../_ws_raw.ts";

const NEUTRAL = join(FIXTURES, "websocket", "neutral.ts");

e2e("a worker SIGKILLed with WebSocket sessions open: its exit line counts them", async (t) => {
  const port = await freePort();
  const metrics = `127.0.0.1:${await freePort()}`;
  const server = start(t, [
    "-w",
    "1",
    "--metrics-bind",
    metrics,
    "-b",
    `127.0.0.1:${port}`,
    NEUTRAL,
  ]);
  await server.ready(1);
  const [worker] = childPids(server.pid);
  const sessions = [await openRaw(port, "/"), await openRaw(port, "/")];
  for (const o of sessions) {
    assert.equal(o.status, 101);
    o.socket.on("error", () => {});
  }
  await eventually(async () => {
    const text = (await get(`http://${metrics}/metrics`)).body;
    return /^appserve_websockets_open 2$/m.test(text);
  }, "both sessions counted");
  process.kill(worker, "SIGKILL");
  await server.waitFor(
    new RegExp(
      String.raw`\[ERROR\] Worker \(pid:${worker}\) was sent SIGKILL! Perhaps out of memory\? ` +
        String.raw`2 WebSocket sessions dropped\.$`,
      "m",
    ),
  );
  for (const o of sessions) o.socket.destroy();
  assert.equal((await server.stop()).code, 0);
});
