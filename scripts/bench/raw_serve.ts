// Baseline: the runtime's own native server (Deno.serve or Bun.serve) on a
// SO_REUSEPORT listener, so several copies can share one port.
// Usage: raw_serve.ts PORT  (prints "ready" on stdout once listening)

import process from "node:process";

const HOST = "127.0.0.1";
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write("raw_serve: usage: raw_serve.ts PORT\n");
  process.exit(2);
}

const hello = (): Response => new Response("Hello World!");
const ready = (): void => void process.stdout.write(`ready ${process.pid}\n`);

// The Bun global is looked up by hand: this file is type-checked by Deno.
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    reusePort: boolean;
    fetch: () => Response;
  }): unknown;
}
const bun = (globalThis as { Bun?: BunServe }).Bun;

if (bun) {
  bun.serve({ hostname: HOST, port, reusePort: true, fetch: hello });
  ready();
} else {
  Deno.serve({ hostname: HOST, port, reusePort: true, onListen: ready }, hello);
}
