// Baseline: the runtime's own native server (Deno.serve or Bun.serve) on a
// SO_REUSEPORT listener, so several copies can share one port, or on a unix
// socket (made reachable by nginx's unprivileged workers).
// Usage: raw_serve.ts PORT|PATH  (prints "ready" on stdout once listening)

import { chmodSync } from "node:fs";
import process from "node:process";

const HOST = "127.0.0.1";
const where = process.argv[2] ?? "";
const path = where.includes("/") ? where : null;
const port = Number(where);
if (path === null && (!Number.isInteger(port) || port <= 0)) {
  process.stderr.write("raw_serve: usage: raw_serve.ts PORT|PATH\n");
  process.exit(2);
}

const hello = (): Response => new Response("Hello World!");
const ready = (): void => {
  if (path !== null) chmodSync(path, 0o777);
  process.stdout.write(`ready ${process.pid}\n`);
};

// The Bun global is looked up by hand: this file is type-checked by Deno.
interface BunServe {
  serve(
    options:
      | { hostname: string; port: number; reusePort: boolean; fetch: () => Response }
      | { unix: string; fetch: () => Response },
  ): unknown;
}
const bun = (globalThis as { Bun?: BunServe }).Bun;

if (bun) {
  bun.serve(
    path !== null
      ? { unix: path, fetch: hello }
      : { hostname: HOST, port, reusePort: true, fetch: hello },
  );
  ready();
} else if (path !== null) {
  Deno.serve({ path, onListen: ready }, hello);
} else {
  Deno.serve({ hostname: HOST, port, reusePort: true, onListen: ready }, hello);
}
