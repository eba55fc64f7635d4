// An upload whose body is still coming when the worker is asked to stop (HUP, TERM) finishes
// with a 200 within graceful_timeout under --reuse-port, as on the shared socket: Deno.serve's
// shutdown() fails the body reads under way, so the worker waits for them before calling it.
// And --body-timeout, the shared socket's, does not apply there (README, docs/settings.md).

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Socket } from "node:net";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  type Server,
  sleep,
  start,
  type Target,
} from "../_helpers.ts";
import { uploadUnderWay } from "../_upload.ts";

const APP = join(FIXTURES, "apps", "failing_app.ts");

// One worker on its own --reuse-port listener, its access log on stdout.
async function startNative(t: Target, args: string[] = []): Promise<Server> {
  const port = await freePort();
  return start(t, [
    "-w",
    "1",
    "--reuse-port",
    "--access-logfile",
    "-",
    ...args,
    "-b",
    `127.0.0.1:${port}`,
    APP,
  ]);
}

/** What the client of `socket` has got so far. */
function received(socket: Socket): () => string {
  let reply = "";
  socket.on("data", (chunk) => reply += chunk);
  return () => reply;
}

/** Sends the rest of uploadUnderWay()'s body; resolves with the app's 200. */
async function finished(socket: Socket, reply: () => string): Promise<void> {
  socket.write("a".repeat(99_000));
  await eventually(
    () => reply().includes("read 100000\n"),
    `the 200 (got ${JSON.stringify(reply())})`,
  );
  assert.match(reply(), /^HTTP\/1\.1 200 /);
  socket.destroy();
}

for (const signal of ["SIGHUP", "SIGTERM"] as const) {
  e2e(`an upload under way at ${signal} finishes with a 200 under --reuse-port`, async (t) => {
    const server = await startNative(t);
    const url = new URL(await server.ready(1));
    // 1000 of the 100000 bytes are in, and the app is reading them.
    const socket = await uploadUnderWay(url);
    const reply = received(socket);
    server.signal(signal);
    // The old worker is told to stop once its replacement booted (HUP), or at once (TERM).
    if (signal === "SIGHUP") {
      await eventually(
        () => server.all(/Booting worker with pid/g).length === 2,
        "the replacement booted",
      );
    } else await server.waitFor(/Handling signal: term/);
    // The stop's moment to fail the read (it did at once before); then the rest of the body.
    await sleep(1000);
    await finished(socket, reply);
    const result = await server.stop();
    assert.match(result.stdout, /"POST \/upload HTTP\/1\.1" 200 /);
    assert.doesNotMatch(result.stderr, /\[ERROR\]|BadResource/);
  });
}

e2e("--body-timeout does not apply under --reuse-port: a stalled upload goes on", async (t) => {
  const server = await startNative(t, ["--body-timeout", "1"]);
  const socket = await uploadUnderWay(new URL(await server.ready(1)));
  const reply = received(socket);
  // Twice the timeout without a byte: the shared socket would have answered 408.
  await sleep(2000);
  await finished(socket, reply);
  const result = await server.stop();
  assert.match(result.stdout, /"POST \/upload HTTP\/1\.1" 200 /);
  assert.doesNotMatch(result.stderr, /408/);
});
