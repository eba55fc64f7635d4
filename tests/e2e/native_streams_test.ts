// --reuse-port: a streamed response the runtime's own server is still sending stays in the
// worker's in-flight table until its stream ends (src/worker/native_stream_ends.ts), so a quick
// stop and a cut at the graceful timeout name it, with or without an access log, and once.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, freePort, start, type Target, tempDir } from "../_helpers.ts";
import { rawConnect } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** A /drip whose head and first line came; `end()` closes its connection. */
async function dripping(port: number, query: string) {
  const socket = await rawConnect(port);
  let read = "";
  socket.on("data", (d) => (read += d));
  socket.write(`GET /drip?ms=60000&${query} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await eventually(() => read.includes("first line\n"), "the stream's first line");
  return { end: () => socket.destroy() };
}

async function nativeServer(target: Target, args: string[]) {
  const port = await freePort();
  const server = start(target, [
    ...["-w", "1", "--reuse-port", "--graceful-timeout", "1", ...args],
    ...["-b", `127.0.0.1:${port}`, PID_APP],
  ]);
  await server.ready(1);
  return { server, port };
}

for (const signal of ["SIGINT", "SIGQUIT"] as const) {
  e2e(`--reuse-port: a ${signal} stop names a stream under way (no access log)`, async (target) => {
    const { server, port } = await nativeServer(target, []);
    try {
      // A stream that ended before is named by nothing.
      const done = await fetch(`http://127.0.0.1:${port}/drip?ms=10&q=done`);
      assert.match(await done.text(), /last line/);
      const drip = await dripping(port, "q=killed");
      server.signal(signal);
      const result = await server.exited;
      drip.end();
      assert.equal(result.code, 0, result.stderr);
      const named = result.stderr.split("\n").filter((l) => /Killed by the quick stop/.test(l));
      assert.equal(named.length, 1, result.stderr);
      assert.match(
        named[0],
        /\[WARNING\] Killed by the quick stop on worker \(pid:\d+\): GET \/drip\?ms=60000&q=killed from 127\.0\.0\.1:\d+ for \d+\.\d s$/,
      );
    } finally {
      await server.stop();
    }
  });
}

for (const logged of [false, true]) {
  e2e(
    `--reuse-port: a stream under way cut off at the graceful timeout is named once ` +
      `(${logged ? "with" : "no"} access log)`,
    async (target) => {
      const dir = tempDir();
      const log = join(dir.path, "access.log");
      const access = logged ? ["--access-logfile", log, "--access-logformat", '"%(r)s" %(s)s'] : [];
      const { server, port } = await nativeServer(target, access);
      try {
        const drip = await dripping(port, "q=cut");
        server.signal("SIGTERM");
        const result = await server.exited;
        drip.end();
        assert.equal(result.code, 0, result.stderr);
        const named = result.stderr.split("\n").filter((l) => /Cut off at the graceful/.test(l));
        assert.equal(named.length, 1, result.stderr);
        assert.match(
          named[0],
          /\[WARNING\] Cut off at the graceful timeout \(1 s\) on worker \(pid:\d+\): GET \/drip\?ms=60000&q=cut from 127\.0\.0\.1:\d+ for \d+\.\d s$/,
        );
        if (logged) {
          // The status its client got, once: no 504 of the table's besides.
          const lines = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("q=cut"));
          assert.deepEqual(lines, ['"GET /drip?ms=60000&q=cut HTTP/1.1" 200']);
        }
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}
