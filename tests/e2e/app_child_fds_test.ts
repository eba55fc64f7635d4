// A process the app starts inherits none of its worker's sockets: not the listeners, not the
// channel to the master (which would hold the master's end open after the worker is gone, and
// keep the master waiting for the worker's last words). A Deno worker's spawn closes no fd.

import assert from "node:assert/strict";
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { alive, childPids, e2e, FIXTURES, freePort, get, start } from "../_helpers.ts";

const SPAWN_APP = join(FIXTURES, "apps", "spawn_app.ts");

/** What the fds of `pid` above stdio refer to (readlink of /proc/PID/fd/N), as "N -> target". */
function heldAboveStdio(pid: number): string[] {
  const held: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    if (Number(fd) <= 2) continue;
    try {
      held.push(`${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // Closed meanwhile.
    }
  }
  return held;
}

e2e("a process the app starts inherits none of its worker's sockets", async (target) => {
  const port = await freePort();
  const server = start(target, ["-w", "1", "-b", `127.0.0.1:${port}`, SPAWN_APP]);
  let child = 0;
  try {
    const url = await server.ready(1);
    child = Number((await get(url)).body);
    const [worker] = childPids(server.pid);
    const sockets = new Set(
      heldAboveStdio(worker).map((held) => held.split(" -> ")[1]).filter((t) =>
        t.startsWith("socket:")
      ),
    );
    const inherited = heldAboveStdio(child).filter((held) => sockets.has(held.split(" -> ")[1]));
    assert.deepEqual(inherited, [], `${target.name}: the app's child holds its worker's sockets`);
  } finally {
    if (child > 0 && alive(child)) process.kill(child, "SIGKILL");
    await server.stop();
  }
});
