// request.signal under appserve's HTTP layer, in every worker class, behaves as under the runtime's
// own server (--reuse-port, checked here too): it aborts when a raw-socket client goes away while
// the app works or while the response streams, and when the graceful timeout cuts a request off;
// after a response that went out whole only under Deno workers (Deno.serve's default), never
// under Bun's. Clones and Requests made from it follow it.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { rawConnect } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "signal_app.ts");
const MODES: [string, string[]][] = [
  ["sync", ["-k", "sync"]],
  ["async", ["-k", "async"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
  ["async on the runtime's own server", ["--reuse-port"]],
];

/** What the app noted for requests tagged `tag` (signal_app.ts), sorted. */
function events(log: string, tag: string): string[] {
  return readFileSync(log, "utf8").split("\n").filter((l) => l.startsWith(`${tag} `))
    .map((l) => l.slice(tag.length + 1)).sort();
}

/** Sends `GET path` on a raw connection and waits until `ready()` holds; the socket stays open. */
async function send(port: number, path: string, ready: (received: number) => boolean) {
  const socket: Socket = await rawConnect(port);
  socket.on("error", () => {});
  let received = 0;
  socket.on("data", (d: Uint8Array) => void (received += d.length));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await eventually(() => ready(received), `${path} under way`);
  return socket;
}

/** The message of the AbortError the runtime's own server aborts request.signal with. */
function abortMessage(target: Target): string {
  return target.workers === "deno"
    ? "The request has been cancelled."
    : "The connection was closed.";
}

for (const [name, flags] of MODES) {
  const native = flags.includes("--reuse-port");
  e2e(
    `request.signal aborts for a client gone mid-handler or mid-stream (${name})`,
    async (target) => {
      const dir = tempDir();
      const log = join(dir.path, "signal.log");
      writeFileSync(log, "");
      const bind = `127.0.0.1:${native ? await freePort() : 0}`;
      const server = start(target, [
        "-w",
        "1",
        ...flags,
        "--graceful-timeout",
        "1",
        "-b",
        bind,
        APP,
      ], {
        env: { APPSERVE_SIGNAL_LOG: log },
      });
      const gone = (who: string) => `abort ${who} AbortError: ${abortMessage(target)}`;
      try {
        const url = await server.ready(1);
        const port = Number(new URL(url).port);

        // The client goes away while the app awaits: the request, its clone and a copy abort.
        const waiting = await send(
          port,
          "/wait?tag=handler",
          () => events(log, "handler").length > 0,
        );
        waiting.destroy();
        await eventually(() => events(log, "handler").length === 4, "the aborts of the request");
        assert.deepEqual(
          events(log, "handler"),
          [gone("clone"), gone("copy"), gone("request"), "start"],
        );

        // The client goes away while the response streams: the signal aborts, the stream is
        // cancelled with the signal's AbortError, as Bun.serve cancels it (Deno.serve passes a
        // string).
        const streaming = await send(port, "/stream?tag=stream", (received) => received > 100);
        streaming.destroy();
        await eventually(() => events(log, "stream").length === 2, "the abort of the stream");
        const cancelled = native && target.workers === "deno"
          ? "cancel string: resource closed"
          : `cancel AbortError: ${abortMessage(target)}`;
        assert.deepEqual(events(log, "stream"), [gone("request"), cancelled]);

        // A response that went out whole: Deno.serve aborts the signal after it, Bun.serve does
        // not; the same for a signal first read after the response.
        assert.equal((await get(`${url}/whole?tag=whole`)).status, 200);
        assert.equal((await get(`${url}/late?tag=late`)).status, 200);
        await eventually(() => events(log, "late").length === 1, "the late read");
        const deno = target.workers === "deno";
        assert.deepEqual(events(log, "whole"), deno ? [gone("request")] : []);
        assert.deepEqual(events(log, "late"), [`late aborted=${deno}`]);

        // Cut off at the graceful timeout. (Deno.serve has no cut-off: its process just ends.)
        // Bun.serve: the cut answers the request its 504, a response gone out whole, after which
        // Bun aborts no signal.
        if (!(native && deno)) {
          const cut = await send(port, "/wait?tag=cut", () => events(log, "cut").length > 0);
          server.signal("SIGTERM");
          const result = await server.exited;
          cut.destroy();
          assert.equal(result.code, 0, result.stderr);
          assert.equal(
            events(log, "cut").includes(gone("request")),
            !native,
            readFileSync(log, "utf8"),
          );
        }
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}

// Deno.serve warns (console.warn, once a process) when a signal the app read aborts after a
// response that went out whole, its "legacy behavior", which appserve keeps: the worker's log
// says it, as one WARNING line, instead of the runtime printing it raw on stderr.
e2e("--reuse-port: Deno.serve's request.signal warning is one log line", async (target) => {
  const dir = tempDir();
  const log = join(dir.path, "signal.log");
  writeFileSync(log, "");
  const server = start(target, [
    ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${await freePort()}`, APP],
  ], { env: { APPSERVE_SIGNAL_LOG: log } });
  try {
    const url = await server.ready(1);
    for (const tag of ["one", "two"]) {
      assert.equal((await get(`${url}/whole?tag=${tag}`)).status, 200);
    }
    const deno = target.workers === "deno";
    await eventually(() => events(log, "two").length === (deno ? 1 : 0), "the second abort");
    const result = await server.stop();
    const said = result.stderr.split("\n").filter((l) => l.includes("request.signal aborts"));
    assert.equal(said.length, deno ? 1 : 0, result.stderr);
    if (deno) {
      assert.match(
        said[0],
        /^\[[^\]]+\] \[\d+\] \[WARNING\] Deno\.serve: request\.signal aborts on successful responses \(legacy behavior\)\. /,
      );
    }
  } finally {
    await server.stop();
    dir.remove();
  }
});

// --unstable-no-legacy-abort turns Deno.serve's abort after a whole response off, so under
// --reuse-port it does not come; the shared socket's layer keeps the default whatever the Deno
// flags (README: a difference stated, not matched).
e2e(
  "--unstable-no-legacy-abort: no abort after a whole response under --reuse-port only",
  async (target) => {
    if (target.workers !== "deno") return;
    for (const mode of [["--reuse-port"], ["-k", "async"]]) {
      const dir = tempDir();
      const log = join(dir.path, "signal.log");
      writeFileSync(log, "");
      const server = start(target, [
        ...["-w", "1", ...mode, "--deno-flags=-A --unstable-no-legacy-abort"],
        ...["-b", `127.0.0.1:${mode[0] === "--reuse-port" ? await freePort() : 0}`, APP],
      ], { env: { APPSERVE_SIGNAL_LOG: log } });
      try {
        const url = await server.ready(1);
        assert.equal((await get(`${url}/whole?tag=whole`)).status, 200);
        assert.equal((await get(`${url}/late?tag=late`)).status, 200);
        await eventually(() => events(log, "late").length === 1, "the late read");
        const legacy = mode[0] !== "--reuse-port";
        const gone = `abort request AbortError: ${abortMessage(target)}`;
        assert.deepEqual(events(log, "whole"), legacy ? [gone] : [], mode.join(" "));
        assert.deepEqual(events(log, "late"), [`late aborted=${legacy}`], mode.join(" "));
        const result = await server.stop();
        assert.doesNotMatch(result.stderr, /request\.signal aborts/);
      } finally {
        await server.stop();
        dir.remove();
      }
    }
  },
);
