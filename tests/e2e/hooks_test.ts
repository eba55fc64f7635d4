// Server hooks fire in the right process and order; throwing hooks are contained.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  FIXTURES,
  get,
  getWhenReady,
  hasStackTrace,
  run,
  start,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const HOOKS = join(FIXTURES, "hooks", "record_hooks.ts");

function recorded(path: string): { name: string; pid: number }[] {
  return readFileSync(path, "utf8").trim().split("\n").map((line) => {
    const [name, pid] = line.split(" ");
    return { name, pid: Number(pid) };
  });
}

e2e(
  "hooks fire in order for a start, one request and a stop, each in its process",
  async (target) => {
    const dir = tempDir();
    const log = join(dir.path, "hooks.log");
    try {
      const server = start(target, ["-w", "1", "--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], {
        env: { HOOKS_LOG: log },
      });
      const url = await server.url();
      const answer = await getWhenReady(url);
      assert.equal(answer.status, 200);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      const events = recorded(log);
      const names = events.map((e) => e.name).filter((n) =>
        n !== "pre_request" && n !== "post_request"
      );
      assert.deepEqual(names, [
        "on_starting",
        "when_ready",
        "pre_fork",
        "post_fork",
        "post_worker_init",
        "worker_exit",
        "child_exit",
        "on_exit",
      ]);
      const worker = events.find((e) => e.name === "post_fork")!.pid;
      const master = server.pid;
      for (const e of events) {
        const inWorker = [
          "post_fork",
          "post_worker_init",
          "pre_request",
          "post_request",
          "worker_exit",
        ].includes(e.name);
        assert.equal(e.pid, inWorker ? worker : master, `${e.name} ran in ${e.pid}`);
      }
      const request = events.filter((e) => e.name.endsWith("_request")).map((e) => e.name);
      assert.deepEqual(request.slice(0, 2), ["pre_request", "post_request"]);
    } finally {
      dir.remove();
    }
  },
);

e2e("a throwing hook is logged with its name and the server keeps serving", async (target) => {
  const dir = tempDir();
  try {
    const env = { HOOKS_LOG: join(dir.path, "hooks.log"), HOOKS_THROW: "pre_request" };
    const server = start(target, ["--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], { env });
    const url = await server.url();
    assert.equal((await getWhenReady(url)).status, 200);
    assert.equal((await get(url)).status, 200);
    await server.waitFor(
      /\[ERROR\] Exception in pre_request hook\nError: pre_request failed on purpose/,
    );
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

e2e("a throwing on_starting hook aborts start-up with one clear line", async (target) => {
  const dir = tempDir();
  try {
    const env = { HOOKS_LOG: join(dir.path, "hooks.log"), HOOKS_THROW: "on_starting" };
    const result = await run(target, ["--hooks", HOOKS, "-b", "127.0.0.1:0", PID_APP], { env });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      "Error: on_starting hook failed: Error: on_starting failed on purpose\n",
    );
    assert.ok(!hasStackTrace(result.stderr));
  } finally {
    dir.remove();
  }
});

e2e("a hooks module that cannot load is a start-up error", async (target) => {
  const result = await run(target, [
    "--hooks",
    join(FIXTURES, "apps", "import_error.ts"),
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^Error: Cannot load hooks module .*import_error\.ts: .*import_error\.ts:2:\d+: Error: this module cannot be imported\n$/,
  );
});
