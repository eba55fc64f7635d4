// The bytes sent that a WebSocket's access line says over TLS (--certfile) on the shared socket:
// the frames written, as without TLS (docs/websockets.md, "Logging and metrics"), for a client that
// reads everything and for one that stops reading.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  type Server,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { makePki, type TestPki } from "../_tls.ts";
import { encodeFrame, type Opened, openRaw, readMessages, WS_APP } from "../_ws_raw.ts";

const BURST = join(FIXTURES, "websocket", "burst.ts");
const STALLED_CLIENT = join(FIXTURES, "ws_stalled_client.py");
// Debian's python (scripts/install_system_deps.sh); the client needs nothing past its stdlib.
const PYTHON = "/usr/bin/python3";

/** appserve on the shared socket, over TLS with `pki`, else plain; its port once it serves. */
async function serve(t: Target, app: string, pki?: TestPki) {
  const port = await freePort();
  const tls = pki === undefined ? [] : ["--certfile", pki.cert, "--keyfile", pki.key];
  const server = start(t, [
    "-w",
    "1",
    "-b",
    `127.0.0.1:${port}`,
    ...tls,
    "--access-logfile",
    "-",
    app,
  ]);
  const scheme = pki === undefined ? "http" : "https";
  await server.waitFor(new RegExp(`Listening at: ${scheme}://127\\.0\\.0\\.1:${port}`));
  return { server, port };
}

/** A session on /echo, once the worker takes it (a TLS client cannot use server.ready()). */
async function session(port: number, ca?: string): Promise<Opened> {
  for (let i = 0;; i++) {
    const o = await openRaw(port, "/echo", {}, ca === undefined ? {} : { ca });
    if (o.status === 101 || i === 50) return o;
    o.socket.destroy();
    await sleep(200);
  }
}

/** The bytes sent on the access line of the next session on `path` after `from`. */
async function loggedBytes(server: Server, path: string, from: number): Promise<number> {
  const access = new RegExp(String.raw`"GET ${path} HTTP/1\.1" 101 (\d+)`);
  await eventually(() => access.test(server.stdout.slice(from)), `the access line of ${path}`);
  return Number(access.exec(server.stdout.slice(from))![1]);
}

e2e(
  "a WebSocket session's access line says the same bytes sent over wss:// as over ws:// for " +
    "the same messages",
  async (t) => {
    const dir = tempDir();
    const pki = makePki(dir.path);
    const logged: number[] = [];
    try {
      for (const tls of [undefined, pki]) {
        const { server, port } = await serve(t, WS_APP, tls);
        try {
          const out0 = server.stdout.length;
          const o = await session(port, tls?.ca);
          assert.equal(o.status, 101);
          const big = Buffer.alloc(1 << 20, 7);
          o.socket.write(encodeFrame({ op: 1, payload: "same words" }, 0));
          o.socket.write(encodeFrame({ op: 2, hex: big.toString("hex") }, 0));
          const [text, binary] = await readMessages(o, 2);
          assert.equal(text, "same words");
          assert.equal((binary as Buffer).length, big.length);
          o.socket.end(encodeFrame({ op: 8, hex: "03e8" }, 0));
          o.socket.resume();
          logged.push(await loggedBytes(server, "/echo", out0));
        } finally {
          assert.equal((await server.stop()).code, 0);
        }
      }
    } finally {
      dir.remove();
    }
    // The echoes (12 and 1 MiB + 10 of frame head) and the answer to the close frame (4).
    assert.deepEqual(logged, [12 + (1 << 20) + 10 + 4, 12 + (1 << 20) + 10 + 4]);
  },
);

/** Runs the stalled client; resolves with the bytes it read. */
function stalledClient(port: number, path: string, message: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [
      STALLED_CLIENT,
      String(port),
      path,
      message,
      String(1 << 20),
      ...(ca ? [ca] : []),
    ];
    const child = spawn(PYTHON, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.on("close", (code) => {
      const got = Number(out.trim());
      if (code === 0 && got > 0) resolve(got);
      else reject(new Error(`stalled client: exit ${code}: ${out}`));
    });
  });
}

e2e(
  "over wss:// a client that takes 1 MiB of a 15 MiB burst and stops reading is logged with " +
    "what the socket wrote, not what was queued, as over ws://",
  async (t) => {
    const dir = tempDir();
    const pki = makePki(dir.path);
    try {
      for (const tls of [undefined, pki]) {
        const scheme = tls === undefined ? "ws://" : "wss://";
        const { server, port } = await serve(t, BURST, tls);
        try {
          for (const path of ["/", "/bun"]) {
            const out0 = server.stdout.length;
            // 240 messages of 64 KiB: under the send queue's limit, handed over in one go.
            const got = await stalledClient(port, path, "burst:240", tls?.ca);
            const logged = await loggedBytes(server, path, out0);
            // What the client read (the 101 head aside) and what the two kernels' buffers took
            // (a few MiB here), not the 15 MiB queued.
            assert.ok(logged >= got - 200, `${scheme} ${path}: ${logged} logged, ${got} read`);
            assert.ok(logged < 12 * 1024 * 1024, `${scheme} ${path}: ${logged} logged`);
          }
        } finally {
          assert.equal((await server.stop()).code, 0);
        }
      }
    } finally {
      dir.remove();
    }
  },
);
