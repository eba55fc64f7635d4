// Real nginx (Debian nginx-light with libnginx-mod-stream) in front of appserve's unix socket with
// `proxy_protocol on`: the PROXY v1 line nginx writes names the test's own socket as the client.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, getWhenReady, start, tempDir } from "../_helpers.ts";
import { startNginx } from "../_nginx.ts";
import { rawConnect, readAll } from "../_raw.ts";
import { curl, makePki } from "../_tls.ts";

const APP = join(FIXTURES, "apps", "client_app.ts");

// nginx's stream module writes a PROXY v1 line before the bytes it relays.
const streamTo = (socket: string) => (port: number) => `
stream {
  server {
    listen 127.0.0.1:${port};
    proxy_pass unix:${socket};
    proxy_protocol on;
  }
}`;

for (const allowed of [true, false]) {
  e2e(
    `nginx stream proxy_protocol over a unix socket: ${
      allowed ? "the client is nginx's peer" : "403 unless unix is in proxy_allow_ips"
    }`,
    async (t) => {
      const dir = tempDir();
      const socket = join(dir.path, "app.sock");
      const server = start(t, [
        "-b",
        `unix:${socket}`,
        "--proxy-protocol",
        "v1",
        ...(allowed ? ["--proxy-allow-from", "unix"] : []),
        "--access-logfile",
        "-",
        APP,
      ]);
      const nginx = await startNginx(dir.path, streamTo(socket), ["ngx_stream_module.so"]);
      try {
        await server.waitFor(/Listening at: unix:/);
        // Ready when nginx accepts and appserve answers (any status).
        await getWhenReady(`http://127.0.0.1:${nginx.port}/`);
        const conn = await rawConnect(nginx.port);
        const localPort = conn.localPort!;
        const answer = readAll(conn);
        conn.write("GET /through-nginx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const { status, text } = await answer;
        if (allowed) {
          assert.equal(status, 200, text);
          const seen = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
          assert.deepEqual(seen.remoteAddr, {
            transport: "tcp",
            hostname: "127.0.0.1",
            port: localPort,
          });
          await server.waitFor(/^127\.0\.0\.1 - - .*"GET \/through-nginx HTTP\/1\.1" 200/m);
        } else {
          assert.equal(status, 403, text);
          await server.waitFor(/\[WARNING\] Invalid request from ip=unix: PROXY header .*\(403\)/);
        }
      } finally {
        await nginx.stop();
        assert.equal((await server.stop()).code, 0);
        dir.remove();
      }
    },
  );
}

e2e(
  "nginx stream TLS passthrough with proxy_protocol: the PROXY line before the handshake names the client",
  async (t) => {
    const dir = tempDir();
    const pki = makePki(dir.path);
    const socket = join(dir.path, "app.sock");
    const server = start(t, [
      ...["-b", `unix:${socket}`, "--certfile", pki.cert, "--keyfile", pki.key],
      ...["--proxy-protocol", "v1", "--proxy-allow-from", "unix", "--access-logfile", "-", APP],
    ]);
    const nginx = await startNginx(dir.path, streamTo(socket), ["ngx_stream_module.so"]);
    try {
      await server.waitFor(/Listening at: unix:/);
      const url = `https://127.0.0.1:${nginx.port}/passthrough`;
      const args = ["--cacert", pki.ca, "-w", "\n%{local_port}", url];
      let answer = await curl(args);
      for (let i = 0; answer.code !== 0 && i < 50; i++) answer = await curl(args);
      assert.equal(answer.code, 0, answer.stderr);
      const [body, localPort] = answer.stdout.split("\n");
      // curl's own socket, which nginx named, not nginx's connection to appserve.
      assert.deepEqual(JSON.parse(body).remoteAddr, {
        transport: "tcp",
        hostname: "127.0.0.1",
        port: Number(localPort),
      });
      await server.waitFor(/^127\.0\.0\.1 - - .*"GET \/passthrough HTTP\/1\.1" 200/m);
    } finally {
      await nginx.stop();
      assert.equal((await server.stop()).code, 0);
      dir.remove();
    }
  },
);
