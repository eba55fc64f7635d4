// --log-level debug says what gunicorn's does: the configuration and "Arbiter booted" at start
// (master), `METHOD /path` per request (the default pre_request, replaced by a user's), and the
// connection-level lines (closed, reset, a client gone mid-head, a failed TLS handshake), for
// every worker class and both worker runtimes; at the default level none of them.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { e2e, FIXTURES, get, type Server, start, tempDir } from "../_helpers.ts";
import { makePki } from "../_tls.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const LOG_HOOKS = join(FIXTURES, "hooks", "log_hooks.ts");

const CLASSES: readonly string[][] = [["-k", "async"], ["-k", "sync"], [
  "-k",
  "gthread",
  "--threads",
  "2",
]];

/** A raw connection to the server at `url` that sends `bytes`. */
async function rawConnection(url: string, bytes: string | Uint8Array): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(bytes);
  return socket;
}

for (const workerClass of CLASSES) {
  const what = workerClass.join(" ");
  e2e(`--log-level debug (${what}): the configuration, Arbiter booted, METHOD /path`, async (t) => {
    const server = start(t, [
      "--log-level",
      "debug",
      ...workerClass,
      "-w",
      "1",
      "-b",
      "127.0.0.1:0",
      "-e",
      "DEBUG_LOG_SECRET=hunter2",
      PID_APP,
    ]);
    try {
      const url = await server.ready(1);
      assert.equal((await get(`${url}/debug/path?token=1`)).status, 200);
      // The path without its query, as gunicorn's req.path; said by the worker.
      const line = await server.waitFor(/\[(\d+)\] \[DEBUG\] GET \/debug\/path$/m);
      assert.notEqual(Number(line[1]), server.pid, `${what}: said by the worker`);
      await server.waitFor(/\[DEBUG\] Closing connection\.$/m);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      const out = result.stderr;
      const config = /\[(\d+)\] \[DEBUG\] Current configuration:\n((?: {2}\w+: .*\n)+)/.exec(out);
      assert.ok(config, `${what}: no configuration in\n${out}`);
      assert.equal(Number(config[1]), server.pid, "said by the master");
      const lines = config[2].trimEnd().split("\n");
      const names = lines.map((l) => l.trim().split(":")[0]);
      assert.deepEqual(names, [...names].sort(), "sorted by name");
      for (const setting of ['loglevel: "debug"', "workers: 1", 'bind: [ "127.0.0.1:0" ]']) {
        assert.ok(lines.includes(`  ${setting}`), `${what}: no "${setting}" in\n${config[2]}`);
      }
      // raw_env is where secrets go: the name is said, the value is not.
      assert.ok(lines.includes('  raw_env: [ "DEBUG_LOG_SECRET=<hidden>" ]'), config[2]);
      assert.doesNotMatch(out, /hunter2/);
      // As gunicorn: after the start line and the configuration, before "Listening at".
      assert.ok(out.indexOf("Starting appserve") < out.indexOf("Current configuration:"));
      const booted = out.indexOf("[DEBUG] Arbiter booted\n");
      assert.ok(booted > out.indexOf("Current configuration:"), out);
      assert.ok(booted < out.indexOf("Listening at:"), out);
    } finally {
      await server.stop();
    }
  });
}

e2e("--log-level debug: a HUP says the configuration it reloads, as gunicorn's", async (t) => {
  const server = start(t, ["--log-level", "debug", "-w", "1", "-b", "127.0.0.1:0", PID_APP]);
  try {
    await server.ready(1);
    assert.equal(server.all(/Current configuration:/g).length, 1);
    server.signal("SIGHUP");
    await server.waitFor(/Current configuration:[^]*Current configuration:\n {2}\w+: /);
  } finally {
    await server.stop();
  }
});

e2e("at the default level none of the DEBUG lines appear", async (t) => {
  for (const workerClass of CLASSES) {
    const server = start(t, [...workerClass, "-w", "1", "-b", "127.0.0.1:0", PID_APP]);
    try {
      const url = await server.ready(1);
      assert.equal((await get(`${url}/debug/path`)).status, 200);
      (await rawConnection(url, "GET / HTTP/1.1\r\nHo")).end();
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /\[DEBUG\]|Current configuration|Arbiter booted/);
      assert.doesNotMatch(result.stderr, /GET \/debug\/path|Closing connection|premature/);
    } finally {
      await server.stop();
    }
  }
});

e2e("--log-level debug: a pre_request hook replaces the default METHOD /path line", async (t) => {
  const server = start(t, [
    "--log-level",
    "debug",
    "--hooks",
    LOG_HOOKS,
    "-w",
    "1",
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  try {
    const url = await server.ready(1);
    assert.equal((await get(`${url}/hooked`)).status, 200);
    await server.waitFor(/post_request hook says/);
    const result = await server.stop();
    assert.match(result.stderr, /pre_request hook says/);
    assert.doesNotMatch(result.stderr, /GET \/hooked/);
  } finally {
    await server.stop();
  }
});

async function connectionLines(server: Server, url: string): Promise<void> {
  // A client gone with half a request head sent (gunicorn's NoMoreData).
  (await rawConnection(url, "GET /half HTTP/1.1\r\nHo")).end();
  await server.waitFor(/\[DEBUG\] Ignored premature client disconnection\.$/m);
  // A client that resets the connection.
  const reset = await rawConnection(url, "GET /reset HTTP/1.1\r\n");
  await new Promise((resolve) => setTimeout(resolve, 200));
  reset.resetAndDestroy();
  await server.waitFor(/\[DEBUG\] Ignoring connection reset$/m);
}

for (const workerClass of CLASSES) {
  e2e(
    `--log-level debug (${workerClass.join(" ")}): connections reset or cut mid-head`,
    async (t) => {
      const server = start(t, [
        "--log-level",
        "debug",
        ...workerClass,
        "-w",
        "1",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      try {
        await connectionLines(server, await server.ready(1));
      } finally {
        await server.stop();
      }
    },
  );
}

e2e("--log-level debug: a failed TLS handshake is said", async (t) => {
  const dir = tempDir();
  const pki = makePki(dir.path);
  const server = start(t, [
    "--log-level",
    "debug",
    "-w",
    "1",
    "-b",
    "127.0.0.1:0",
    "--certfile",
    pki.cert,
    "--keyfile",
    pki.key,
    PID_APP,
  ]);
  try {
    const m = await server.waitFor(/Listening at: https:\/\/([^ ,]+)/);
    // A TLS record header (handshake, TLS 1.0) with a body that is no ClientHello.
    const hello = new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff]);
    // The listener is the master's: the connection waits for the worker.
    (await rawConnection(`http://${m[1]}`, hello)).end();
    await server.waitFor(/\[DEBUG\] Error processing SSL request: .+$/m);
  } finally {
    await server.stop();
    dir.remove();
  }
});
