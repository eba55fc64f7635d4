// The [logging] TOML table routes the master's and the workers' error logs and
// the access log to their own files and levels.

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, hasStackTrace, run, start, tempDir } from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

e2e(
  "[logging] sends master, worker and access lines to their own files and levels",
  async (target) => {
    const dir = tempDir();
    const config = join(dir.path, "appserve.toml");
    // Relative files resolve against the config file's folder.
    writeFileSync(
      config,
      `bind = "127.0.0.1:0"
[logging]
master = { file = "master.log", level = "debug" }
worker = { file = "worker.log", level = "warning" }
access = { file = "access.log", format = "%(m)s %(U)s %(s)s" }
`,
    );
    const read = (name: string) =>
      existsSync(join(dir.path, name)) ? readFileSync(join(dir.path, name), "utf8") : "";
    try {
      const server = start(target, ["-c", config, PID_APP]);
      await eventually(
        () => read("master.log").includes("[DEBUG] 1 workers"),
        "the master's lines",
      );
      const url = /Listening at: (http:\/\/\S+)/.exec(read("master.log"))![1];
      await eventually(
        async () => (await get(`${url}/a`).catch(() => null))?.status === 200,
        "an answer",
      );
      assert.equal((await get(`${url}/boom`)).status, 500);
      await eventually(() => read("access.log").includes("GET /boom 500\n"), "the access lines");
      await eventually(
        () => read("worker.log").includes("[ERROR] Error handling request"),
        "error",
      );
      assert.match(read("access.log"), /^GET \/a 200$/m);
      const master = read("master.log");
      assert.match(master, /\[INFO\] Starting appserve/);
      assert.doesNotMatch(master, /Booting worker|Error handling request/);
      const worker = read("worker.log");
      assert.doesNotMatch(worker, /\[INFO\]|Starting appserve/, "below the workers' level");
      assert.equal(server.stderr, "", "nothing on stderr");
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

e2e("a [logging] table with an unknown key is one line and exit 1", async (target) => {
  const dir = tempDir();
  const config = join(dir.path, "appserve.toml");
  writeFileSync(config, `[logging]\nworkers = { file = "w.log" }\n`);
  try {
    const result = await run(target, ["-c", config, "-b", "127.0.0.1:0", PID_APP]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^Error: .*"logging".*unknown key "workers" \(expected master, worker or access\)\n$/,
    );
    assert.ok(!hasStackTrace(result.stderr));
  } finally {
    dir.remove();
  }
});

e2e("an unwritable [logging] worker file is one line and exit 1", async (target) => {
  const dir = tempDir();
  const config = join(dir.path, "appserve.toml");
  writeFileSync(config, `[logging]\nworker = { file = "/nonexistent-dir/w.log" }\n`);
  try {
    const result = await run(target, ["-c", config, "-b", "127.0.0.1:0", PID_APP]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^Error: Cannot open worker error log "\/nonexistent-dir\/w\.log": ENOENT.*\n$/,
    );
  } finally {
    dir.remove();
  }
});
