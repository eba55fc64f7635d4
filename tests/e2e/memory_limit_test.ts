// --max-worker-memory: the master reads each worker's RSS from /proc and retires a worker over
// the limit as --max-requests does, its replacement first, so clients see no failed request.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2e,
  e2eUnderLoad,
  eventually,
  FIXTURES,
  get,
  hasStackTrace,
  load,
  pidOf,
  run,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const LEAK_APP = join(FIXTURES, "apps", "leak_app.ts");
const MEM_APP = join(FIXTURES, "apps", "mem_app.ts");

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
      // The line rounds to 0.1 MB: 140.04 MB over the limit reads "140.0".
      assert.ok(Number(mb) >= 140, line);
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

e2e(
  "a HUP to a --max-worker-memory below a booted worker's RSS fails the reload; the old workers serve on",
  async (target) => {
    const dir = tempDir();
    try {
      const config = join(dir.path, "appserve.toml");
      writeFileSync(config, "workers = 1\n");
      const server = start(target, ["-c", config, "-b", "127.0.0.1:0", LEAK_APP]);
      const url = await server.ready(1);
      const before = pidOf(await get(url));
      writeFileSync(config, "workers = 1\nmax_worker_memory = 1\n");
      server.signal("SIGHUP");
      await server.waitFor(
        /\[ERROR\] Reload failed, keeping the running workers: --max-worker-memory 1 MB is below what a worker uses right after it boots/,
      );
      await eventually(() => childPids(server.pid).length === 1, "the new worker gone");
      assert.equal(pidOf(await get(url)), before);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

/**
 * `-w 2 --max-worker-memory 150` serving MEM_APP, one worker killed and replaced by one that keeps
 * 200 MB from its boot (MEM_FILE in `dir`), which gets the ERROR: `big` is its pid.
 */
async function replacedOverLimit(target: Target, dir: string) {
  const mem = join(dir, "mem.txt");
  writeFileSync(mem, "0");
  const server = start(
    target,
    ["-w", "2", "--max-worker-memory", "150", "-b", "127.0.0.1:0", MEM_APP],
    { env: { MEM_FILE: mem } },
  );
  const url = await server.allAnswering(2);
  const [healthy, killed] = childPids(server.pid);
  writeFileSync(mem, "200");
  process.kill(killed, "SIGKILL");
  const booted = await server.waitFor(
    /\[ERROR\] Worker \(pid:(\d+)\) uses \d+\.\d MB resident right after it boots, over --max-worker-memory 150 MB: it serves on and is not restarted for its memory until it has been under the limit once/,
  );
  return { server, url, healthy, big: Number(booted[1]) };
}

e2e(
  "a replacement worker that boots over --max-worker-memory: an ERROR, the server serves on and that worker is not restarted for it",
  async (target) => {
    const dir = tempDir();
    try {
      const { server, url, healthy, big } = await replacedOverLimit(target, dir.path);
      // Memory is read once a second: a few reads, and the big worker is still there, not retired.
      await sleep(3000);
      assert.deepEqual(childPids(server.pid).sort(), [healthy, big].sort());
      await eventually(async () => pidOf(await get(url)) === big, "the big one serves");
      assert.doesNotMatch(server.stderr, /Reason:|Autorestarting worker/);
      assert.ok(!hasStackTrace(server.stderr), server.stderr);
      assert.equal((await server.stop()).code, 0, server.stderr);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a worker that booted over --max-worker-memory, then fell under it, is restarted once it grows past it again",
  async (target) => {
    const dir = tempDir();
    try {
      const { server, url, big } = await replacedOverLimit(target, dir.path);
      // Its replacement, if any, boots small.
      writeFileSync(join(dir.path, "mem.txt"), "0");
      // What it kept since its boot goes back: it is under the limit (read once a second)...
      await eventually(
        async () => (await get(`${url}/free?pid=${big}`)).body.startsWith("freed "),
        "the big one gave its memory back",
      );
      await sleep(3000);
      assert.doesNotMatch(server.stderr, /Autorestarting worker/);
      // ...then leaks past it: that is no longer its size at boot, and it is retired for it.
      await eventually(
        async () => (await get(`${url}/grow?mb=200&pid=${big}`)).body.startsWith("grew "),
        "the big one grew",
      );
      await server.waitFor(
        new RegExp(`\\[INFO\\] Autorestarting worker \\(pid:${big}\\): \\d+\\.\\d MB resident`),
      );
      await eventually(() => !childPids(server.pid).includes(big), "the leaking worker is gone");
      assert.ok(!hasStackTrace(server.stderr), server.stderr);
      assert.equal((await server.stop()).code, 0, server.stderr);
    } finally {
      dir.remove();
    }
  },
);
