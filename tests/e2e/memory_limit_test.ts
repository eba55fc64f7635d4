// --max-worker-memory: the master reads each worker's RSS from /proc and retires a worker over
// the limit as --max-requests does, its replacement first, so clients see no failed request.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, e2eUnderLoad, FIXTURES, hasStackTrace, load, run, start } from "../_helpers.ts";

const LEAK_APP = join(FIXTURES, "apps", "leak_app.ts");

e2eUnderLoad(
  "--max-worker-memory recycles a leaking worker under load, its replacement first, with zero failed requests",
  async (target, mode) => {
    const server = start(target, [
      ...["-w", "2", "--max-worker-memory", "140", "-b", "127.0.0.1:0", LEAK_APP],
    ]);
    const url = await server.ready(2);
    const result = await load(url, 6, { mode, connections: 4 }).done;
    assert.equal(result.failed, 0, result.report);
    const retired = server.all(
      /\[INFO\] Autorestarting worker \(pid:(\d+)\): (\d+\.\d) MB resident, over max_worker_memory 140 MB$/gm,
    );
    assert.ok(retired.length >= 1, server.stderr);
    for (const [line, pid, mb] of retired) {
      assert.ok(Number(mb) > 140, line);
      // Replacement first: a new worker boots after the line and before the old one exits.
      const at = server.stderr.indexOf(line);
      const exiting = server.stderr.indexOf(`Worker exiting (pid: ${pid})`, at);
      const booting = server.stderr.slice(at).search(/Booting worker with pid: \d+/);
      // A worker retired as the load ended may still be waiting for its replacement.
      if (exiting >= 0) assert.ok(booting >= 0 && at + booting < exiting, server.stderr);
    }
    assert.doesNotMatch(server.stderr, /was sent SIGKILL|WORKER TIMEOUT/);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "--max-worker-memory below a freshly booted worker's RSS stops the start in one line, exit 1",
  async (target) => {
    const result = await run(target, ["--max-worker-memory", "1", "-b", "127.0.0.1:0", LEAK_APP]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /--max-worker-memory 1 MB is below what a worker uses right after it boots \(\d+\.\d MB resident\): raise it, or 0 to turn it off/,
    );
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
  },
);

e2e(
  "--max-worker-memory refuses a value that is not a whole number of megabytes",
  async (target) => {
    const result = await run(target, ["--max-worker-memory", "lots", LEAK_APP]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /max.worker.memory/);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  },
);
