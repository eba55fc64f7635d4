// Signals to a master that is still starting (here: --preload importing a slow app), before its
// loop handles them: a stop ends the start cleanly (its files removed, gunicorn's lines, exit 0),
// and any other waits for the loop, instead of the default action ending the master (exit 143).

import assert from "node:assert/strict";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  getWhenReady,
  hasStackTrace,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";

const SLOW_BOOT_APP = join(FIXTURES, "apps", "slow_boot_app.ts");

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  e2e(
    `${signal} while --preload imports the app: its files removed, two lines, exit 0`,
    async (target) => {
      const dir = tempDir();
      const socket = join(dir.path, "app.sock");
      const pidfile = join(dir.path, "app.pid");
      const slow = join(dir.path, "slow_ms");
      writeFileSync(slow, "30000");
      const server = start(
        target,
        ["--preload", "-w", "1", "-b", `unix:${socket}`, "-p", pidfile, SLOW_BOOT_APP],
        { env: { SLOW_BOOT_FILE: slow } },
      );
      let importer = 0;
      try {
        await eventually(
          () => existsSync(`${pidfile}.ctl`) && childPids(server.pid).length === 1,
          "the pidfile, the control socket and the import",
        );
        [importer] = childPids(server.pid);
        assert.ok(existsSync(socket) && existsSync(pidfile));
        server.signal(signal);
        // Not stop(): its TERM could come before this signal is handled.
        const result = await Promise.race([server.exited, sleep(20_000).then(() => server.stop())]);
        assert.equal(result.code, 0, `${result.signal} ${result.stderr}`);
        const name = signal.slice(3).toLowerCase();
        assert.match(
          result.stderr,
          new RegExp(`\\[INFO\\] Handling signal: ${name}\n.*\\[INFO\\] Shutting down: Master\n`),
        );
        assert.ok(!hasStackTrace(result.stderr), result.stderr);
        assert.ok(!existsSync(socket), "the socket file");
        assert.ok(!existsSync(pidfile), "the pidfile");
        assert.ok(!existsSync(`${pidfile}.ctl`), "the control socket");
        // The import is cut short, not left to sleep on as an orphan.
        await eventually(() => !alive(importer), "the import's process gone");
      } finally {
        if (importer && alive(importer)) process.kill(importer, "SIGKILL");
        await server.stop();
        dir.remove();
      }
    },
  );
}

e2e("HUP while --preload imports the app is handled once the master runs", async (target) => {
  const dir = tempDir();
  const socket = join(dir.path, "app.sock");
  const slow = join(dir.path, "slow_ms");
  writeFileSync(slow, "3000");
  const pidfile = join(dir.path, "app.pid");
  const server = start(
    target,
    ["--preload", "-w", "1", "-b", `unix:${socket}`, "-p", pidfile, SLOW_BOOT_APP],
    { env: { SLOW_BOOT_FILE: slow } },
  );
  try {
    await eventually(
      () => existsSync(`${pidfile}.ctl`) && childPids(server.pid).length === 1,
      "the control socket and the import",
    );
    server.signal("SIGHUP");
    // The workers boot at once.
    rmSync(slow);
    await server.waitFor(/\[INFO\] Handling signal: hup\n.*\[INFO\] Hang up: Master\n/);
    assert.match((await getWhenReady("http://x/", { socketPath: socket })).body, /^hello pid/);
    assert.equal((await server.stop()).code, 0);
  } finally {
    await server.stop();
    dir.remove();
  }
});

// Ctrl-C while an address in use is retried (gunicorn's five tries, 1 s apart) stops at once,
// not after the last try with the bind's error.
e2e(
  "SIGINT while a TCP address in use is retried: the stop's two lines, exit 0",
  async (target) => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const server = start(target, [
        "-w",
        "1",
        "-b",
        `127.0.0.1:${port}`,
        join(FIXTURES, "apps", "pid_app.ts"),
      ]);
      await server.waitFor(/Retrying in 1 second\.\n/);
      server.signal("SIGINT");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        /\[INFO\] Handling signal: int\n.*\[INFO\] Shutting down: Master\n/,
      );
      assert.doesNotMatch(result.stderr, /tried 5 times/);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
    } finally {
      holder.close();
    }
  },
);
