import assert from "node:assert/strict";
import type { ToPool, ToThread } from "../src/ipc/messages.ts";
import { VERSION } from "../src/version.ts";

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
