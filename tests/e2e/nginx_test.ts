// Real nginx (Debian nginx-light) in front of appserve's unix socket, as in
// production: answers arrive through the proxy and spread over the workers.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  pidOf,
  start,
  tempDir,
} from "../_helpers.ts";

function nginxConfig(dir: string, socket: string, port: number): string {
  return `
daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream appserve { server unix:${socket}; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://appserve;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
}

e2e("serves behind a real nginx upstream on a unix socket", async (target) => {
  const dir = tempDir();
  const socket = join(dir.path, "app.sock");
  const server = start(target, [
    "-w",
    "2",
    "-b",
    `unix:${socket}`,
    join(FIXTURES, "apps", "pid_app.ts"),
  ]);
  const port = await freePort();
  writeFileSync(join(dir.path, "nginx.conf"), nginxConfig(dir.path, socket, port));
  const nginx = spawn("nginx", ["-c", join(dir.path, "nginx.conf"), "-p", dir.path], {
    stdio: "inherit",
  });
  try {
    await server.waitFor(/Listening at: unix:/);
    await eventually(() => childPids(server.pid).length === 2, "2 workers");
    const url = `http://127.0.0.1:${port}`;
    const first = await getWhenReady(`${url}/`, {}, 20_000);
    assert.equal(first.status, 200);
    const pids = new Set<number>();
    for (let i = 0; i < 300 && pids.size < 2; i++) pids.add(pidOf(await get(`${url}/`)));
    assert.deepEqual(pids, new Set(childPids(server.pid)));
    const echo = JSON.parse(
      (await get(`${url}/echo?a=b`, {
        method: "POST",
        body: "via nginx",
        headers: { "x-test": "t" },
      })).body,
    );
    assert.equal(echo.body, "via nginx");
    assert.equal(echo.header, "t");
    assert.equal(echo.url, `http://127.0.0.1/echo?a=b`);
  } finally {
    nginx.kill("SIGQUIT");
    await new Promise((r) => nginx.on("close", r));
    const result = await server.stop();
    assert.equal(result.code, 0);
    dir.remove();
  }
});
