import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { PassThrough } from "node:stream";
import { WorkerHandle } from "../src/master/worker_handle.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function handleWithChannel(): { worker: WorkerHandle; channel: PassThrough } {
  const worker = new WorkerHandle({} as ChildProcess, 4242, 1, 0, -1);
  const channel = new PassThrough();
  worker.listen(channel, () => {});
  return { worker, channel };
}

// The channel may still hold the message when the exit is reaped; an app slow to import
// (longer than the grace period) must not lose it.
Deno.test("lastWords() waits after the exit for a failure still on its way, however old the worker", async () => {
  const { worker, channel } = handleWithChannel();
  await sleep(2200);
  const words = worker.lastWords();
  await sleep(100);
  channel.end(`${JSON.stringify({ t: "failed", message: "Cannot import app.ts: boom" })}\n`);
  assert.equal(await words, "Cannot import app.ts: boom");
});

Deno.test("lastWords() gives up on a channel that never ends (a grandchild holds it)", async () => {
  const { worker } = handleWithChannel();
  assert.equal(await worker.lastWords(), undefined);
});

Deno.test("exitReport() hints at the OOM killer only for a SIGKILL the master did not send", () => {
  const { worker } = handleWithChannel();
  assert.equal(
    worker.exitReport(null, "SIGKILL")?.message,
    "Worker (pid:4242) was sent SIGKILL! Perhaps out of memory?",
  );
  worker.signal = () => {};
  worker.kill();
  assert.equal(worker.exitReport(null, "SIGKILL")?.message, "Worker (pid:4242) was sent SIGKILL!");
  assert.equal(worker.exitReport(0, null), undefined);
});
