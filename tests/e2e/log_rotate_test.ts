// logrotate under load: the access log is moved and USR1 sent while wrk runs;
// every request is in the old or the new file, once.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  truncateSync,
} from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2e,
  e2eUnderLoad,
  eventually,
  FIXTURES,
  get,
  load,
  type Server,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** Two workers of the pid app, writing their access lines to `file`. */
const startLogging = (target: Target, file: string) =>
  start(target, ["-w", "2", "--access-logfile", file, "-b", "127.0.0.1:0", PID_APP]);

e2eUnderLoad(
  "USR1 under load: every request is in the old or the new access log",
  async (target, mode) => {
    const dir = tempDir();
    const file = join(dir.path, "access.log");
    try {
      const server = startLogging(target, file);
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

// Deno (2.9.2 on) answers SIGUSR1 by opening a V8 inspector on 127.0.0.1:9229, from which anyone
// on the host runs code as the process's user: logrotate's USR1 must reopen logs and nothing else.
e2e("USR1 reopens the logs and opens no debugger in the master or a worker", async (target) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const server = startLogging(target, file);
    const url = await server.ready(2);
    // Deno arms its trigger half a second after a process starts.
    await sleep(1000);
    renameSync(file, `${file}.1`);
    server.signal("SIGUSR1");
    await server.waitFor(/Handling signal: usr1/);
    await sleep(1000);
    await eventually(async () =>
      (await get(`${url}/after`)).status === 200 && existsSync(file) &&
      readFileSync(file, "utf8").includes("GET /after "), "the new access log has the request");
    const ours = [server.pid, ...childPids(server.pid)];
    const listening = spawnSync("ss", ["-Htlnp", "sport = :9229"], { encoding: "utf8" }).stdout;
    const opened = ours.filter((pid) => listening.includes(`pid=${pid},`));
    assert.deepEqual(opened, [], `a debugger listens on 127.0.0.1:9229: ${listening}`);
    assert.doesNotMatch(server.output, /Debugger listening|inspector/i);
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

/**
 * Runs `body` once two workers log to `file` and it was moved away, a folder put in its place
 * (not even root may open that for appending): what a worker that opens the path now meets.
 */
async function withLogMovedAway(
  target: Target,
  body: (server: Server, url: string, file: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const server = startLogging(target, file);
    // Booted: a worker that opens its logs after the mkdir below cannot boot.
    const url = await server.allAnswering(2);
    renameSync(file, `${file}.1`);
    mkdirSync(file);
    await body(server, url, file);
  } finally {
    dir.remove();
  }
}

e2e(
  "USR1 that cannot open the access log again: one line naming it, lines go on to the old file",
  (target) =>
    withLogMovedAway(target, async (server, url, file) => {
      server.signal("SIGUSR1");
      const failures = () => server.stderr.split("\n").filter((l) => l.includes("Cannot reopen"));
      await eventually(() => failures().length === 2, "a line from each worker");
      for (const line of failures()) {
        assert.match(
          line,
          /^\[[^\]]+\] \[\d+\] \[ERROR\] Cannot reopen logs: access log "[^"]+access\.log": .*(EISDIR|directory).*; its lines go on to the old file$/,
        );
      }
      await get(`${url}/after`);
      await eventually(
        () => readFileSync(`${file}.1`, "utf8").includes("GET /after "),
        "the old file has the request",
      );
      assert.equal((await server.stop()).code, 0);
    }),
);

// logrotate's copytruncate sends no signal: the workers write on at their offset, which only
// O_APPEND moves back to the start of the truncated file (else a hole of NULs comes first). The
// copy is read while a worker writes, so it may end inside a line (the kernel shows a write that
// crosses a page in steps, logrotate's copy alike); the truncated file may not.
e2e("copytruncate under load: no NUL hole, every line whole", async (target) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const server = startLogging(target, file);
    const url = await server.ready(2);
    const run = load(`${url}/load`, 3, { connections: 8 });
    await sleep(1000);
    copyFileSync(file, `${file}.1`);
    truncateSync(file);
    const result = await run.done;
    await server.stop();
    assert.equal(result.failed, 0, result.report);
    for (const path of [`${file}.1`, file]) {
      const bytes = readFileSync(path);
      assert.equal(bytes.indexOf(0), -1, `a NUL in ${path}`);
      const lines = bytes.toString().split("\n");
      const tail = lines.pop()!;
      if (path === file) assert.equal(tail, "", `${path} ends in a whole line`);
      else {
        const start = "127.0.0.1 - - [";
        assert.ok(start.startsWith(tail) || tail.startsWith(start), `${path} ends in: ${tail}`);
      }
      assert.ok(lines.length > 0, `${path} has lines`);
      for (const line of lines) {
        assert.match(line, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/(load)? HTTP\/1\.1" 200 /);
      }
    }
  } finally {
    dir.remove();
  }
});

// The running workers write on to the moved file; a new one (TTIN, a recycle, a replacement) opens
// the path and cannot: the master serves on with the others and tries it again, as for an app that
// cannot load. It halted ("Worker failed to boot.", exit 3), hours after the rotation.
e2e(
  "a new worker that cannot open the moved log: the others serve on, it is tried again",
  (target) =>
    withLogMovedAway(target, async (server, url, file) => {
      server.signal("SIGTTIN");
      await server.waitFor(
        /\[ERROR\] Replacement worker \(pid:\d+\) failed to boot, keeping the running workers: Cannot open access log "[^"]+access\.log": [^\n]*; trying again in 1 s$/m,
      );
      // The worker's own line, on its stderr, as before it had a logger.
      assert.match(server.stderr, /^Cannot open access log "[^"]+access\.log"/m);
      assert.equal((await get(`${url}/still`)).status, 200);
      rmdirSync(file);
      const booted = () => server.stderr.split("Booting worker with pid").length - 1;
      await eventually(() => booted() === 3, "the third worker booted");
      assert.equal((await server.stop()).code, 0, server.stderr);
    }),
);
