import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { bootEnv, BootMismatch, receive, send, takeBoot } from "../src/ipc/channel.ts";
import { BOOT_ENV, PROTOCOL_VERSION, ROLE_ENV, type ToMaster } from "../src/ipc/messages.ts";
import type { Config } from "../src/config/settings.ts";
import { VERSION } from "../src/version.ts";

const BOOT = {
  config: { workers: 2 } as unknown as Config,
  listeners: [{ fd: 5 }],
  reusePort: [],
  age: 7,
};

Deno.test("takeBoot() reads what bootEnv() wrote, with this version, and clears both variables", () => {
  const env: Record<string, string | undefined> = { OTHER: "kept", ...bootEnv(BOOT) };
  assert.equal(env[ROLE_ENV], "worker");
  const boot = takeBoot(env);
  assert.deepEqual(boot, { version: VERSION, ...BOOT });
  assert.equal(PROTOCOL_VERSION, VERSION);
  assert.deepEqual(env, { OTHER: "kept" });
});

Deno.test("takeBoot() refuses a boot of another appserve version, naming both", () => {
  const env = { [BOOT_ENV]: JSON.stringify({ ...BOOT, version: "0.0.1" }), [ROLE_ENV]: "worker" };
  assert.throws(
    () => takeBoot(env),
    (error: unknown) =>
      error instanceof BootMismatch &&
      error.message.startsWith(
        `Cannot boot: the master runs appserve 0.0.1, this program is appserve ${VERSION}; `,
      ),
  );
  assert.deepEqual(env, {}, "the app must not see the refused boot either");
});

Deno.test("takeBoot() refuses a boot without a version (a master from before the field)", () => {
  const env = { [BOOT_ENV]: JSON.stringify(BOOT) };
  assert.throws(
    () => takeBoot(env),
    (error: unknown) =>
      error instanceof BootMismatch &&
      error.message.startsWith(`Cannot boot: the master runs an older appserve, this program`),
  );
});

Deno.test("receive() reads messages split across chunks, in order", async () => {
  const stream = new PassThrough();
  const got: ToMaster[] = [];
  const dropped: string[] = [];
  receive(stream, { onMessage: (m) => got.push(m), onMalformed: (s) => dropped.push(s) });
  send(stream, { t: "ready" });
  stream.write('{"t":"fai');
  stream.write('led","message":"Cannot load app"}\n{"t":"be');
  stream.write('at"}\n');
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [
    { t: "ready" },
    { t: "failed", message: "Cannot load app" },
    { t: "beat" },
  ]);
  assert.deepEqual(dropped, []);
});

// The master recycles or only replaces a worker by why it retires: a reason it does not know is
// dropped as malformed, not taken for either; none at all is a worker of a version before reasons
// (a binary swapped in place), which retires only for max_requests: dropped, it would serve on
// unreplaced, having said it once.
Deno.test("receive() takes a retiring message by its reason; none is max_requests", async () => {
  const stream = new PassThrough();
  const got: ToMaster[] = [];
  const dropped: string[] = [];
  receive(stream, { onMessage: (m) => got.push(m), onMalformed: (s) => dropped.push(s) });
  send(stream, { t: "retiring", reason: "max_requests" });
  send(stream, { t: "retiring", reason: "fds" });
  stream.write('{"t":"retiring"}\n{"t":"retiring","reason":"bored"}\n');
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [
    { t: "retiring", reason: "max_requests" },
    { t: "retiring", reason: "fds" },
    { t: "retiring", reason: "max_requests" },
  ]);
  assert.deepEqual(dropped, ['{"t":"retiring","reason":"bored"}']);
});
