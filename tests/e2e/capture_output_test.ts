// --capture-output: what the app prints lands in the error log file, also
// after logrotate moved it and USR1 reopened it.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync } from "node:fs";
import { join } from "node:path";
import { childPids, e2e, eventually, FIXTURES, get, start, tempDir } from "../_helpers.ts";

const PRINT_APP = join(FIXTURES, "apps", "print_app.ts");

e2e(
  "--capture-output sends the app's console.log and console.error to the error log",
  async (target) => {
    const dir = tempDir();
    const file = join(dir.path, "error.log");
    try {
      const server = start(target, [
        "--capture-output",
        "--error-logfile",
        file,
        "-b",
        "127.0.0.1:0",
        PRINT_APP,
      ]);
      const read = () => existsSync(file) ? readFileSync(file, "utf8") : "";
      await eventually(() => read().includes("Listening at"), "the master's line");
      const url = /Listening at: (http:\/\/\S+)/.exec(read())![1];
      await eventually(
        async () => (await get(`${url}/one`).catch(() => null))?.status === 200,
        "an answer",
      );
      await eventually(
        () => read().includes("app stdout /one\n") && read().includes("app stderr /one\n"),
        "the app's output in the error log",
      );
      assert.match(read(), /\[\d+\] \[INFO\] Booting worker with pid: \d+\n/);
      assert.ok(!server.stdout.includes("app stdout"), "nothing printed on the terminal");
      renameSync(file, `${file}.1`);
      server.signal("SIGUSR1");
      await eventually(async () => {
        await get(`${url}/two`);
        return read().includes("app stdout /two\n");
      }, "output in the reopened file");
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

e2e("--capture-output: after USR1 no worker keeps the rotated error log open", async (target) => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const server = start(target, [
      "--capture-output",
      "--error-logfile",
      file,
      "-w",
      "2",
      "-b",
      "127.0.0.1:0",
      PRINT_APP,
    ]);
    const read = () => existsSync(file) ? readFileSync(file, "utf8") : "";
    await eventually(() => read().includes("Listening at"), "the master's line");
    await eventually(() => childPids(server.pid).length === 2, "2 workers");
    await eventually(() => (read().match(/Booting worker/g) ?? []).length === 2, "both booted");
    renameSync(file, `${file}.1`);
    server.signal("SIGUSR1");
    // Held by a worker, the rotated file (deleted by logrotate next) kept its disk space.
    const holders = () =>
      [server.pid, ...childPids(server.pid)].flatMap((pid) =>
        readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
          try {
            const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
            return link === `${file}.1` ? [`${pid}:${fd}`] : [];
          } catch {
            return [];
          }
        })
      );
    let held: string[] = [];
    const settled = await eventually(() => (held = holders()).length === 0, "no holder")
      .then(
        () => true,
        () => false,
      );
    assert.ok(settled, `still open on the rotated file (pid:fd): ${held.join(" ")}`);
    await server.stop();
  } finally {
    dir.remove();
  }
});
