import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { resolveConfig } from "../src/config/resolve.ts";
import { INFLIGHT_BYTES } from "../src/ipc/inflight.ts";
import { PROTOCOL_VERSION, type ToPool, type ToThread } from "../src/ipc/messages.ts";
import { REQUEST_METRICS_BYTES } from "../src/ipc/request_metrics.ts";
import { inetSockaddr } from "../src/net/sockaddr.ts";
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from "../src/net/socket_constants.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import { VERSION } from "../src/version.ts";
import { ThreadBoard } from "../src/worker/thread_board.ts";
import { newSlots } from "../src/worker/thread_slots.ts";
import { delay } from "./_http_server.ts";
import { FIXTURES } from "./_helpers.ts";

const libc = denoRuntime.libc();

// A thread started from a program replaced on disk since its worker process started.
Deno.test("a gthread thread refuses a start of another appserve version, naming both", async () => {
  const thread = new Worker(new URL("../workers/thread_entry.ts", import.meta.url), {
    type: "module",
  });
  try {
    const reply = new Promise<ToPool>((resolve) => {
      thread.onmessage = (event: MessageEvent<ToPool>) => resolve(event.data);
    });
    const start = {
      t: "start",
      version: "0.0.1",
      config: {},
      age: 1,
      slots: new SharedArrayBuffer(64),
      served: new SharedArrayBuffer(4),
      limit: Infinity,
      origin: Date.now(),
    } as unknown as ToThread;
    thread.postMessage(start);
    const message = await reply;
    assert.equal(message.t, "load-failed");
    assert.ok(
      message.t === "load-failed" &&
        message.message.startsWith(
          `Cannot boot: the worker process runs appserve 0.0.1, this program is appserve ${VERSION}; `,
        ),
      JSON.stringify(message),
    );
  } finally {
    thread.terminate();
  }
});

/**
 * A gthread thread started as its pool starts one (src/worker/thread_pool.ts), loaded, with its
 * place on a board of one and a listening socket of this process to accept on.
 */
async function loadedThread() {
  const cwd = process.cwd();
  const { config } = resolveConfig(
    ["--worker-class", "gthread", "--threads", "1", join(FIXTURES, "apps", "echo_app.ts")],
    { env: {}, cwd },
  );
  const board = new ThreadBoard(1, config.worker_connections);
  const fd = libc.socket(AF_INET, SOCK_STREAM, 0);
  assert.equal(libc.bind(fd, inetSockaddr("127.0.0.1", 0)), 0);
  assert.equal(libc.listen(fd, 16), 0);
  const thread = new Worker(new URL("../workers/thread_entry.ts", import.meta.url), {
    type: "module",
  });
  const heard: ToPool["t"][] = [];
  const waits = new Map<ToPool["t"], () => void>();
  thread.onmessage = (event: MessageEvent<ToPool>) => {
    heard.push(event.data.t);
    waits.get(event.data.t)?.();
  };
  const hear = (t: ToPool["t"]) =>
    heard.includes(t) ? Promise.resolve() : new Promise<void>((resolve) => waits.set(t, resolve));
  const start: ToThread = {
    t: "start",
    version: PROTOCOL_VERSION,
    config,
    tls: null,
    age: 1,
    slots: newSlots(),
    inflight: new SharedArrayBuffer(INFLIGHT_BYTES),
    id: 1,
    counters: new SharedArrayBuffer(REQUEST_METRICS_BYTES),
    served: new SharedArrayBuffer(4),
    limit: Infinity,
    origin: Date.now(),
    board: board.buffer,
    index: 0,
  };
  thread.postMessage(start);
  await Promise.race([hear("loaded"), hear("load-failed")]);
  assert.deepEqual(heard, ["loaded"]);
  return { thread, board, fd, heard, hear };
}

/** The fds of this process open on the same socket as `fd`, `fd` itself among them. */
function copiesOf(fd: number): number {
  const socket = Deno.readLinkSync(`/proc/self/fd/${fd}`);
  let copies = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === socket) copies++;
    } catch {
      // Closed since it was listed (the directory's own fd, one of the thread's).
    }
  }
  return copies;
}

// A quick stop (INT, QUIT) tells a thread to stop accepting while it may still be opening its
// listeners (the pool posts "listen", then "stop-accepting": the thread hears the stop while its
// listener opens): the stop wins, whichever of the two the thread hears first: it is not shown as
// taking connections on the board (its siblings would hand it theirs), keeps no copy of a listener
// open, and says no "listening" (nor runs the app's onListen): it does not serve.
for (const order of [["listen", "stop-accepting"], ["stop-accepting", "listen"]] as const) {
  Deno.test(`a gthread thread told to stop accepting does not take connections (${order.join(", then ")})`, async () => {
    const { thread, board, fd, heard, hear } = await loadedThread();
    try {
      for (const t of order) {
        thread.postMessage(
          t === "listen" ? { t, listeners: [{ fd }], onListen: false } : { t },
        );
      }
      await hear("accepting-stopped");
      await settled(thread, hear);
      assert.deepEqual(heard.filter((t) => t !== "loaded").sort(), [
        "accepting-stopped",
        "flushed",
      ]);
      assert.equal(board.taking(0), false, "shown as taking connections after its stop");
      // Its copy, if it opened one, is closed (AcceptGate.hold) before it says accepting stopped;
      // the runtime may free the fd a moment later.
      for (let i = 0; i < 200 && copiesOf(fd) > 1; i++) await delay(10);
      assert.equal(copiesOf(fd), 1, "a copy of the listener is still open");
    } finally {
      thread.terminate();
      libc.close(fd);
    }
  });
}

// A listener that fails to open while the stop waits for it (listen(2) on a UDP socket fails, a
// turn after the thread heard the stop): the stop is said, the failure is not (the worker would
// take it for a boot failure, exit 3, in the middle of its quick stop).
Deno.test("a gthread thread whose listen fails while told to stop accepting says it stopped, not failed", async () => {
  const { thread, board, fd, heard, hear } = await loadedThread();
  const udp = libc.socket(AF_INET, SOCK_DGRAM, 0);
  try {
    thread.postMessage({ t: "listen", listeners: [{ fd: udp }], onListen: false });
    thread.postMessage({ t: "stop-accepting" });
    await hear("accepting-stopped");
    await settled(thread, hear);
    assert.deepEqual(heard.filter((t) => t !== "loaded").sort(), [
      "accepting-stopped",
      "flushed",
    ]);
    assert.equal(board.taking(0), false);
  } finally {
    thread.terminate();
    libc.close(udp);
    libc.close(fd);
  }
});

// The same while a graceful stop (SIGTERM) drains the thread: a failure said then was taken for a
// boot failure, and the worker exited 3 in the middle of its stop.
Deno.test("a gthread thread whose listen fails while it drains says it drained, not failed", async () => {
  const { thread, board, fd, heard, hear } = await loadedThread();
  const udp = libc.socket(AF_INET, SOCK_DGRAM, 0);
  try {
    thread.postMessage({ t: "listen", listeners: [{ fd: udp }], onListen: false });
    thread.postMessage({ t: "drain", graceMs: 5000 });
    await hear("drained");
    await settled(thread, hear);
    assert.deepEqual(heard.filter((t) => t !== "loaded").sort(), ["drained", "flushed"]);
    assert.equal(board.taking(0), false);
  } finally {
    thread.terminate();
    libc.close(udp);
    libc.close(fd);
  }
});

/**
 * Waits for the thread's answer to a message posted now (a flush), so that whatever it would have
 * said about the messages before is heard by then.
 */
async function settled(thread: Worker, hear: (t: ToPool["t"]) => Promise<void>): Promise<void> {
  thread.postMessage({ t: "flush", quick: false });
  await hear("flushed");
}
