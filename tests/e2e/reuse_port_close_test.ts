// A graceful stop under --reuse-port says `connection: close` on the answers of its drain even
// when their headers cannot change (Deno's Response.redirect and fetch() answers, a proxying
// app's): unsaid, Deno.serve kept such a kept-alive connection open until its shutdown() closed
// it under the client's next request (lost: a read error). A fetch() answer with a body reaches
// the native server through a tap of its stream (a Response of appserve's own); one without, as
// the app gave it.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { e2e, eventually, type Server, sleep, start, tempDir } from "../_helpers.ts";
import { errorCount, freePort, parseWrk, startWrk, wrkArgs } from "../_procs.ts";

const CONNECTIONS = 8;

// The answers whose headers are immutable on Deno: a redirect, and a proxied upstream's (with a
// body, and a 204's without).
const appSource = (upstream: string) => `
export default {
  fetch(request: Request): Response | Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/redirect") return Response.redirect("${upstream}/elsewhere", 302);
    if (path === "/proxy") return fetch("${upstream}/");
    if (path === "/proxy-204") return fetch("${upstream}/204");
    return new Response("ok\\n");
  },
};
`;

// The load helper's wrk, with a script counting the answers that said close (wrk then
// reconnects): printed as "closes: N" once it ends.
const COUNT_CLOSES = `
closes = 0
function response(status, headers, body)
  for name, value in pairs(headers) do
    if string.lower(name) == "connection" and string.lower(value) == "close" then
      closes = closes + 1
    end
  end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("closes") end
  io.write("closes: " .. total .. "\\n")
end
`;

/** A tiny upstream on a free port: a 204 for /204, else a short body. */
async function startUpstream() {
  const server = createServer((request, response) => {
    if (request.url === "/204") {
      response.writeHead(204).end();
      return;
    }
    response.writeHead(200, { "content-type": "text/plain", "content-length": "9" });
    response.end("upstream\n");
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** wrk GETting `url` over kept-alive connections for `seconds`; its counts once it ends. */
function closeLoad(dir: string, url: string, seconds: number) {
  const script = join(dir, "closes.lua");
  writeFileSync(script, COUNT_CLOSES);
  const wrk = startWrk(
    ["-s", script, ...wrkArgs(url, { connections: CONNECTIONS, seconds })],
    seconds,
  );
  return wrk.done.then(({ report, error }) => {
    if (error) throw new Error(`cannot run wrk: ${error.message}`);
    const result = parseWrk(report);
    assert.ok(result !== null && result.requests > 0, report);
    return { ...result, closes: Number(report.match(/closes: (\d+)/)?.[1] ?? -1), report };
  });
}

for (const path of ["/redirect", "/proxy", "/proxy-204"]) {
  for (const signal of ["SIGHUP", "SIGTERM"] as const) {
    e2e(`${signal} under keep-alive load on ${path} under --reuse-port says close`, async (t) => {
      const dir = tempDir();
      const upstream = await startUpstream();
      let server: Server | null = null;
      try {
        const app = join(dir.path, "app.ts");
        writeFileSync(app, appSource(upstream.url));
        const port = await freePort();
        // --keep-alive past the load, as in reuse_port_drain_test.ts.
        server = start(t, [
          "-w",
          "1",
          "--reuse-port",
          "--keep-alive",
          "30",
          "-b",
          `127.0.0.1:${port}`,
          app,
        ]);
        const url = await server.ready(1);
        const running = closeLoad(dir.path, `${url}${path}`, 6);
        await sleep(2000);
        server.signal(signal);
        if (signal === "SIGHUP") {
          const s = server;
          await eventually(
            () => s.all(/Booting worker with pid/g).length === 2,
            "the new worker booted",
          );
        }
        const result = await running;
        const stopped = await server.stop();
        assert.doesNotMatch(stopped.stderr, /Cut off|\[ERROR\]/);
        // Each kept-alive connection's next request in the drain was answered close.
        assert.ok(result.closes > 0, result.report);
        if (signal === "SIGHUP") assert.equal(errorCount(result), 0, result.report);
        // Refused once the master is gone (connect errors): no request begun is lost or failed.
        else assert.equal(result.read + result.timeout + result.non2xx, 0, result.report);
      } finally {
        if (server) await server.stop();
        await upstream.close();
        dir.remove();
      }
    });
  }
}
