// One process serving hello world through appserve's HTTP layer (or a fixed-reply node:net server,
// the ceiling), for profiles (`deno run --cpu-prof`, `bun --cpu-prof-md`) and CPU per request:
// on SIGINT or SIGTERM it prints the process's CPU µs per request since its first request.
// Usage: http_cost.ts PORT|PATH [layer|fixed|contract|native]   (a PATH containing "/": unix socket)

import process from "node:process";
import { createHttpServer } from "../../src/http/server.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";
import { fetchContract, fixedReplyServer } from "./fixed_reply.ts";

const [where = "8000", kind = "layer"] = process.argv.slice(2);
const target = where.includes("/") ? { path: where } : { port: Number(where), host: "127.0.0.1" };

let requests = 0;
let cpu0: NodeJS.CpuUsage | null = null;
function count(): void {
  if (requests++ === 0) cpu0 = process.cpuUsage();
}

function report(): never {
  const d = cpu0 === null ? { user: 0, system: 0 } : process.cpuUsage(cpu0);
  const per = (n: number) => (requests > 1 ? (n / (requests - 1)).toFixed(2) : "n/a");
  process.stdout.write(
    `requests ${requests} cpu_us_per_request ${per(d.user + d.system)} ` +
      `user ${per(d.user)} system ${per(d.system)}\n`,
  );
  process.exit(0);
}
process.on("SIGINT", report);
process.on("SIGTERM", report);

const ready = (): void => void process.stdout.write(`ready ${process.pid}\n`);

interface BunServe {
  serve(options: { hostname: string; port: number; fetch: () => Response }): unknown;
}
const bun = (globalThis as { Bun?: BunServe }).Bun;

if (kind === "native") {
  // The runtime's own server: the raw peer's cost per request.
  const fetch = (): Response => {
    count();
    return new Response("Hello World!");
  };
  if ("path" in target) throw new Error("native: TCP only");
  if (bun) bun.serve({ hostname: target.host, port: target.port, fetch });
  else Deno.serve({ hostname: target.host, port: target.port, onListen: () => {} }, fetch);
  ready();
} else if (kind === "fixed" || kind === "contract") {
  // "contract": the fixed reply plus the Request and Response (fixed_reply.ts, fetchContract).
  const contract = (head: string): void => {
    count();
    fetchContract(head);
  };
  const server = fixedReplyServer(kind === "fixed" ? count : contract);
  if ("path" in target) server.listen({ path: target.path }, ready);
  else server.listen({ port: target.port, host: target.host }, ready);
} else {
  const runtime = await detectRuntime();
  runtime.rememberStaticBodies();
  const server = createHttpServer(() => {
    count();
    return new Response("Hello World!");
  }, {
    keepAlive: 2,
    limitRequestLine: 4094,
    limitRequestFields: 100,
    limitRequestFieldSize: 8190,
    scheme: "http",
    defaultHost: "localhost",
    onAppError: () => new Response("error", { status: 500 }),
    // As a worker serves.
    staticBody: runtime.staticBody,
    requestSignal: runtime.requestSignal,
  });
  await server.listen(target);
  ready();
}
