import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { PassThrough } from "node:stream";
import { WorkerHandle } from "../src/master/worker_handle.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function handleWithChannel(): {
  worker: WorkerHandle;
  channel: PassThrough;
  messages: unknown[];
  warnings: string[];
} {
  const worker = new WorkerHandle({} as ChildProcess, 4242, 1, 0, -1);
  const channel = new PassThrough();
  const messages: unknown[] = [];
  const warnings: string[] = [];
  worker.listen(channel, (m) => messages.push(m), (line) => warnings.push(line));
  return { worker, channel, messages, warnings };
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

Deno.test("listen() logs a malformed line with the worker's pid and its first bytes, and reads on", async () => {
  const { channel, messages, warnings } = handleWithChannel();
  channel.write('{"t":"ready"}\nnot json at all\n');
  channel.write(`{"t":"shout"}\n{"t":"failed"}\n${"x".repeat(500)}\n{"t":"beat"}\n`);
  await sleep(10);
  assert.deepEqual(messages, [{ t: "ready" }, { t: "beat" }]);
  assert.deepEqual(warnings.slice(0, 3), [
    'Dropped a malformed message from worker (pid:4242): "not json at all"',
    'Dropped a malformed message from worker (pid:4242): "{\\"t\\":\\"shout\\"}"',
    'Dropped a malformed message from worker (pid:4242): "{\\"t\\":\\"failed\\"}"',
  ]);
  assert.equal(
    warnings[3],
    `Dropped a malformed message from worker (pid:4242): "${"x".repeat(80)}"`,
  );
  assert.equal(warnings.length, 4);
});
