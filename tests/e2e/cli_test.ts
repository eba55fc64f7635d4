// The command line's actions end to end: --help, --check-config, --print-config.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, FIXTURES, hasStackTrace, run, tempDir } from "../_helpers.ts";

const APPS = join(FIXTURES, "apps");

e2e("--help lists the settings by section with defaults", async (target) => {
  const result = await run(target, ["--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^usage: appserve \[OPTIONS\] \[APP_MODULE\]/);
  assert.match(
    result.stdout,
    /Worker Processes:\n\s+-w, --workers INT\s+Number of worker processes\.\n\s+\[workers; default: \$WEB_CONCURRENCY, else 1\]/,
  );
});

e2e("--check-config imports the app and says configuration OK", async (target) => {
  const result = await run(target, ["--check-config", "-w", "2", "pid_app"], { cwd: APPS });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "configuration OK\n");
});

e2e("--check-config reports a broken app in one line with exit 1", async (target) => {
  const result = await run(target, ["--check-config", "import_error"], { cwd: APPS });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "Error: Cannot import import_error: Error: this module cannot be imported\n",
  );
  assert.ok(!hasStackTrace(result.stderr));
});

e2e("--print-config output fed back with -c prints the same configuration", async (target) => {
  const dir = tempDir();
  try {
    const first = await run(target, [
      "--print-config",
      "-w",
      "3",
      "-b",
      "unix:/tmp/a.sock",
      "-e",
      "K=v",
      "pid_app",
    ], { cwd: APPS });
    assert.equal(first.code, 0, first.stderr);
    writeFileSync(join(dir.path, "printed.toml"), first.stdout);
    const second = await run(target, ["--print-config", "-c", join(dir.path, "printed.toml")], {
      cwd: "/",
    });
    const values = (text: string) => text.replace(/ {2}# .*$/gm, "");
    assert.equal(values(second.stdout), values(first.stdout));
    assert.match(first.stdout, /^workers = 3 {2}# --workers$/m);
    assert.match(second.stdout, /^workers = 3 {2}# .*printed\.toml:\d+:11$/m);
  } finally {
    dir.remove();
  }
});

e2e(
  "a bad config file value is one line naming file, line, key and expectation",
  async (target) => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "appserve.toml"), 'bind = "127.0.0.1:0"\nworkers = "four"\n');
      const result = await run(target, [join(APPS, "pid_app.ts")], { cwd: dir.path });
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        'Error: appserve.toml:2:11: Cannot read "workers": expected an integer from 1 to 1024, got "four"\n',
      );
    } finally {
      dir.remove();
    }
  },
);
