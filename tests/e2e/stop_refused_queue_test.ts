// What a stop says of the connections it refuses unseen: those waiting in a master-owned
// listener's accept queue, every worker busy, are reset as the listener closes; the master counts
// them from the kernel before it closes its copy, one WARNING per listener.

import assert from "node:assert/strict";
import { join } from "node:path";
import { childPids, e2e, FIXTURES, start, tempDir } from "../_helpers.ts";
import { whileStopped } from "../_procs.ts";
import { rawConnect, readAll } from "../_raw.ts";
import { newPki } from "../_tls.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

for (const signal of ["SIGTERM", "SIGQUIT", "SIGINT"] as const) {
  e2e(
    `a ${signal} stop says how many connections waiting in the accept queue it refuses`,
    async (target) => {
      const server = start(target, ["-w", "1", "-k", "sync", "-b", "127.0.0.1:0", PID_APP]);
      try {
        const url = await server.ready(1);
        const port = Number(new URL(url).port);
        const [worker] = childPids(server.pid);
        // The worker stopped: the kernel completes the handshakes, no one accepts.
        // (Once it runs again it may still take one before it lets go of the listener: what
        // each client gets is not asserted.)
        const answers = await whileStopped([worker], async () => {
          const sockets = await Promise.all([1, 2, 3].map(() => rawConnect(port)));
          sockets.forEach((s, i) => s.write(`GET /?q=${i} HTTP/1.1\r\nHost: x\r\n\r\n`));
          const answers = sockets.map((s) => readAll(s, 20_000));
          server.signal(signal);
          await server.waitFor(
            new RegExp(
              `\\[WARNING\\] The stop closes http://127\\.0\\.0\\.1:${port} with 3 ` +
                "connections waiting in its accept queue: reset, unless a worker takes them",
            ),
          );
          return answers;
        });
        assert.equal((await server.exited).code, 0, server.stderr);
        // Said once, for the one listener.
        assert.equal(server.stderr.match(/accept queue/g)?.length, 1, server.stderr);
        // Each is closed, answered or not.
        await Promise.all(answers);
      } finally {
        await server.stop();
      }
    },
  );
}

e2e("a stop with nothing in the accept queue says nothing of it", async (target) => {
  const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  await server.ready(1);
  assert.equal((await server.stop()).code, 0);
  assert.doesNotMatch(server.stderr, /accept queue/);
});

e2e("with TLS the stop names the listener https://, as Listening at does", async (target) => {
  const dir = tempDir();
  const pki = newPki(join(dir.path, "pki"));
  const server = start(target, [
    ...["-w", "1", "-k", "sync", "-b", "127.0.0.1:0"],
    ...["--certfile", pki.cert, "--keyfile", pki.key, PID_APP],
  ]);
  try {
    const url = (await server.waitFor(/Listening at: (https:\/\/[^ ,]+)/))[1];
    await server.waitFor(/Booting worker/);
    const port = Number(new URL(url).port);
    const [worker] = childPids(server.pid);
    const answers = await whileStopped([worker], async () => {
      const sockets = await Promise.all([1, 2].map(() => rawConnect(port)));
      const answers = sockets.map((s) => readAll(s, 20_000));
      server.signal("SIGTERM");
      await server.waitFor(
        new RegExp(
          `\\[WARNING\\] The stop closes https://127\\.0\\.0\\.1:${port} with 2 connections`,
        ),
      );
      return answers;
    });
    assert.equal((await server.exited).code, 0, server.stderr);
    await Promise.all(answers);
  } finally {
    await server.stop();
    dir.remove();
  }
});
