// Which worker exits before boot halt the master (src/master/start_up.ts): a run of boot failures
// does, a worker killed from outside (not a crash signal) does only while nothing serves yet.

import assert from "node:assert/strict";
import { StartUp } from "../src/master/start_up.ts";
import type { WorkerHandle } from "../src/master/worker_handle.ts";

/** A worker that exited before it booted, having said hello (its runtime ran it). */
function booting(): WorkerHandle {
  return {
    booted: false,
    retiring: false,
    spoke: () => Promise.resolve(true),
    lastWords: () => Promise.resolve(undefined),
  } as unknown as WorkerHandle;
}

async function reasons(startUp: StartUp, code: number | null, signal: string | null) {
  const out: (string | undefined)[] = [];
  for (let i = 0; i < 3; i++) {
    out.push((await startUp.haltReason(booting(), code, signal))?.message);
  }
  return out;
}

Deno.test("three booting workers killed by SIGKILL once serving: no halt", async () => {
  const startUp = new StartUp();
  startUp.booted(1, 1);
  assert.deepEqual(await reasons(startUp, null, "SIGKILL"), [undefined, undefined, undefined]);
});

Deno.test("three booting workers killed by SIGKILL before the first boot: a halt saying so", async () => {
  const out = await reasons(new StartUp(), null, "SIGKILL");
  assert.deepEqual(out.slice(0, 2), [undefined, undefined]);
  assert.equal(
    out[2],
    "Workers were killed before they booted, 3 in a row (the last by SIGKILL: perhaps out of memory).",
  );
});

for (const signal of ["SIGSEGV", "SIGABRT", "SIGTRAP"]) {
  Deno.test(`three booting workers that crash (${signal}) once serving: Worker failed to boot`, async () => {
    const startUp = new StartUp();
    startUp.booted(1, 1);
    assert.deepEqual(await reasons(startUp, null, signal), [
      undefined,
      undefined,
      "Worker failed to boot.",
    ]);
  });
}

Deno.test("three booting workers that exit 1 once serving: Worker failed to boot", async () => {
  const startUp = new StartUp();
  startUp.booted(1, 1);
  assert.deepEqual(await reasons(startUp, 1, null), [
    undefined,
    undefined,
    "Worker failed to boot.",
  ]);
});
