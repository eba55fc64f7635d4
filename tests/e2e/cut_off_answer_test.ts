// What the client gets when a graceful stop's --graceful-timeout runs out: a request still with
// the app (no response head sent) gets the 504 its access line says, with connection: close,
// then the connection closes; a response already under way is cut mid-body, its head as sent,
// and logged as its client got it.
// Directly (a raw client) and behind nginx, which then logs the 504 too, not a 502. And a hung
// gthread thread's HEADs, answered by its worker process at the graceful timeout or THREAD TIMEOUT.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, freePort, get, start, tempDir } from "../_helpers.ts";
import { parsePrometheus, sampleValue } from "../_prometheus.ts";
import { rawConnect, rawExchange, readAll } from "../_raw.ts";
import { startNginx } from "../_nginx.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

// The shared socket (appserve's HTTP layer); --reuse-port (the runtime's own server) in
// cut_off_native_test.ts.
const VARIANTS: [string, string[]][] = [
  ["async", []],
  ["sync", ["-k", "sync"]],
  ["gthread", ["-k", "gthread", "--threads", "5"]],
];

for (const [variant, args] of VARIANTS) {
  e2e(
    `a request cut off at the graceful timeout gets the 504 of its access line (${variant})`,
    async (target) => {
      const dir = tempDir();
      const log = join(dir.path, "access.log");
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--graceful-timeout", "1", ...args, "--access-logfile", log],
        ...["--access-logformat", '"%(r)s" %(s)s %(b)s', "-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      try {
        await server.ready(1);
        // The sync worker serves one connection at a time: one request there.
        const sync = variant === "sync";
        // A response under way: its head and first line went out, its end comes after 30 s.
        // First, while every gthread thread is free to take it.
        const streaming = sync ? undefined : await rawConnect(port);
        const streamed = streaming && readAll(streaming, 20_000);
        if (!sync) {
          let read = "";
          streaming!.on("data", (d) => (read += d));
          streaming!.write("GET /drip?ms=30000&q=drip HTTP/1.1\r\nHost: x\r\n\r\n");
          await eventually(() => read.includes("first line\n"), "the stream's first line");
        }
        // A stream whose first chunk comes after 30 s: handed to the server, nothing sent yet.
        const late = sync ? undefined : rawExchange(
          port,
          "GET /drip?first=30000&q=late&tell HTTP/1.1\r\nHost: x\r\n\r\n",
          20_000,
        );
        if (!sync) await server.waitFor(/drip pulled: \?first=30000&q=late&tell$/m);
        const cut = rawExchange(
          port,
          "GET /slow?ms=30000&q=get&tell HTTP/1.1\r\nHost: x\r\n\r\n",
          20_000,
        );
        await server.waitFor(/slow began: \?ms=30000&q=get&tell$/m);
        const head = sync ? undefined : rawExchange(
          port,
          "HEAD /slow?ms=30000&q=head&tell HTTP/1.1\r\nHost: x\r\n\r\n",
          20_000,
        );
        if (!sync) await server.waitFor(/slow began: \?ms=30000&q=head&tell$/m);
        server.signal("SIGTERM");
        const result = await server.exited;
        assert.equal(result.code, 0, result.stderr);

        const got = await cut;
        assert.equal(got.status, 504, JSON.stringify(got.text));
        const [top, body] = got.text.split("\r\n\r\n");
        assert.match(top, /\r\nconnection: close(\r\n|$)/i);
        assert.match(top, /\r\ncontent-length: 16(\r\n|$)/i);
        assert.equal(body, "Gateway Timeout\n");
        const lines = readFileSync(log, "utf8").split("\n");
        // Its body's bytes, as the line of any 504 the worker sends says them (not `-`).
        assert.ok(
          lines.includes('"GET /slow?ms=30000&q=get&tell HTTP/1.1" 504 16'),
          lines.join("\n"),
        );
        assert.match(result.stderr, /\[WARNING\] Cut off at the graceful timeout .*q=get/);
        if (!sync) {
          // A HEAD gets the head alone.
          const headGot = await head!;
          assert.equal(headGot.status, 504, JSON.stringify(headGot.text));
          assert.ok(headGot.text.endsWith("\r\n\r\n"), JSON.stringify(headGot.text));
          // No body went out for it: none in its line.
          assert.ok(
            lines.includes('"HEAD /slow?ms=30000&q=head&tell HTTP/1.1" 504 -'),
            lines.join("\n"),
          );
          // The stream's line: what its client got, the 200 head and the first line's bytes,
          // not a 504 it never saw; it is still named cut off.
          assert.ok(
            lines.includes('"GET /drip?ms=30000&q=drip HTTP/1.1" 200 11'),
            lines.join("\n"),
          );
          assert.equal(lines.filter((l) => l.includes("q=drip")).length, 1, lines.join("\n"));
          assert.match(result.stderr, /\[WARNING\] Cut off at the graceful timeout .*q=drip/);
          // The stream that had sent nothing gets the 504 its line says, not a dropped connection.
          const lateGot = await late!;
          assert.equal(lateGot.status, 504, JSON.stringify(lateGot.text));
          assert.ok(
            lines.includes('"GET /drip?first=30000&q=late&tell HTTP/1.1" 504 16'),
            lines.join("\n"),
          );
          // The stream is cut as before: its 200 head and first line, then the close, no 504.
          const drip = await streamed!;
          assert.equal(drip.status, 200, JSON.stringify(drip.text));
          assert.match(drip.text, /first line\n/);
          assert.doesNotMatch(drip.text, /504|last line/);
        }
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}

// A stream that follows request.signal (a proxy's fetch(upstream, { signal }) body) fails as the
// cut aborts it: the cut's doing, named by its WARNING, not an error in the app's response body.
for (const [variant, args] of VARIANTS.filter(([v]) => v !== "sync")) {
  e2e(
    `a stream that follows request.signal, cut off at the graceful timeout: no app ERROR (${variant})`,
    async (target) => {
      const dir = tempDir();
      const log = join(dir.path, "access.log");
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--graceful-timeout", "1", ...args, "--access-logfile", log],
        ...["--access-logformat", '"%(r)s" %(s)s %(b)s', "-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      try {
        await server.ready(1);
        const streaming = await rawConnect(port);
        const streamed = readAll(streaming, 20_000);
        let read = "";
        streaming.on("data", (d) => (read += d));
        streaming.write("GET /drip?ms=30000&q=follow&follow HTTP/1.1\r\nHost: x\r\n\r\n");
        await eventually(() => read.includes("first line\n"), "the stream's first line");
        server.signal("SIGTERM");
        const result = await server.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.equal((await streamed).status, 200);
        assert.match(result.stderr, /\[WARNING\] Cut off at the graceful timeout .*q=follow/);
        assert.doesNotMatch(result.stderr, /\[ERROR\]/);
        const lines = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("q=follow"));
        assert.deepEqual(lines, ['"GET /drip?ms=30000&q=follow&follow HTTP/1.1" 200 11']);
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}

e2e(
  "behind nginx, a request cut off at the graceful timeout is nginx's 504, not a 502",
  async (target) => {
    const dir = tempDir();
    const socket = join(dir.path, "app.sock");
    const server = start(target, [
      ...["-w", "1", "--graceful-timeout", "1", "-b", `unix:${socket}`, PID_APP],
    ]);
    const nginx = await startNginx(dir.path, (port) => `
http {
  log_format status "$request_uri $status $upstream_status";
  access_log ${dir.path}/nginx-access.log status;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://unix:${socket}:;
      proxy_read_timeout 60s;
    }
  }
}`);
    try {
      await server.waitFor(/Listening at: unix:/);
      await eventually(async () => {
        const probe = await rawExchange(nginx.port, "GET /peer HTTP/1.0\r\n\r\n", 20_000);
        return probe.status === 200;
      }, "nginx and appserve serving");
      const cut = rawExchange(
        nginx.port,
        "GET /slow?ms=30000&q=nginx&tell HTTP/1.0\r\n\r\n",
        20_000,
      );
      await server.waitFor(/slow began: \?ms=30000&q=nginx&tell$/m);
      server.signal("SIGTERM");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      const got = await cut;
      assert.equal(got.status, 504, JSON.stringify(got.text));
      assert.match(got.text, /\r\n\r\nGateway Timeout\n$/);
      const access = join(dir.path, "nginx-access.log");
      await eventually(() => readFileSync(access, "utf8").includes("q=nginx"), "nginx's line");
      const line = readFileSync(access, "utf8").split("\n").find((l) => l.includes("q=nginx"));
      assert.equal(line, "/slow?ms=30000&q=nginx&tell 504 504");
      const errors = readFileSync(join(dir.path, "nginx-error.log"), "utf8");
      assert.doesNotMatch(errors, /upstream prematurely closed/);
    } finally {
      await nginx.stop();
      await server.stop();
      dir.remove();
    }
  },
);

e2e(
  "a HEAD on a hung gthread thread cut off at the graceful timeout gets the 504's head alone",
  async (target) => {
    const dir = tempDir();
    const log = join(dir.path, "access.log");
    const server = start(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "1", "--graceful-timeout", "1"],
      ...["--access-logfile", log, "--access-logformat", '"%(r)s" %(s)s %(b)s'],
      ...["-b", "127.0.0.1:0", PID_APP],
    ]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      // The thread's event loop spins: the process answers for it, on its fd.
      const head = rawExchange(port, "HEAD /spin?after=0&tell HTTP/1.1\r\nHost: x\r\n\r\n", 20_000);
      await server.waitFor(/spinning: /);
      server.signal("SIGTERM");
      const result = await server.exited;
      const got = await head;
      assert.equal(got.status, 504, JSON.stringify(got.text));
      assert.ok(got.text.endsWith("\r\n\r\n"), JSON.stringify(got.text));
      const lines = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("/spin"));
      assert.deepEqual(lines, ['"HEAD /spin?after=0&tell HTTP/1.1" 504 -'], result.stderr);
    } finally {
      await server.stop();
      dir.remove();
    }
  },
);

/** One HEAD on its own connection: what came back, and whether the server ended it (its FIN). */
async function headExchange(port: number, path: string): Promise<{ text: string; ended: boolean }> {
  const socket = await rawConnect(port);
  return new Promise((resolve) => {
    let text = "";
    let ended = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, ended });
    };
    const timer = setTimeout(done, 30_000);
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("end", () => (ended = true));
    socket.on("close", done);
    socket.on("error", () => {});
    socket.write(`HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

// One gthread thread has the in-flight table's 32 entries; its requests past them are only
// counted there, unnamed. When the worker process answers for the hung thread (THREAD TIMEOUT, or
// its graceful timeout while it spins), a HEAD among them gets the head alone, as a named one
// does: the process used to know no method for it and sent the body too, which a client reads
// as the start of the next response.
for (const at of ["THREAD TIMEOUT", "the graceful timeout"] as const) {
  e2e(
    `HEADs past a hung gthread thread's in-flight entries get the head alone (${at})`,
    async (target) => {
      const dir = tempDir();
      const log = join(dir.path, "access.log");
      const metrics = await freePort();
      const timeout = at === "THREAD TIMEOUT";
      const server = start(target, [
        ...["-w", "1", "-k", "gthread", "--threads", "1"],
        // 6 s for the 40 HEADs to be read before the thread is timed out or spins: a loaded box.
        ...(timeout ? ["-t", "6"] : ["-t", "0", "--graceful-timeout", "1"]),
        ...["--metrics-bind", `127.0.0.1:${metrics}`],
        ...["--access-logfile", log, "--access-logformat", '"%(r)s" %(s)s %(b)s'],
        ...["-b", "127.0.0.1:0", PID_APP],
      ]);
      try {
        const port = Number(new URL(await server.ready(1)).port);
        // The app holds the thread, its loop still turning (THREAD TIMEOUT comes for the hold),
        // or spinning after 6 s: the HEADs reach the thread meanwhile and wait behind it.
        const first = rawExchange(
          port,
          `GET ${timeout ? "/slow?ms=60000" : "/spin?after=6000"}&tell HTTP/1.1\r\nHost: x\r\n\r\n`,
          30_000,
        );
        await server.waitFor(timeout ? /slow began: / : /spin began: /);
        const heads = Array.from({ length: 40 }, (_, i) => headExchange(port, `/?i=${i}`));
        // All in flight: the first and 31 HEADs named, 9 HEADs counted.
        await eventually(async () => {
          const answer = await get(`http://127.0.0.1:${metrics}/metrics`);
          return sampleValue(parsePrometheus(answer.body), "appserve_requests_in_flight") === 41;
        }, "41 requests in flight");
        if (!timeout) {
          await server.waitFor(/spinning: /);
          server.signal("SIGTERM");
        }
        assert.equal((await first).status, 504);
        for (const got of await Promise.all(heads)) {
          const end = got.text.indexOf("\r\n\r\n");
          assert.match(got.text, /^HTTP\/1\.1 503 /, JSON.stringify(got.text));
          assert.match(got.text, /\r\ncontent-length: 20\r\n/i, JSON.stringify(got.text));
          assert.match(got.text, /\r\nconnection: close\r\n/i, JSON.stringify(got.text));
          // The head alone, then the server's end of the connection: no body byte after it.
          assert.equal(end + 4, got.text.length, JSON.stringify(got.text));
          assert.ok(got.ended, JSON.stringify(got.text));
        }
        // Those past the entries are counted where the others are named.
        if (timeout) {
          await server.waitFor(
            /\[CRITICAL\] THREAD TIMEOUT .* gthread worker, 41 requests in flight$/m,
          );
          await server.waitFor(/\[CRITICAL\] In flight on thread \d+ \(pid:\d+\): 9 more$/m);
        } else {
          assert.equal((await server.exited).code, 0, server.stderr);
          assert.match(server.stderr, /\[WARNING\] Cut off at the graceful timeout .*: 9 more$/m);
        }
        // Each HEAD's line says no body went out; those past the entries are named `- - -`.
        const lines = () =>
          readFileSync(log, "utf8").split("\n").filter((l) => /^"(HEAD |- )/.test(l));
        await eventually(() => lines().length === 40, "40 HEAD lines");
        const named = lines().filter((l) => /^"HEAD \/\?i=\d+ HTTP\/1\.1" 503 -$/.test(l));
        const unnamed = lines().filter((l) => l === '"- - -" 503 -');
        assert.deepEqual([named.length, unnamed.length], [31, 9], lines().join("\n"));
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}
