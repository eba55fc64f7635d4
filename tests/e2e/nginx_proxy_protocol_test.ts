// Real nginx (Debian nginx-light with libnginx-mod-stream) in front of appserve's unix socket with
// `proxy_protocol on`: the PROXY v1 line nginx writes names the test's own socket as the client.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, getWhenReady, start, tempDir } from "../_helpers.ts";
import { rawConnect, readAll } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "client_app.ts");

function nginxConfig(dir: string, socket: string, port: number): string {
  return `
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 64; }
stream {
  server {
    listen 127.0.0.1:${port};
    proxy_pass unix:${socket};
    proxy_protocol on;
  }
}
`;
}

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
      const port = await freePort();
      writeFileSync(join(dir.path, "nginx.conf"), nginxConfig(dir.path, socket, port));
      const nginx = spawn("nginx", ["-c", join(dir.path, "nginx.conf"), "-p", dir.path], {
        stdio: "inherit",
      });
      try {
        await server.waitFor(/Listening at: unix:/);
        // Ready when nginx accepts and appserve answers (any status).
        await getWhenReady(`http://127.0.0.1:${port}/`);
        const conn = await rawConnect(port);
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
        nginx.kill("SIGQUIT");
        await new Promise((r) => nginx.on("close", r));
        assert.equal((await server.stop()).code, 0);
        dir.remove();
      }
    },
  );
}
