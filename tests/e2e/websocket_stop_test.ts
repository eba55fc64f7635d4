// WebSockets at the end of a stop (docs/websockets.md, "Stopping"): a session whose client never
// answers the close frame is cut off at the graceful timeout, named at WARNING, ended for the app
// (1006) and logged once, in each worker class that holds sessions; a quick stop's dropped
// sessions are logged too; under --reuse-port on Deno workers the app sees the 1001 the client
// got, and the stop waits for the client's close frame; an idle socket gets a close frame.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  type Server,
  start,
  type Target,
} from "../_helpers.ts";
import { e2eOn } from "../_websocket.ts";
import { connect, wsUrl } from "../_ws_client.ts";
import { closeFrame, encodeFrame, type Opened, openRaw, readReaction } from "../_ws_raw.ts";

const NEUTRAL = join(FIXTURES, "websocket", "neutral.ts");

/** Starts NEUTRAL with `args` on a port of its own, and opens a raw session on /report-close. */
async function serveAndOpen(target: Target, args: string[]): Promise<[Server, Opened]> {
  const port = await freePort();
  const server = start(target, [
    ...["-w", "1", "-b", `127.0.0.1:${port}`, "--access-logfile", "-", ...args],
    NEUTRAL,
  ]);
  await server.ready();
  const o = await openRaw(port, "/report-close");
  assert.equal(o.status, 101);
  o.socket.on("error", () => {});
  return [server, o];
}

/** The access lines of /report-close sessions. */
function sessionLines(output: string): string[] {
  return output.match(/"GET \/report-close HTTP\/1\.1" 101 (\d+|-)/g) ?? [];
}

e2e(
  "a WebSocket whose client never answers the close frame is cut off at the graceful timeout: " +
    "a WARNING names it, the app's close handler runs (1006), one 101 access line (async, " +
    "gthread)",
  async (target) => {
    for (
      const [args, where] of [
        [[], /on worker \(pid:\d+\)/],
        [["-k", "gthread", "--threads", "2"], /on thread \d+ \(pid:\d+\)/],
      ] as const
    ) {
      const [server, o] = await serveAndOpen(target, ["--graceful-timeout", "1", ...args]);
      // The client reads what comes but answers nothing: no close frame.
      o.socket.resume();
      server.signal("SIGTERM");
      const stopped = await server.exited;
      o.socket.destroy();
      const what = `${args.join(" ") || "async"}:\n${server.output}`;
      assert.equal(stopped.code, 0, what);
      const cut = server.output.match(
        /\[WARNING\] Cut off at the graceful timeout \(1 s\) (on .*?): WebSocket session GET \/report-close from 127\.0\.0\.1:\d+, open \d+\.\d s\n/,
      );
      assert.ok(cut, what);
      assert.match(cut[1], where, what);
      assert.match(server.output, /neutral: the server saw close 1006\n/, what);
      assert.equal(sessionLines(server.output).length, 1, what);
    }
  },
);

e2e(
  "a graceful stop names the open WebSocket sessions it waits for, when the workers count them",
  async (target) => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const [server, o] = await serveAndOpen(target, [
      "--graceful-timeout",
      "1",
      "--metrics-bind",
      metrics,
    ]);
    o.socket.resume();
    // Counted once the app's open handler ran, which may follow the 101 the client read.
    await eventually(
      async () =>
        /^appserve_websockets_open 1$/m.test((await get(`http://${metrics}/metrics`)).body),
      "the session counted",
    );
    server.signal("SIGTERM");
    const stopped = await server.exited;
    o.socket.destroy();
    assert.equal(stopped.code, 0, server.output);
    assert.match(
      server.output,
      /\[INFO\] Waiting up to 1 s for 1 WebSocket session \(graceful_timeout\)\n/,
    );
  },
);

e2e(
  "a quick stop (QUIT) drops an open WebSocket, which still gets its 101 access line and its " +
    "close handler (1006) (async, gthread)",
  async (target) => {
    for (const args of [[], ["-k", "gthread", "--threads", "2"]]) {
      const [server, o] = await serveAndOpen(target, args);
      o.socket.resume();
      server.signal("SIGQUIT");
      await server.exited;
      o.socket.destroy();
      const what = `${args.join(" ") || "async"}:\n${server.output}`;
      assert.match(server.output, /neutral: the server saw close 1006\n/, what);
      assert.equal(sessionLines(server.output).length, 1, what);
      assert.doesNotMatch(server.output, /Cut off/, what);
      // A session is no request in flight: its line is the 101, not a killed request's 504.
      assert.doesNotMatch(server.output, /Killed by the quick stop/, what);
    }
  },
);

e2e(
  "--websocket-idle-timeout: a socket that answers no ping gets a close frame, 1001 as from " +
    "Deno.serve, on the shared socket",
  async (target) => {
    const [server, o] = await serveAndOpen(target, ["--websocket-idle-timeout", "2"]);
    // It answers no ping (nor anything else).
    const reaction = await readReaction(o, 20_000);
    assert.equal(reaction.close, 1001, reaction.what);
    await server.waitFor(/neutral: the server saw close 1006\n/);
    assert.equal((await server.stop()).code, 0);
  },
);

e2eOn(
  "deno",
  "--reuse-port on Deno workers: a graceful stop's 1001 is what the app's close handler sees",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, NEUTRAL],
    ]);
    const url = await server.ready();
    const client = await connect("npm-ws", wsUrl(url, "/report-close"));
    client.send("x");
    assert.equal(await client.next(), "x");
    server.signal("SIGTERM");
    assert.equal((await client.closed).code, 1001);
    const stopped = await server.exited;
    assert.equal(stopped.code, 0);
    assert.match(stopped.stderr, /neutral: the server saw close 1001\n/);
  },
);

e2eOn(
  "deno",
  "--reuse-port on Deno workers: a session whose client never answers the 1001 is cut off at the " +
    "graceful timeout: one WARNING names it, the app sees Deno's 1005, one 101 access line",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, "--graceful-timeout", "1"],
      ...["--access-logfile", "-", NEUTRAL],
    ]);
    await server.ready();
    const o = await openRaw(port, "/report-close");
    assert.equal(o.status, 101);
    o.socket.on("error", () => {});
    // The client reads what comes but answers nothing: no close frame.
    const closing = closeFrame(o);
    server.signal("SIGTERM");
    assert.equal(await closing, 1001);
    o.socket.resume();
    const stopped = await server.exited;
    o.socket.destroy();
    assert.equal(stopped.code, 0, server.output);
    assert.match(server.output, /neutral: the server saw close 1005\n/);
    assert.equal(sessionLines(server.output).length, 1, server.output);
    // The session, and nothing else: Deno.serve had no response left to send.
    assert.deepEqual(server.output.match(/Cut off at the graceful timeout.*/g), [
      "Cut off at the graceful timeout (1 s) on worker (pid:" + bootedPid(server.output) +
      "): 1 WebSocket session on the native server",
    ]);
  },
);

/** The pid of the worker that booted, from its "Booting worker" line. */
function bootedPid(output: string): string {
  return /Booting worker with pid: (\d+)/.exec(output)?.[1] ?? "?";
}

e2eOn(
  "deno",
  "--reuse-port on Deno workers: a graceful stop waits for the client's close frame, which a " +
    "client may send late (the app sees its code)",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, "--graceful-timeout", "30"],
      ...["--access-logfile", "-", NEUTRAL],
    ]);
    await server.ready();
    const o = await openRaw(port, "/report-close");
    assert.equal(o.status, 101);
    o.socket.on("error", () => {});
    const closing = closeFrame(o);
    server.signal("SIGTERM");
    assert.equal(await closing, 1001);
    // Late, and with a code of its own: the app sees it only if the server still reads.
    await new Promise((resolve) => setTimeout(resolve, 500));
    o.socket.write(encodeFrame({ op: 8, hex: "0fa0" }, 0));
    const stopped = await server.exited;
    o.socket.destroy();
    assert.equal(stopped.code, 0, server.output);
    assert.match(server.output, /neutral: the server saw close 4000\n/);
    assert.equal(sessionLines(server.output).length, 1, server.output);
    assert.doesNotMatch(server.output, /Cut off/);
  },
);
