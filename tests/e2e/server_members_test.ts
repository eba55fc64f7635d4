// The members of Bun's `server` (the handler's second argument) that one worker of several cannot
// be: `development` and `id` are Bun's defaults for a server appserve runs; stop(), reload() and
// the counts throw an Error that names what to use instead (never a TypeError for a missing
// method, nor a silent no-op), on the shared socket, under --reuse-port and in gthread threads, also for a trusted
// proxy's client; uncaught, it is the app's error: a 500 and its message in the error log.

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, get, start } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "server_members_app.ts");

const SETUPS: [string, string[], Record<string, string>][] = [
  ["the shared socket", [], {}],
  ["--reuse-port", ["--reuse-port"], {}],
  ["gthread", ["--threads", "2"], {}],
  // What goes the way of a WebSocket upgrade, and is none.
  ["--reuse-port, for a request with an Upgrade field", ["--reuse-port"], {
    connection: "upgrade",
    upgrade: "h2c",
  }],
  ["the shared socket, for a trusted proxy's client", ["--forwarded-allow-ips", "127.0.0.1"], {
    "x-forwarded-for": "203.0.113.9",
  }],
  ["--reuse-port, for a trusted proxy's client", [
    "--reuse-port",
    "--forwarded-allow-ips",
    "127.0.0.1",
  ], { "x-forwarded-for": "203.0.113.9" }],
];

const refused = (message: string) => ({ threw: "Error", message });
const COUNT = "is not available under appserve: each worker is a process of its own and would " +
  "count only its own";

for (const [name, args, headers] of SETUPS) {
  e2e(`server.stop(), reload(), development, id and the counts, on ${name}`, async (target) => {
    const port = await freePort();
    const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, APP]);
    try {
      const url = await server.ready(1);
      const answer = await get(url, { headers });
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), {
        development: { value: false },
        id: { value: "" },
        stop: refused(
          "server.stop() is not available under appserve: the master owns the listeners and " +
            "stops the workers; send the master TERM (graceful stop) or QUIT",
        ),
        reload: refused(
          "server.reload() is not available under appserve: send the master HUP to reload the " +
            "app in every worker",
        ),
        pendingRequests: refused(
          `server.pendingRequests ${COUNT} (--metrics-bind's /metrics has ` +
            "appserve_requests_in_flight)",
        ),
        pendingWebSockets: refused(
          `server.pendingWebSockets ${COUNT} (--metrics-bind's /metrics has ` +
            "appserve_websockets_open)",
        ),
        subscriberCount: refused(`server.subscriberCount() ${COUNT}`),
        own: [],
      });
      // Uncaught, it is the app's error; the worker serves on.
      const stopped = await get(`${url}/stop`, { headers });
      assert.equal(stopped.status, 500, stopped.body);
      await server.waitFor(/\[ERROR\].*\n.*server\.stop\(\) is not available under appserve/);
      assert.equal((await get(url, { headers })).status, 200);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
}
