// An app that throws in a WebSocket handler (docs/websockets.md, "When a handler throws"): in
// every shape, on both runtimes' workers and in both socket modes, the error is logged at ERROR
// with the app's file and line, that socket is closed with 1011, and the worker and its other
// sockets keep going.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  pidOf,
  type Server,
  start,
  type Target,
} from "../_helpers.ts";
import { type Client, connect, wsUrl } from "../_ws_client.ts";

const APPS = join(FIXTURES, "websocket");
const APP = join(APPS, "throwing.ts");

/** `FILE:LINE:`, LINE being the one of `app` that throws `message`. */
function thrownAt(app: string, message: string): string {
  const line = readFileSync(app, "utf8").split("\n").findIndex((l) =>
    l.includes(`Error("${message}")`)
  );
  assert.ok(line >= 0, message);
  return `${basename(app)}:${line + 1}:`;
}

type Shape = "deno" | "listener" | "bun" | "neutral" | "hono" | "hono-bun";

/** What each shape's open throws, its message handler throws, and its rejection (if tested). */
const THROWS: Record<Shape, { open: string; message: string; rejected?: string }> = {
  deno: { open: "boom in onopen", message: "boom in message", rejected: "rejected in message" },
  listener: {
    open: "boom in an open listener",
    message: "boom in a message listener",
    rejected: "rejected in message",
  },
  bun: { open: "boom in Bun's open", message: "boom in message", rejected: "rejected in message" },
  neutral: {
    open: "boom in neutral onopen",
    message: "boom in message",
    rejected: "rejected in message",
  },
  hono: {
    open: "boom in Hono's onOpen",
    message: "boom in Hono's onMessage",
    rejected: "rejected in Hono's onMessage",
  },
  // hono/bun turns an async onMessage's rejection into an unhandled one itself.
  "hono-bun": { open: "boom in Hono's onOpen", message: "boom in Hono's onMessage" },
};

/** The shapes that run on `target`'s workers in that socket mode (docs/websockets.md's table). */
function shapes(target: Target, reusePort: boolean): Shape[] {
  if (target.workers === "bun") return ["bun", "neutral"];
  return reusePort ? ["deno", "listener", "neutral"] : ["deno", "listener", "bun", "neutral"];
}

/** The code the server closed `client` with; a server that never closes it fails the test. */
async function closeCode(client: Client, what: string): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: the socket was not closed`)), 20_000);
  });
  try {
    return (await Promise.race([client.closed, never])).code;
  } finally {
    clearTimeout(timer);
  }
}

async function pidOver(client: Client): Promise<number> {
  client.send("pid");
  return Number(await client.next());
}

/** The ERROR lines naming `message`, each with the line of throwing.ts under it. */
function logged(server: Server, message: string): number {
  return server.all(new RegExp(`\\[ERROR\\][^\\n]*\\n[^\\n]*${message}`, "g")).length;
}

async function oneShape(server: Server, url: string, shape: Shape, app = APP): Promise<void> {
  const what = `${shape}: `;
  // Both Hono fixtures serve /hono/.
  const base = shape === "hono-bun" ? "hono" : shape;
  // Opened first, it must outlive each of the failing sockets below.
  const bystander = await connect("npm-ws", wsUrl(url, `/${base}/stay`));
  const pid = await pidOver(bystander);
  const workers = childPids(server.pid);

  const opening = await connect("native", wsUrl(url, `/${base}/open`));
  assert.equal(await closeCode(opening, `${what}open`), 1011, `${what}a throw in open`);
  const throwing = await connect("npm-ws", wsUrl(url, `/${base}/message`));
  throwing.send("throw");
  assert.equal(await closeCode(throwing, `${what}message`), 1011, `${what}a throw in message`);
  const { open, message, rejected } = THROWS[shape];
  if (rejected !== undefined) {
    const rejecting = await connect("npm-ws", wsUrl(url, `/${base}/message`));
    rejecting.send("reject");
    assert.equal(
      await closeCode(rejecting, `${what}rejection`),
      1011,
      `${what}a rejection in message`,
    );
  }

  bystander.send("still here");
  assert.equal(await bystander.next(), "still here", `${what}the other socket echoes`);
  assert.equal(await pidOver(bystander), pid, `${what}the same worker`);
  assert.deepEqual(childPids(server.pid), workers, `${what}no worker replaced`);
  bystander.close(1000);
  assert.equal((await bystander.closed).code, 1000);

  for (const thrown of [open, message, rejected]) {
    if (thrown === undefined) continue;
    const at = thrownAt(app, thrown);
    await eventually(() => server.output.includes(at), `${what}${at} (${thrown}) in the log`);
  }
}

for (const reusePort of [false, true]) {
  const mode = reusePort ? "--reuse-port" : "shared socket";
  e2e(
    `${mode}: a throw or rejection in a WebSocket handler is logged with the app's line, closes ` +
      "that socket with 1011, and the worker and its other sockets keep going",
    async (target) => {
      const bind = reusePort ? `127.0.0.1:${await freePort()}` : "127.0.0.1:0";
      const server = start(target, [
        "-w",
        "1",
        ...(reusePort ? ["--reuse-port"] : []),
        "-b",
        bind,
        APP,
      ]);
      try {
        const url = await server.ready(1);
        for (const shape of shapes(target, reusePort)) await oneShape(server, url, shape);
      } catch (error) {
        await server.stop();
        throw error;
      }
      // Each throw is logged once.
      assert.equal(logged(server, "boom in onopen"), target.workers === "bun" ? 0 : 1);
      assert.equal(logged(server, "rejected in message"), shapes(target, reusePort).length);
      assert.doesNotMatch(server.output, /Uncaught|Unhandled/);
      assert.equal((await server.stop()).code, 0, server.output);
    },
  );
}

e2e(
  "gthread and sync: a throw in a WebSocket handler closes that socket with 1011, and the " +
    "thread or worker keeps serving",
  async (target) => {
    // One thread: the failing sockets share it with the one that must stay open.
    const gthread = start(target, [
      ...["-w", "1", "--worker-class", "gthread", "--threads", "1"],
      ...["-b", "127.0.0.1:0", APP],
    ]);
    try {
      const url = await gthread.ready(1);
      for (const shape of shapes(target, false)) await oneShape(gthread, url, shape);
    } catch (error) {
      await gthread.stop();
      throw error;
    }
    assert.doesNotMatch(gthread.output, /Uncaught|Unhandled/);
    assert.equal((await gthread.stop()).code, 0, gthread.output);

    // An open WebSocket holds a sync worker: one socket at a time, then a plain request.
    const sync = start(target, ["-w", "1", "--worker-class", "sync", "-b", "127.0.0.1:0", APP]);
    try {
      const url = await sync.ready(1);
      const pid = pidOf(await get(url));
      for (const shape of shapes(target, false)) {
        const opening = await connect("native", wsUrl(url, `/${shape}/open`));
        assert.equal(await closeCode(opening, `sync ${shape} open`), 1011);
        const throwing = await connect("npm-ws", wsUrl(url, `/${shape}/message`));
        throwing.send("throw");
        assert.equal(await closeCode(throwing, `sync ${shape} message`), 1011);
        assert.equal(pidOf(await get(url)), pid, `sync ${shape}: the same worker`);
      }
    } catch (error) {
      await sync.stop();
      throw error;
    }
    assert.doesNotMatch(sync.output, /Uncaught|Unhandled/);
    assert.equal((await sync.stop()).code, 0, sync.output);
  },
);

for (const reusePort of [false, true]) {
  const mode = reusePort ? "--reuse-port" : "shared socket";
  e2e(
    `${mode}: a throw in Hono's WebSocket events closes that socket with 1011, and the worker ` +
      "and its other sockets keep going",
    async (target) => {
      const bun = target.workers === "bun";
      const app = join(APPS, bun ? "hono_throwing_bun.ts" : "hono_throwing_deno.ts");
      const bind = reusePort ? `127.0.0.1:${await freePort()}` : "127.0.0.1:0";
      const server = start(target, [
        ...["-w", "1", ...(reusePort ? ["--reuse-port"] : []), "-b", bind, app],
      ]);
      try {
        const url = await server.ready(1);
        await oneShape(server, url, bun ? "hono-bun" : "hono", app);
      } catch (error) {
        await server.stop();
        throw error;
      }
      assert.doesNotMatch(server.output, /Uncaught|Unhandled/);
      assert.equal((await server.stop()).code, 0, server.output);
    },
  );
}
