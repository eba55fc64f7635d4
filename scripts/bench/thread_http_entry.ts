// A thread of scripts/bench/thread_http.ts: loads the app itself and serves it
// with appserve's HTTP layer on the listening descriptor the process shares.

import { loadApp } from "../../src/app/load_app.ts";
import { createHttpServer } from "../../src/http/server.ts";

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;

scope.onmessage = async (event: MessageEvent<{ fd: number; app: string; cwd: string }>) => {
  const { fd, app, cwd } = event.data;
  const handler = await loadApp(app, cwd);
  const server = createHttpServer(handler, {
    keepAlive: 2,
    limitRequestLine: 4094,
    limitRequestFields: 100,
    limitRequestFieldSize: 8190,
    scheme: "http",
    defaultHost: "localhost",
    onAppError: () => new Response("Internal Server Error\n", { status: 500 }),
  });
  await server.listen({ fd });
  scope.postMessage("listening");
};
