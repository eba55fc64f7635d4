// A draining worker whose event loop stands still for a moment (a loaded box; here SIGSTOP right
// after its SIGTERM) answers the requests of the connections it had accepted, rather than closing
// them at the shutdown grace before it read what they sent: behind nginx without upstream
// keepalive that close was "recv() failed (104: Connection reset by peer) while reading response
// header from upstream" (a 502), once in a full test run of nginx_lifecycle_test.ts.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { e2e, eventually, FIXTURES, sleep, start, tempDir } from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** One request on a connection of its own, as nginx sends it without upstream keepalive. */
function requestOnce(socket: string): Promise<{ outcome: string; pid?: number }> {
  return new Promise((resolve) => {
    const client = connect(socket);
    let got = "";
    client.on(
      "connect",
      () => client.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    client.on("data", (bytes: Uint8Array) => got += new TextDecoder().decode(bytes));
    client.on(
      "error",
      (error: Error & { code?: string }) => resolve({ outcome: error.code ?? "error" }),
    );
    client.on("close", () => {
      const pid = /pid (\d+)/.exec(got);
      if (got.startsWith("HTTP/1.1 200") && pid) resolve({ outcome: "200", pid: Number(pid[1]) });
      else resolve({ outcome: got.split("\r\n")[0] || "closed without an answer" });
    });
  });
}

/** Sends `name` to `pid`; false when the process is gone. */
function signal(pid: number, name: "SIGSTOP" | "SIGCONT"): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

for (const worker of ["gthread", "async"]) {
  e2e(`${worker}: a worker stalled as it drains fails no request`, async (target) => {
    const dir = tempDir();
    const socket = join(dir.path, "app.sock");
    const server = start(target, [
      "-w",
      "2",
      "-k",
      worker,
      ...(worker === "gthread" ? ["--threads", "2"] : []),
      "-b",
      `unix:${socket}`,
      PID_APP,
    ]);
    const outcomes = new Map<string, number>();
    // The last worker that answered and was not stopped yet.
    let serving = 0;
    const stopped = new Set<number>();
    let running = true;
    let clients: Promise<void>[] = [];
    try {
      await server.waitFor(/Listening at: unix:/);
      clients = Array.from({ length: 16 }, async () => {
        while (running) {
          const { outcome, pid } = await requestOnce(socket);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          if (pid !== undefined && !stopped.has(pid)) serving = pid;
        }
      });
      // Stalls that begin at different points of the drain (its first reads come after them).
      for (const afterMs of [2, 5, 10, 20, 40]) {
        serving = 0;
        await sleep(700);
        await eventually(() => serving > 0, "a worker answering");
        const pid = serving;
        stopped.add(pid);
        process.kill(pid, "SIGTERM");
        await sleep(afterMs);
        // Gone already (it drained within afterMs): nothing to stall.
        if (!signal(pid, "SIGSTOP")) continue;
        await sleep(1300);
        signal(pid, "SIGCONT");
      }
    } finally {
      running = false;
      await Promise.all(clients);
      await server.stop();
      dir.remove();
    }
    const failed = [...outcomes].filter(([outcome]) => outcome !== "200");
    assert.ok((outcomes.get("200") ?? 0) > 0, "no request answered");
    assert.deepEqual(failed, [], `requests that failed: ${JSON.stringify(failed)}`);
  });
}
