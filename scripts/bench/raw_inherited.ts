// Baseline for appserve's shared-socket mode: a master that owns one listening
// socket (made through appserve's own libc code) and N children serving it as fd 3.
// Usage: raw_inherited.ts PORT|PATH N [http|fixed|contract]   (each child prints "ready" once listening;
// a PATH, holding a "/", is a unix socket, made reachable by nginx's unprivileged workers)

import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync } from "node:fs";
import process from "node:process";
import { openListeners } from "../../src/net/listeners.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";

const HOST = "127.0.0.1";
const FD = 3;
const isBun = "Bun" in globalThis;
const ready = (): void => void process.stdout.write(`ready ${process.pid}\n`);

/** node:http (Deno's can listen on an inherited descriptor; Bun's cannot). */
async function serveNodeHttp(): Promise<void> {
  const { createServer } = await import("node:http");
  createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
    res.end("Hello World!");
  }).listen({ fd: FD }, ready);
}

/**
 * node:net answering every request head with one pre-encoded response (fixed_reply.ts); with
 * `contract`, after building the Request and Response a fetch server owes its app.
 */
async function serveFixedResponse(contract: boolean): Promise<void> {
  const { fetchContract, fixedReplyServer } = await import("./fixed_reply.ts");
  fixedReplyServer(contract ? fetchContract : undefined).listen({ fd: FD }, ready);
}

async function master(where: string, count: number, kind: string): Promise<void> {
  const runtime = await detectRuntime();
  const address = where.includes("/")
    ? { kind: "unix" as const, path: where }
    : { kind: "tcp" as const, host: HOST, port: Number(where) };
  const [listener] = await openListeners(runtime.libc(), [address], { backlog: 2048 });
  if (address.kind === "unix") chmodSync(address.path, 0o777);
  const self = import.meta.filename!;
  const args = isBun ? [self, "child", kind] : ["run", "-A", "--quiet", self, "child", kind];
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(
      spawn(process.execPath, args, { stdio: ["inherit", "inherit", "inherit", listener.fd] }),
    );
  }
  const stop = (): void => {
    for (const child of children) child.kill("SIGKILL");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // A child that dies is not replaced: the row would be wrong, so stop everything.
  for (const child of children) child.on("exit", stop);
}

const [first, second, third] = process.argv.slice(2);
if (first === "child") {
  await (second === "http" ? serveNodeHttp() : serveFixedResponse(second === "contract"));
} else {
  const port = Number(first);
  const count = Number(second ?? 1);
  const kind = third ?? (isBun ? "fixed" : "http");
  const valid = (first.includes("/") || (Number.isInteger(port) && port > 0)) &&
    Number.isInteger(count) && count >= 1;
  if (!valid || !["http", "fixed", "contract"].includes(kind) || (isBun && kind === "http")) {
    process.stderr.write(
      "raw_inherited: usage: raw_inherited.ts PORT|PATH N [http|fixed|contract] (http: Deno only)\n",
    );
    process.exit(2);
  }
  await master(first, count, kind);
}
