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
  get,
  type Server,
  sleep,
  startOneWorker,
  type Target,
} from "../_helpers.ts";
import { rawConnect } from "../_raw.ts";
import { uploadUnderWay } from "../_upload.ts";

const APP = join(FIXTURES, "apps", "failing_app.ts");
const SLOW_APP = join(FIXTURES, "apps", "slow_reply_app.ts");
// What uploadUnderWay() sends before its body.
const UPLOAD_HEAD = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";

// One worker on its own --reuse-port listener, its access log on stdout.
const startNative = (t: Target, args: string[] = []): Promise<Server> =>
  startOneWorker(t, APP, ["--reuse-port", "--access-logfile", "-", ...args]);

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

// An upload begun after the stop's start was not waited for, and Deno.serve's shutdown() failed its
// read once the first ended (a 400 that blamed the client). Both native servers shut their
// listener as the stop begins: refused (or reset, or served if it came first), as the shared
// socket's.
e2e("an upload begun after SIGTERM under --reuse-port is never answered 400", async (t) => {
  const server = await startNative(t);
  const url = new URL(await server.ready(1));
  const first = await uploadUnderWay(url);
  const firstReply = received(first);
  server.signal("SIGTERM");
  await server.waitFor(/Handling signal: term/);
  // The worker's own moment to begin its stop (nothing says it under Deno workers).
  await sleep(1000);
  const second = await rawConnect(Number(url.port)).catch((error: NodeJS.ErrnoException) => {
    assert.equal(error.code, "ECONNREFUSED");
  });
  let secondReply = () => "";
  if (second) {
    second.on("error", () => {});
    secondReply = received(second);
  }
  // Reset unread, or served if it came before the stop shut the listener.
  second?.write(UPLOAD_HEAD + "a".repeat(100_000));
  await finished(first, firstReply);
  const result = await server.stop();
  assert.doesNotMatch(result.stderr, /Invalid request|client closed|\[ERROR\]/);
  assert.match(secondReply(), /^$|^HTTP\/1\.1 200 /);
});

// Deno.serve's listener stayed open until the app had answered every request with a body, so under
// steady uploads a Deno worker took new ones for the whole graceful_timeout and then cut them off
// (504): it waits for the bodies alone, and shutdown() for the answers with the listener closed.
e2e("a stop under --reuse-port closes the listener once the bodies are in", async (t) => {
  const server = await startOneWorker(t, SLOW_APP, [
    "--reuse-port",
    "--access-logfile",
    "-",
    "--graceful-timeout",
    "60",
  ]);
  const url = new URL(await server.ready(1));
  // Its body read, the app holds its answer for a while.
  let answered = false;
  const held = fetch(`${url.origin}/upload?ms=5000`, { method: "POST", body: "a".repeat(1000) })
    .then(async (response) => {
      const text = await response.text();
      answered = true;
      return `${response.status} ${text}`;
    });
  await sleep(500);
  server.signal("SIGTERM");
  await server.waitFor(/Handling signal: term/);
  // New connections are taken until the stop closes the listener; it must close while the app
  // still holds the answer.
  let refusedBeforeAnswer: boolean | undefined;
  await eventually(async () => {
    try {
      (await rawConnect(Number(url.port))).destroy();
      return false;
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, "ECONNREFUSED");
      refusedBeforeAnswer = !answered;
      return true;
    }
  }, "the listener refusing");
  assert.equal(refusedBeforeAnswer, true, "a connection was taken while the app held its answer");
  assert.equal(await held, "200 1000\n");
  const result = await server.stop();
  assert.doesNotMatch(result.stderr, /Cut off|\[ERROR\]/);
  assert.doesNotMatch(result.stdout, /" 504 /);
  // The tap leaves Deno's signal unread: its warning of a "legacy" abort is the app's to cause.
  assert.doesNotMatch(result.stderr, /legacy/);
});

// A body the app read only the start of (its answer sent): the stop waited for its end until the
// graceful timeout, listener open, and cut it off there (within server.stop()'s wait).
e2e("a stop under --reuse-port does not wait for a body the app left unfinished", async (t) => {
  const { server, sniff } = await sniffing(t);
  assert.equal(await sniff("POST"), "200 POST 1\n");
  const result = await server.stop();
  assert.doesNotMatch(result.stderr, /Cut off|\[ERROR\]/);
});

// A method the Request constructor refuses or rewrites: the copy the stop's tap made failed (a 500
// and a stack), or changed it.
e2e("under --reuse-port a TRACE with a body and a lowercase method reach the app", async (t) => {
  const { server, sniff } = await sniffing(t);
  // Bun.serve gives a TRACE no body, Deno.serve keeps it; neither fails.
  assert.match(await sniff("TRACE"), /^200 TRACE [01]\n$/);
  assert.match(await sniff("post"), /^200 (post|POST) 1\n$/);
  const result = await server.stop();
  assert.doesNotMatch(result.stderr, /Cut off|\[ERROR\]|forbidden/);
});

/** One worker under --reuse-port, and a request to /sniff, which reads one chunk of its body. */
async function sniffing(t: Target) {
  const server = await startOneWorker(t, SLOW_APP, [
    "--reuse-port",
    "--access-logfile",
    "-",
    "--graceful-timeout",
    "8",
  ]);
  const url = new URL(await server.ready(1));
  // One byte, read in the first chunk: the app never reads the body's end.
  const sniff = (method: string) =>
    get(`${url.origin}/sniff`, { method, body: "a" }).then((a) => `${a.status} ${a.body}`);
  return { server, sniff };
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

// Deno.serve (2.9.6) warns of a "legacy" abort once a request's signal was read and the answer
// went well; only the app may cause that. readBody's copy for --limit-request-body read it for a
// body sent chunked (the warning, once per worker, at WARNING).
e2e("uploads under --reuse-port and --limit-request-body print no abort warning", async (t) => {
  const server = await startNative(t, ["--limit-request-body", "1000"]);
  const url = new URL(await server.ready(1));
  const chunked = { "transfer-encoding": "chunked" };
  const post = (path: string, body: string, headers = {}) =>
    get(`${url.origin}${path}`, { method: "POST", body, headers }).then((a) =>
      `${a.status} ${a.status === 413 ? "" : a.body}`
    );
  // The client leaves mid-upload, each way (first: uploadUnderWay() counts the app's reads).
  (await uploadUnderWay(url, "/upload", true)).destroy();
  const sized = await rawConnect(Number(url.port));
  sized.on("error", () => {});
  sized.write(UPLOAD_HEAD.replace("100000", "1000") + "a".repeat(500));
  await sleep(500);
  sized.destroy();
  await sleep(500);
  // Read whole, and not read at all; each with a length and chunked.
  assert.equal(await post("/upload", "hello", chunked), "200 read 5\n");
  assert.equal(await post("/upload", "hello"), "200 read 5\n");
  assert.equal(await post("/", "hello", chunked), "200 ok\n");
  assert.equal(await post("/", "hello"), "200 ok\n");
  // Over the limit.
  assert.equal(await post("/upload", "a".repeat(2000), chunked), "413 ");
  assert.equal(await post("/upload", "a".repeat(2000)), "413 ");
  const result = await server.stop();
  assert.doesNotMatch(result.stderr, /legacy|\[ERROR\]/);
});
