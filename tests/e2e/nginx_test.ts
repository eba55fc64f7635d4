// Real nginx (Debian nginx-light) in front of appserve's unix socket, as in
// production: answers arrive through the proxy and spread over the workers.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  getWhenReady,
  pidOf,
  start,
  tempDir,
} from "../_helpers.ts";
import { proxyToUnix, startNginx } from "../_nginx.ts";

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
  const nginx = await startNginx(dir.path, proxyToUnix(socket));
  try {
    await server.waitFor(/Listening at: unix:/);
    await eventually(() => childPids(server.pid).length === 2, "2 workers");
    const url = `http://127.0.0.1:${nginx.port}`;
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
    await nginx.stop();
    const result = await server.stop();
    assert.equal(result.code, 0);
    dir.remove();
  }
});
