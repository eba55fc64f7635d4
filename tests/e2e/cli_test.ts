// The command line's actions end to end: --help, --check-config, --print-config.

import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asNobody, e2e, FIXTURES, hasStackTrace, run, tempDir } from "../_helpers.ts";

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

// Every bad configuration source gives one line naming source, key and expectation.
const badConfigs: [string, string, string[], Record<string, string>, RegExp][] = [
  ["a TOML syntax error", "workers = 2\nbind = = 3\n", [], {}, /^Error: appserve\.toml:2:\d+: .+$/],
  [
    "an unknown key",
    "worker = 4\n",
    [],
    {},
    /^Error: appserve\.toml:1:10: Unknown setting "worker" \(did you mean "workers"\?\)$/,
  ],
  [
    "a wrong type",
    'workers = "four"\n',
    [],
    {},
    /^Error: appserve\.toml:1:11: Cannot read "workers": expected an integer from 1 to 1024, got "four"$/,
  ],
  [
    "an out-of-range value",
    "limit_request_line = 9000\n",
    [],
    {},
    /^Error: appserve\.toml:1:22: Cannot read "limit_request_line": expected an integer from 0 to 8190, got 9000$/,
  ],
  [
    "a port out of range",
    'bind = "127.0.0.1:70000"\n',
    [],
    {},
    /^Error: appserve\.toml:1:8: Cannot read "bind": Invalid bind "127\.0\.0\.1:70000": port must be an integer from 0 to 65535$/,
  ],
  ["duplicate keys", "workers = 1\nworkers = 2\n", [], {}, /^Error: appserve\.toml:2:\d+: .+$/],
  [
    "an unknown worker class",
    'worker_class = "tornado"\n',
    [],
    {},
    /^Error: appserve\.toml:1:16: Cannot read "worker_class": expected one of "async", "sync", "gthread", "gevent", "eventlet", got "tornado"$/,
  ],
  [
    "bad APPSERVE_CMD_ARGS quoting",
    "",
    [],
    { APPSERVE_CMD_ARGS: "-w '2" },
    /^Error: APPSERVE_CMD_ARGS: Cannot parse: unterminated single quote at character 4$/,
  ],
  [
    "a missing -c file",
    "",
    ["-c", "missing.toml"],
    {},
    /^Error: missing\.toml: Cannot read config file: no such file$/,
  ],
  [
    "a -c directory",
    "",
    ["-c", "."],
    {},
    /^Error: \.: Cannot read config file: it is a directory$/,
  ],
];
for (const [what, toml, args, env, pattern] of badConfigs) {
  e2e(`rejects ${what} in one line with exit 1, starting nothing`, async (target) => {
    const dir = tempDir();
    try {
      if (toml) writeFileSync(join(dir.path, "appserve.toml"), toml);
      const result = await run(target, [...args, join(APPS, "pid_app.ts")], { cwd: dir.path, env });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr.trimEnd(), pattern);
      assert.equal(result.stderr.trimEnd().split("\n").length, 1);
      assert.doesNotMatch(result.stderr, /Booting worker/);
    } finally {
      dir.remove();
    }
  });
}

e2e("rejects a config file it may not read (run as nobody)", async (target) => {
  const dir = tempDir();
  try {
    const file = join(dir.path, "secret.toml");
    writeFileSync(file, "workers = 2\n");
    chmodSync(file, 0o000);
    const result = await run(asNobody(target, dir.path), ["-c", file, join(APPS, "pid_app.ts")], {
      cwd: dir.path,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `Error: ${file}: Cannot read config file: permission denied\n`);
  } finally {
    dir.remove();
  }
});
