import assert from "node:assert/strict";
import { daemonize } from "../src/cli/daemon.ts";
import { denoRuntime } from "../src/runtime/deno.ts";

Deno.test("daemonize() rejects in one line when the program cannot be started", async () => {
  const runtime = {
    ...denoRuntime,
    masterCommand: () => ({ command: "/nonexistent/appserve", args: [] }),
  };
  await assert.rejects(
    () => daemonize([], runtime, { keepStdio: false, cwd: "/" }),
    {
      name: "AppserveError",
      message: "Cannot start the daemon /nonexistent/appserve: No such file or directory",
    },
  );
});
