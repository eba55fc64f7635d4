// PROXY protocol v1 and v2 sent over raw sockets: the header sets the client address the app and
// the access log see; a peer not in proxy_allow_ips gets 403, a malformed header 400, and the
// connection closes while the worker keeps serving.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import {
  childPids,
  e2e,
  FIXTURES,
  get,
  getWhenReady,
  hasStackTrace,
  run,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";
import { rawConnect, rawExchange, readAll } from "../_raw.ts";
import { curl, makePki } from "../_tls.ts";

const APP = join(FIXTURES, "apps", "client_app.ts");
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function request(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
}

/** A v2 header: command 1 = PROXY, 0 = LOCAL; family 0x11 TCP4, 0x21 TCP6. */
function v2(command: number, family: number, address: number[]): Buffer {
  return Buffer.from([
    ...SIGNATURE,
    0x20 | command,
    family,
    address.length >> 8,
    address.length & 0xff,
    ...address,
  ]);
}

const V4_BLOCK = [203, 0, 113, 8, 127, 0, 0, 1, 0xb2, 0x6e, /* 45678 */ 0x1f, 0x40];
const V6_BLOCK = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09], // 2001:db8::9
  ...new Array(15).fill(0),
  1, // ::1
  0x04,
  0xd2, // 1234
  0,
  80,
];

function client(text: string): { hostname: string; port: number; transport: string } {
  const body = text.slice(text.indexOf("\r\n\r\n") + 4);
  return JSON.parse(body).remoteAddr;
}

async function send(where: number | string, ...parts: (string | Buffer)[]) {
  const socket = await rawConnect(where);
  const answer = readAll(socket);
  for (const p of parts) {
    socket.write(typeof p === "string" ? Buffer.from(p, "latin1") : p);
    await sleep(50);
  }
  return answer;
}

e2e(
  "PROXY protocol v1 and v2 set the client; bad headers get 400, the worker survives",
  async (t) => {
    const server = start(t, [
      "-b",
      "127.0.0.1:0",
      "--proxy-protocol",
      "auto",
      "--access-logfile",
      "-",
      APP,
    ]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      const [worker] = childPids(server.pid);

      const a = await send(
        port,
        "PROXY TCP4 203.0.113.7 127.0.0.1 45678 8000\r\n" + request("/v1"),
      );
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(client(a.text), { transport: "tcp", hostname: "203.0.113.7", port: 45678 });
      await server.waitFor(/^203\.0\.113\.7 - - .*"GET \/v1 HTTP\/1\.1" 200/m);

      // Split over writes, IPv6.
      const b = await send(port, "PROXY TCP6 2001:db8::5 ::1 ", "1234 80\r\n", request("/v1-6"));
      assert.deepEqual(client(b.text), { transport: "tcp", hostname: "2001:db8::5", port: 1234 });

      const c = await send(port, v2(1, 0x11, V4_BLOCK), request("/v2"));
      assert.deepEqual(client(c.text), { transport: "tcp", hostname: "203.0.113.8", port: 45678 });
      await server.waitFor(/^203\.0\.113\.8 - - .*"GET \/v2 HTTP\/1\.1" 200/m);

      const d = await send(
        port,
        Buffer.concat([v2(1, 0x21, V6_BLOCK), Buffer.from(request("/v2-6"))]),
      );
      assert.deepEqual(client(d.text), { transport: "tcp", hostname: "2001:db8::9", port: 1234 });

      // LOCAL (a health check from the proxy itself) and UNKNOWN keep the socket's peer.
      const e = await send(port, v2(0, 0, []), request("/local"));
      assert.equal(client(e.text).hostname, "127.0.0.1");
      const f = await send(port, "PROXY UNKNOWN\r\n" + request("/unknown"));
      assert.equal(client(f.text).hostname, "127.0.0.1");

      // The header is optional: plain HTTP still works.
      assert.equal(client((await send(port, request("/plain"))).text).hostname, "127.0.0.1");

      // Keep-alive: the address holds for every request of the connection.
      const keep = await send(
        port,
        "PROXY TCP4 198.51.100.3 127.0.0.1 1000 80\r\nGET /k1 HTTP/1.1\r\nHost: x\r\n\r\n",
        request("/k2"),
      );
      assert.equal(keep.text.match(/"hostname":"198\.51\.100\.3"/g)?.length, 2, keep.text);

      // The client a proxy names is not itself a trusted proxy: its X-Forwarded-For is ignored.
      const g = await send(
        port,
        "PROXY TCP4 203.0.113.7 127.0.0.1 1 80\r\n" + request("/g", "X-Forwarded-For: 6.6.6.6\r\n"),
      );
      assert.equal(client(g.text).hostname, "203.0.113.7");

      for (
        const bad of [
          "PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n" + request("/"),
          "PROXY TCP4 1.2.3.4 127.0.0.1 1\r\n" + request("/"),
          "PROXY TCP4 1.2.3.4 127.0.0.1 1 99999\r\n" + request("/"),
          "PROXY TCP6 ::::::: ::1 1 2\r\n" + request("/"),
          "PROXY TCP6 1.2.3.4 ::1 1 2\r\n" + request("/"),
          "PROXY " + "x".repeat(200) + "\r\n",
          Buffer.concat([Buffer.from([...SIGNATURE, 0x31, 0x11, 0, 12]), Buffer.alloc(12)]),
          Buffer.from([...SIGNATURE, 0x21, 0x11, 0, 4, 1, 2, 3, 4]),
        ]
      ) {
        const r = await rawExchange(port, bad);
        assert.equal(r.status, 400, `${bad}: ${r.text}`);
      }
      await server.waitFor(/\[WARNING\] .*PROXY.*\(400\)/);
      assert.equal((await get(url)).status, 200);
      assert.deepEqual(childPids(server.pid), [worker]);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2e("a PROXY header from a peer not in proxy_allow_ips gets 403 and a close", async (t) => {
  const server = start(t, [
    "-b",
    "127.0.0.1:0",
    "--proxy-protocol",
    "v1",
    "--proxy-allow-from",
    "10.0.0.0/8",
    APP,
  ]);
  try {
    const url = await server.ready(1);
    const port = Number(new URL(url).port);
    const r = await rawExchange(port, "PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n" + request("/"));
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /connection: close/i);
    await server.waitFor(/\[WARNING\] Invalid request from ip=127\.0\.0\.1: PROXY .*\(403\)/);
    // v1 mode: a v2 header is not HTTP either.
    assert.equal((await rawExchange(port, v2(1, 0x11, V4_BLOCK))).status, 400);
    // Without a header the peer is served as itself.
    assert.equal(
      client((await rawExchange(port, request("/"))).text).hostname,
      "127.0.0.1",
    );
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

e2e("PROXY headers over a unix socket only when proxy_allow_ips lists unix", async (t) => {
  const dir = tempDir();
  try {
    for (const allow of [true, false]) {
      const socket = join(dir.path, `app-${allow}.sock`);
      const server = start(t, [
        "-b",
        `unix:${socket}`,
        "--proxy-protocol",
        "v1",
        ...(allow ? ["--proxy-allow-from", "unix"] : []),
        APP,
      ]);
      try {
        await server.waitFor(/Listening at: unix:/);
        await getWhenReady("http://x/", { socketPath: socket });
        const r = await rawExchange(
          socket,
          "PROXY TCP4 203.0.113.7 10.0.0.1 5 80\r\n" + request("/"),
        );
        if (allow) {
          assert.deepEqual(client(r.text), { transport: "tcp", hostname: "203.0.113.7", port: 5 });
        } else {
          assert.equal(r.status, 403, r.text);
        }
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    }
  } finally {
    dir.remove();
  }
});

e2e("proxy_protocol with reuse_port is a one-line start-up error", async (t) => {
  const result = await run(t, ["--reuse-port", "--proxy-protocol", "v1", APP]);
  assert.equal(result.code, 1, result.stderr);
  assert.ok(!hasStackTrace(result.stderr));
  assert.match(result.stderr.trim(), /^Error: .*proxy_protocol cannot be used with reuse_port$/);
});

e2e(
  "with TLS, a PROXY header before the handshake (nginx stream, HAProxy) or inside TLS",
  async (t) => {
    const dir = tempDir();
    const pki = makePki(dir.path);
    const server = start(t, [
      ...["-b", "127.0.0.1:0", "--certfile", pki.cert, "--keyfile", pki.key],
      ...["--proxy-protocol", "auto", "--access-logfile", "-", APP],
    ]);
    try {
      const url = (await server.waitFor(/Listening at: (https:\/\/[^ ,]+)/))[1];
      const port = Number(new URL(url).port);
      // Before the handshake: curl writes `PROXY TCP4 127.0.0.1 127.0.0.1 SPORT DPORT` first.
      const before = await curl([
        ...["--cacert", pki.ca, "--haproxy-protocol", "-w", "\n%{local_port}", `${url}/before`],
      ]);
      assert.equal(before.code, 0, before.stderr);
      const [body, localPort] = before.stdout.split("\n");
      assert.deepEqual(JSON.parse(body).remoteAddr, {
        transport: "tcp",
        hostname: "127.0.0.1",
        port: Number(localPort),
      });
      // Inside TLS, as gunicorn reads it: a client the socket is not.
      const inside = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({
          port,
          host: "127.0.0.1",
          ca: readFileSync(pki.ca, "utf8"),
          servername: "localhost",
        });
        let text = "";
        socket.on(
          "secureConnect",
          () =>
            socket.write(`PROXY TCP4 203.0.113.8 127.0.0.1 45678 ${port}\r\n${request("/inside")}`),
        );
        socket.on("data", (d) => (text += d));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
      });
      assert.deepEqual(client(inside).hostname, "203.0.113.8");
      // A broken header before the handshake: 400 in plain text, logged, closed; serving goes on.
      const broken = await send(port, "PROXY TCP4 nonsense\r\n");
      assert.equal(broken.status, 400, broken.text);
      await server.waitFor(
        /\[WARNING\] Invalid request from ip=127\.0\.0\.1: malformed PROXY v1 line \(400\)/,
      );
      assert.equal((await curl(["--cacert", pki.ca, `${url}/after`])).code, 0);
      await server.waitFor(/^203\.0\.113\.8 - - .*"GET \/inside HTTP\/1\.1" 200/m);
    } finally {
      assert.equal((await server.stop()).code, 0);
      dir.remove();
    }
  },
);
