// --reuse-port: a request still with the app when a graceful stop's --graceful-timeout runs out
// gets the 504 of its access line from the runtime's own server (Bun.serve, Deno.serve), as on the
// shared socket (cut_off_answer_test.ts), not a connection closed without a reply.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, freePort, sleep, start, tempDir } from "../_helpers.ts";
import { rawConnect, rawExchange } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

for (const [variant, args] of [["async", []], ["sync", ["-k", "sync"]]] as const) {
  e2e(
    `--reuse-port: a request cut off at the graceful timeout gets its 504 (${variant})`,
    async (target) => {
      const dir = tempDir();
      const log = join(dir.path, "access.log");
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--reuse-port", "--graceful-timeout", "1", ...args],
        ...["--access-logfile", log, "--access-logformat", '"%(r)s" %(s)s %(b)s'],
        ...["-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      try {
        await server.ready(1);
        const cut = rawExchange(
          port,
          "GET /slow?ms=30000&q=get&tell HTTP/1.1\r\nHost: x\r\n\r\n",
          20_000,
        );
        await server.waitFor(/slow began: \?ms=30000&q=get&tell$/m);
        // The sync worker serves one request at a time: the HEAD on the async one only.
        const head = variant === "sync" ? undefined : rawExchange(
          port,
          "HEAD /slow?ms=30000&q=head&tell HTTP/1.1\r\nHost: x\r\n\r\n",
          20_000,
        );
        if (head) await server.waitFor(/slow began: \?ms=30000&q=head&tell$/m);
        server.signal("SIGTERM");
        const result = await server.exited;
        assert.equal(result.code, 0, result.stderr);

        const got = await cut;
        assert.equal(got.status, 504, JSON.stringify(got.text));
        const [top, body] = got.text.split("\r\n\r\n");
        assert.match(top, /\r\nconnection: close(\r\n|$)/i);
        assert.equal(body, "Gateway Timeout\n");
        if (head) {
          const headGot = await head;
          assert.equal(headGot.status, 504, JSON.stringify(headGot.text));
          assert.ok(headGot.text.endsWith("\r\n\r\n"), JSON.stringify(headGot.text));
        }
        const lines = readFileSync(log, "utf8").split("\n");
        // The bytes of the 504's body, as on the shared socket; a HEAD's none.
        const want = ['"GET /slow?ms=30000&q=get&tell HTTP/1.1" 504 16'];
        if (head) want.push('"HEAD /slow?ms=30000&q=head&tell HTTP/1.1" 504 -');
        for (const line of want) assert.ok(lines.includes(line), lines.join("\n"));
        assert.match(result.stderr, /\[WARNING\] Cut off at the graceful timeout .*q=get/);
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}

e2e(
  "--reuse-port: after the cut the app starts no request that got its 504, and logs none twice",
  async (target) => {
    const dir = tempDir();
    const log = join(dir.path, "access.log");
    const port = await freePort();
    // sync: one request at a time, so the POST waits its turn behind the GET.
    const server = start(target, [
      ...["-w", "1", "-k", "sync", "--reuse-port", "--graceful-timeout", "1"],
      ...["--access-logfile", log, "--access-logformat", '"%(r)s" %(s)s %(b)s'],
      ...["-b", `127.0.0.1:${port}`, PID_APP],
    ]);
    try {
      await server.ready(1);
      // A stream under way keeps the native server's shutdown waiting past the cut, so the
      // server still takes answers then.
      const streaming = await rawConnect(port);
      let read = "";
      streaming.on("data", (d) => (read += d));
      streaming.write("GET /drip?ms=30000&q=drip HTTP/1.1\r\nHost: x\r\n\r\n");
      await eventually(() => read.includes("first line\n"), "the stream's first line");
      // The app answers the GET 100 ms after the cut: the POST's turn would come then.
      const held = rawExchange(
        port,
        "GET /after-term?ms=1100&tell HTTP/1.1\r\nHost: x\r\n\r\n",
        20_000,
      );
      await server.waitFor(/after-term began/);
      const queued = rawExchange(
        port,
        "POST /slow?ms=10&q=queued&tell HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n",
        20_000,
      );
      await sleep(500);
      server.signal("SIGTERM");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal((await held).status, 504);
      assert.equal((await queued).status, 504);
      streaming.destroy();
      assert.doesNotMatch(result.stdout, /slow began: \?ms=10&q=queued/, "the app ran the POST");
      const lines = readFileSync(log, "utf8").split("\n").filter((l) =>
        /after-term|queued/.test(l)
      );
      assert.deepEqual(lines.sort(), [
        '"GET /after-term?ms=1100&tell HTTP/1.1" 504 16',
        '"POST /slow?ms=10&q=queued&tell HTTP/1.1" 504 16',
      ]);
    } finally {
      await server.stop();
      dir.remove();
    }
  },
);
