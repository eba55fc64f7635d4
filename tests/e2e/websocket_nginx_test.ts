// WebSockets behind a real nginx (Debian nginx-light, its workers as nobody), configured by the
// shipped examples/nginx/appserve.conf (only the socket, the port and the log folder substituted):
// the /ws/ location's Upgrade/Connection headers carry the upgrade to appserve's unix socket, the
// trusted X-Forwarded-For reaches the app on the upgrade request, messages echo both ways and
// the close handshake completes. The plain location, which does not pass Upgrade, shows why the
// WebSocket location is needed.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  eventually,
  freePort,
  getWhenReady,
  ROOT,
  start,
  tempDir,
} from "../_helpers.ts";
import { nginxTest, startNginx, writeNginxConfig } from "../_nginx.ts";
import { wsE2e } from "../_websocket.ts";
import { encodeFrame, openRaw, readMessages, readReaction, WS_APP } from "../_ws_raw.ts";

const EXAMPLE = readFileSync(join(ROOT, "examples", "nginx", "appserve.conf"), "utf8");

function example(socket: string, port: number, dir: string): string {
  for (const shipped of ["unix:/run/app.sock", "listen 80;", "/var/log/nginx/", "location /ws/"]) {
    assert.ok(EXAMPLE.includes(shipped), `the example has ${shipped}`);
  }
  return EXAMPLE.replaceAll("unix:/run/app.sock", `unix:${socket}`)
    .replace("listen 80;", `listen 127.0.0.1:${port};`)
    .replaceAll("/var/log/nginx/", `${dir}/`);
}

wsE2e(
  "a WebSocket through nginx's /ws/ location (the shipped example) echoes, and the app sees " +
    "the client from the trusted X-Forwarded-For",
  async (t) => {
    const dir = tempDir();
    const socket = join(dir.path, "app.sock");
    const server = start(t, [
      "-w",
      "2",
      "--bind",
      `unix:${socket}`,
      "--forwarded-allow-ips",
      "unix",
      "--access-logfile",
      "-",
      WS_APP,
    ]);
    try {
      const port = await freePort();
      writeFileSync(join(dir.path, "appserve.conf"), example(socket, port, dir.path));
      const block = () => `http {\n  include ${dir.path}/appserve.conf;\n}`;
      const checked = nginxTest(writeNginxConfig(dir.path, block()), dir.path);
      assert.ok(checked.ok, checked.output);
      await server.waitFor(/Listening at: unix:/);
      await eventually(() => childPids(server.pid).length === 2, "2 workers");
      const nginx = await startNginx(dir.path, block, [], port);
      try {
        assert.equal((await getWhenReady(`http://127.0.0.1:${port}/`)).status, 200);
        // From 127.0.0.2, so the address the app reports can only have come from nginx's header.
        const o = await openRaw(port, "/ws/client", {}, { localAddress: "127.0.0.2" });
        assert.equal(o.status, 101, `upgrade through nginx: ${o.status}`);
        const [hello] = await readMessages(o, 1);
        const seen = JSON.parse(hello as string);
        assert.equal(seen.address, "127.0.0.2");
        assert.equal(seen.xff, "127.0.0.2");
        assert.ok(childPids(server.pid).includes(seen.pid), `pid ${seen.pid} is a worker`);
        o.socket.write(encodeFrame({ op: 1, payload: "through nginx" }, 0));
        o.socket.write(encodeFrame({ op: 2, hex: "00ff10" }, 0));
        const [text, binary] = await readMessages(o, 2);
        assert.equal(text, "through nginx");
        assert.deepEqual([...(binary as Uint8Array)], [0, 255, 16]);
        // The close handshake passes nginx too: our 1000, the server's 1000 back.
        const reaction = readReaction(o);
        o.socket.write(encodeFrame({ op: 8, hex: "03e8" }, 0));
        assert.equal((await reaction).close, 1000);
        // The access line of the session: status 101, the client nginx told about.
        await eventually(
          () =>
            /^127\.0\.0\.2 - - \[[^\]]+\] "GET \/ws\/client HTTP\/1\.1" 101 /m.test(server.stdout),
          "the session's access line",
        );
        // Without the WebSocket location nginx drops Upgrade: the app answers a plain GET.
        const plain = await openRaw(port, "/client", {}, { localAddress: "127.0.0.2" });
        plain.socket.destroy();
        assert.equal(plain.status, 200);
      } finally {
        await nginx.stop();
      }
      assert.equal((await server.stop()).code, 0);
    } finally {
      if (!server.ended) await server.stop();
      dir.remove();
    }
  },
);
