// Bun's `server.port`, `server.hostname` and `server.url` on the handler's second argument name
// the listener the request came on, on the shared socket and under --reuse-port alike.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, get, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "server_url_app.ts");

for (const [name, args] of [["the shared socket", []], ["--reuse-port", ["--reuse-port"]]]) {
  e2e(`server.port, server.hostname and server.url, on ${name}`, async (target) => {
    const port = await freePort();
    const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, APP]);
    try {
      const url = await server.ready(1);
      const answer = await get(url);
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), {
        port,
        hostname: "127.0.0.1",
        url: `http://127.0.0.1:${port}/`,
        resolved: `http://127.0.0.1:${port}/next?x=1`,
      });
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
}
