// Bun's `server.port`, `server.hostname` and `server.url` on the handler's second argument name
// the listener the request came on, on the shared socket and under --reuse-port alike, also for
// a trusted proxy's client; and the argument has no own fields of appserve's (its socket, hub).

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, get, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "server_url_app.ts");

const SETUPS: [string, string[], Record<string, string>, string][] = [
  ["the shared socket", [], {}, "127.0.0.1"],
  ["--reuse-port", ["--reuse-port"], {}, "127.0.0.1"],
  [
    "the shared socket, for a trusted proxy's client",
    ["--forwarded-allow-ips", "127.0.0.1"],
    { "x-forwarded-for": "203.0.113.9" },
    "203.0.113.9",
  ],
];

for (const [name, args, headers, client] of SETUPS) {
  e2e(`server.port, server.hostname and server.url, on ${name}`, async (target) => {
    const port = await freePort();
    const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, APP]);
    try {
      const url = await server.ready(1);
      const answer = await get(url, { headers });
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), {
        port,
        hostname: "127.0.0.1",
        url: `http://127.0.0.1:${port}/`,
        resolved: `http://127.0.0.1:${port}/next?x=1`,
        client,
        // As Deno's own info (`ServeHandlerInfo {}`): console.log(info) dumps no socket.
        own: [],
        json: "{}",
      });
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
}
