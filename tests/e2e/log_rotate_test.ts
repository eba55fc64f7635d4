// logrotate under load: the access log is moved and USR1 sent while wrk runs;
// every request is in the old or the new file, once.

import assert from "node:assert/strict";
import { readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { e2eUnderLoad, FIXTURES, load, sleep, start, tempDir } from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

e2eUnderLoad(
  "USR1 under load: every request is in the old or the new access log",
  async (target, mode) => {
    const dir = tempDir();
    const file = join(dir.path, "access.log");
    try {
      const server = start(target, [
        "-w",
        "2",
        "--access-logfile",
        file,
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = await server.ready(2);
      const connections = 8;
      const run = load(`${url}/load`, 4, { connections, mode });
      await sleep(1500);
      renameSync(file, `${file}.1`);
      server.signal("SIGUSR1");
      const result = await run.done;
      await server.stop();
      assert.equal(result.failed, 0, result.report);
      const count = (path: string) =>
        readFileSync(path, "utf8").split("\n").filter((l) => l.includes("GET /load ")).length;
      const old = count(`${file}.1`);
      const fresh = count(file);
      assert.ok(old > 0 && fresh > 0, `both files have lines: ${old} + ${fresh}`);
      // wrk counts the answers it read; requests it cut at the end may be logged too.
      assert.ok(
        old + fresh >= result.requests && old + fresh <= result.requests + connections,
        `${old} + ${fresh} lines for ${result.requests} requests`,
      );
    } finally {
      dir.remove();
    }
  },
);
