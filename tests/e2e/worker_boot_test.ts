// A worker process refuses a boot written by another appserve version (the
// program upgraded on disk under a running master) rather than misread it.
// The worker is started the way a master starts it, with a crafted boot.

import assert from "node:assert/strict";
import { BOOT_ENV, ROLE_ENV } from "../../src/ipc/messages.ts";
import { VERSION } from "../../src/version.ts";
import { join } from "node:path";
import { childPids, e2e, FIXTURES, get, hasStackTrace, run, start } from "../_helpers.ts";

const BOOT = { config: {}, listeners: [], reusePort: [], age: 1 };

function startWorker(target: Parameters<typeof run>[0], boot: Record<string, unknown>) {
  return run(target, [], { env: { [ROLE_ENV]: "worker", [BOOT_ENV]: JSON.stringify(boot) } });
}

e2e(
  "a worker given a boot of another appserve version exits 3 with one line naming both",
  async (t) => {
    const result = await startWorker(t, { ...BOOT, version: "0.0.1" });
    assert.equal(result.code, 3, result.stderr);
    assert.equal(
      result.stderr,
      `Cannot boot: the master runs appserve 0.0.1, this program is appserve ${VERSION}; ` +
        "restart the server, or start a new master of this version with USR2 and stop the old one\n",
    );
    assert.ok(!hasStackTrace(result.stderr));
  },
);

e2e(
  "a worker given a boot without a version (an older master) exits 3 with one line",
  async (t) => {
    const result = await startWorker(t, BOOT);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /^Cannot boot: the master runs an older appserve, this program is /,
    );
    assert.equal(result.stderr.split("\n").length, 2, result.stderr);
  },
);

const NOISE_APP = join(FIXTURES, "apps", "channel_noise_app.ts");

e2e("the master logs a line on a worker's channel that is no message, and serves on", async (t) => {
  const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", NOISE_APP]);
  const url = await server.ready(1);
  const pid = childPids(server.pid)[0];
  await server.waitFor(
    new RegExp(
      `\\[WARNING\\] Dropped a malformed message from worker \\(pid:${pid}\\): "this is not a message"`,
    ),
  );
  assert.equal((await get(url)).body, "ok\n");
  await server.stop();
});

const BUN_OPTIONS_APP = join(FIXTURES, "apps", "bun_serve_options_app.ts");

for (const klass of ["async", "gthread"]) {
  e2e(
    `-k ${klass}: a worker warns once that it ignores the Bun.serve options the app exports`,
    async (t) => {
      const server = start(t, [
        "-w",
        "1",
        "-k",
        klass,
        "--threads",
        "2",
        "-b",
        "127.0.0.1:0",
        BUN_OPTIONS_APP,
      ]);
      const url = await server.ready(1);
      assert.equal((await get(url)).body, "ok\n");
      await server.waitFor(
        /\[WARNING\] The app's Bun serve\(\) options are ignored: port \(use --bind\), hostname \(use --bind\), error \(not called/,
      );
      await server.stop();
      assert.equal(server.stderr.match(/Bun serve\(\) options/g)?.length, 1, server.stderr);
    },
  );
}
