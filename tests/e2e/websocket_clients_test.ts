// WebSocket clients from implementations other than appserve's own tests' (Deno's WebSocket and
// npm ws are in websocket_test.ts): Debian's python3-websockets and a raw-frame client, over ws://
// and wss:// (--certfile, certificates made by openssl at test time, verified by the clients),
// on the shared socket and with --reuse-port (the native servers).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { childPids, FIXTURES, freePort, type Server, start, tempDir } from "../_helpers.ts";
import { makePki } from "../_tls.ts";
import { wsE2e } from "../_websocket.ts";
import { encodeFrame, type OpenOptions, openRaw, readMessages, WS_APP } from "../_ws_raw.ts";

const PYTHON_CLIENT = join(FIXTURES, "ws_python_client.py");
// Debian's python: the one python3-websockets is installed for (scripts/install_system_deps.sh).
const PYTHON = "/usr/bin/python3";

interface PythonResult {
  text?: string;
  binary_ok?: boolean;
  close_code?: number;
  error?: string;
}

function pythonClient(url: string, ca?: string): Promise<{ code: number; result: PythonResult }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, [PYTHON_CLIENT, url, ...(ca ? [ca] : [])], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").at(-1) ?? "";
      let result: PythonResult;
      try {
        result = JSON.parse(line);
      } catch {
        result = { error: out.trim() };
      }
      resolve({ code: code ?? -1, result });
    });
  });
}

/** The raw client: a 101, the app's hello (scheme as the app saw it), a text and a binary echo. */
async function rawSession(port: number, options: OpenOptions): Promise<{ url: string }> {
  const o = await openRaw(port, "/client", {}, options);
  assert.equal(o.status, 101);
  const [hello] = await readMessages(o, 1);
  o.socket.write(encodeFrame({ op: 1, payload: "raw ünïcode" }, 0));
  const big = Buffer.alloc(1 << 20, 7);
  o.socket.write(encodeFrame({ op: 2, hex: big.toString("hex") }, 0));
  const [text, binary] = await readMessages(o, 2);
  o.socket.destroy();
  assert.equal(text, "raw ünïcode");
  assert.ok(Buffer.compare(binary as Buffer, big) === 0, "1 MiB binary echoed unchanged");
  return JSON.parse(hello as string);
}

/** The port: a free one named up front (with --reuse-port each worker binds it itself). */
async function listening(server: Server, scheme: "http" | "https", port: number): Promise<number> {
  await server.waitFor(new RegExp(`Listening at: ${scheme}://127\\.0\\.0\\.1:${port}`));
  return port;
}

for (const reusePort of [false, true]) {
  const mode = reusePort ? "with --reuse-port" : "on the shared socket";
  const extra = reusePort ? ["--reuse-port"] : [];

  wsE2e(`python3-websockets and a raw client echo over ws:// ${mode}`, async (t) => {
    const free = await freePort();
    const server = start(t, ["-w", "1", ...extra, "-b", `127.0.0.1:${free}`, WS_APP]);
    try {
      await server.ready(1);
      const port = await listening(server, "http", free);
      const py = await pythonClient(`ws://127.0.0.1:${port}/echo`);
      assert.equal(py.code, 0, JSON.stringify(py.result));
      assert.equal(py.result.text, "hello from python");
      assert.equal(py.result.binary_ok, true);
      assert.equal(py.result.close_code, 1000);
      const hello = await rawSession(port, {});
      assert.match(hello.url, /^http:\/\/127\.0\.0\.1:\d+\/client$/);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  wsE2e(`wss:// with --certfile: python3-websockets and a raw TLS client ${mode}`, async (t) => {
    const dir = tempDir();
    const pki = makePki(dir.path);
    const free = await freePort();
    const server = start(t, [
      "-w",
      "1",
      ...extra,
      "-b",
      `127.0.0.1:${free}`,
      "--certfile",
      pki.cert,
      "--keyfile",
      pki.key,
      WS_APP,
    ]);
    try {
      const port = await listening(server, "https", free);
      // The worker is up once a TLS client gets its 101.
      let hello: { url: string } | undefined;
      for (let i = 0; i < 100 && hello === undefined; i++) {
        try {
          hello = await rawSession(port, { ca: pki.ca });
        } catch (e) {
          if (i === 99) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // The app sees the scheme the client used.
      assert.match(hello!.url, /^https:\/\/127\.0\.0\.1:\d+\/client$/);
      assert.equal(childPids(server.pid).length, 1);
      const py = await pythonClient(`wss://127.0.0.1:${port}/echo`, pki.ca);
      assert.equal(py.code, 0, JSON.stringify(py.result));
      assert.equal(py.result.text, "hello from python");
      assert.equal(py.result.binary_ok, true);
      assert.equal(py.result.close_code, 1000);
      // A client that does not trust the certificate gets no WebSocket.
      const stranger = await pythonClient(`wss://127.0.0.1:${port}/echo`, pki.rogueCert);
      assert.notEqual(stranger.code, 0);
      assert.match(stranger.result.error ?? "", /CERTIFICATE_VERIFY_FAILED|certificate verify/i);
    } finally {
      assert.equal((await server.stop()).code, 0);
      dir.remove();
    }
  });
}
