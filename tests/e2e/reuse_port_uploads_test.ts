// An upload whose body is still coming when the worker is asked to stop (HUP, TERM) finishes
// with a 200 within graceful_timeout under --reuse-port, as on the shared socket: Deno.serve's
// shutdown() fails the body reads under way, so the worker waits for them before calling it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, freePort, sleep, start } from "../_helpers.ts";
import { uploadUnderWay } from "../_upload.ts";

const APP = join(FIXTURES, "apps", "failing_app.ts");

for (const signal of ["SIGHUP", "SIGTERM"] as const) {
  e2e(`an upload under way at ${signal} finishes with a 200 under --reuse-port`, async (t) => {
    const port = await freePort();
    const server = start(t, [
      "-w",
      "1",
      "--reuse-port",
      "--access-logfile",
      "-",
      "-b",
      `127.0.0.1:${port}`,
      APP,
    ]);
    const url = new URL(await server.ready(1));
    // 1000 of the 100000 bytes are in, and the app is reading them.
    const socket = await uploadUnderWay(url);
    let reply = "";
    socket.on("data", (chunk) => reply += chunk);
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
    socket.write("a".repeat(99_000));
    await eventually(() => reply.includes("read 100000\n"), `the 200 (got ${JSON.stringify(reply)})`);
    assert.match(reply, /^HTTP\/1\.1 200 /);
    socket.destroy();
    const result = await server.stop();
    assert.match(result.stdout, /"POST \/upload HTTP\/1\.1" 200 /);
    assert.doesNotMatch(result.stderr, /\[ERROR\]|BadResource/);
  });
}
