// The command line's actions end to end: --help, --check-config, --print-config.

import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import {
  asNobody,
  assertOneLineError,
  e2e,
  FIXTURES,
  hasStackTrace,
  ownFrames,
  ROOT,
  run,
  start,
  tempDir,
} from "../_helpers.ts";

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

e2e(
  "--check-config does not wait for a process the app starts in the background",
  async (target) => {
    const dir = tempDir();
    let pid = 0;
    try {
      // A sidecar started at import, that outlives the import (a real one runs for good).
      writeFileSync(
        join(dir.path, "sidecar_app.ts"),
        'import { spawn } from "node:child_process";\n' +
          'import { writeFileSync } from "node:fs";\n' +
          'const child = spawn("sleep", ["20"], { stdio: "ignore", detached: true });\n' +
          "child.unref();\n" +
          'writeFileSync("sidecar.pid", String(child.pid));\n' +
          'export default { fetch: () => new Response("ok") };\n',
      );
      const result = await run(target, ["--check-config", "sidecar_app"], { cwd: dir.path });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "configuration OK\n");
      pid = Number(readFileSync(join(dir.path, "sidecar.pid"), "utf8"));
      // The check ended while the sidecar still runs: it did not wait for its end.
      // (Its state: an ended one may stay a zombie, its pid still there.)
      const state = () => readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]?.[0];
      assert.equal(
        existsSync(`/proc/${pid}`) && state(),
        "S",
        "the check waited for the sidecar's end",
      );
    } finally {
      if (pid > 0) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      dir.remove();
    }
  },
);

e2e("--check-config reports a broken app with its file, line and stack, exit 1", async (t) => {
  const result = await run(t, ["--check-config", "import_error"], { cwd: APPS });
  assert.equal(result.code, 1);
  const file = join(APPS, "import_error.ts");
  assert.match(
    result.stderr,
    new RegExp(
      `^Error: Cannot import import_error: ${file}:2:\\d+: Error: this module cannot be imported\n {4}at ${file}:2:\\d+\n$`,
    ),
  );
  assert.deepEqual(ownFrames(result.stderr), []);
});

// Everything a start would check, each failing alone: one line, exit 1, nothing created.
const checks: [string, (dir: string) => string[], RegExp][] = [
  [
    "a logger class that is not a Logger",
    () => ["--logger-class", join(FIXTURES, "loggers", "not_a_logger.ts")],
    /^Error: Logger class .*not_a_logger\.ts .*does not extend appserve's Logger/,
  ],
  [
    "a hooks module that cannot be imported",
    () => ["--hooks", join(APPS, "import_error.ts")],
    /^Error: Cannot load hooks module .*import_error\.ts: .*import_error\.ts:2:\d+: Error: this module cannot be imported$/,
  ],
  [
    "a missing certificate",
    (dir) => ["--certfile", join(dir, "missing.pem")],
    /^Error: Cannot read certfile ".*missing\.pem": no such file$/,
  ],
  ["an unknown user", () => ["-u", "no-such-user"], /^Error: No such user: "no-such-user"$/],
  ["an unknown group", () => ["-g", "no-such-group"], /^Error: No such group: "no-such-group"$/],
  [
    "an unknown socket group",
    () => ["--socket-group", "no-such-group"],
    /^Error: --socket-group: No such group: "no-such-group"$/,
  ],
  [
    "an error log in a missing folder",
    (dir) => ["--error-logfile", join(dir, "nowhere", "error.log")],
    /^Error: error log ".*nowhere\/error\.log": no folder ".*nowhere"$/,
  ],
  [
    "an access log in a missing folder",
    (dir) => ["--access-logfile", join(dir, "nowhere", "access.log")],
    /^Error: access log ".*nowhere\/access\.log": no folder ".*nowhere"$/,
  ],
  [
    "a pidfile in a missing folder",
    (dir) => ["-p", join(dir, "nowhere", "app.pid")],
    /^Error: pidfile ".*nowhere\/app\.pid": no folder ".*nowhere"$/,
  ],
  [
    "a worker log of the [logging] table that is a folder",
    (dir) => ["-c", tomlFile(dir, `[logging]\nworker = { file = "${dir}" }\n`)],
    /^Error: worker error log ".*" is a directory$/,
  ],
  [
    "a unix socket in a missing folder",
    (dir) => ["-b", `unix:${join(dir, "nowhere", "app.sock")}`],
    /^Error: unix socket ".*nowhere\/app\.sock": no folder ".*nowhere"$/,
  ],
  [
    "a worker tmp dir that does not exist",
    (dir) => ["--worker-tmp-dir", join(dir, "nowhere")],
    /^Error: --worker-tmp-dir: ".*nowhere" is not a writable directory$/,
  ],
  [
    "a hooks module that does not exist",
    () => ["--hooks", "no_such_hooks.ts"],
    /^Error: Cannot load hooks module no_such_hooks\.ts: Cannot find module "no_such_hooks\.ts" \(looked in \/\S+\)$/,
  ],
  [
    "an app module that does not exist",
    () => ["--", "no_such_app"],
    /^Error: Cannot find module "no_such_app"/,
  ],
  [
    "an app export that does not exist",
    () => ["--", "shapes:nope"],
    /^Error: Failed to find "nope" in shapes \(exports: /,
  ],
];

function tomlFile(dir: string, text: string): string {
  const path = join(dir, "check.toml");
  writeFileSync(path, text);
  return path;
}

for (const [what, args, pattern] of checks) {
  e2e(`--check-config catches ${what}: one line, exit 1`, async (target) => {
    const dir = tempDir();
    try {
      const extra = args(dir.path);
      const app = extra[0] === "--" ? [extra.pop()!] : ["pid_app"];
      const flags = extra.filter((a) => a !== "--");
      const result = await run(target, ["--check-config", ...flags, ...app], { cwd: APPS });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
      assert.match(result.stderr.trimEnd(), pattern);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
    } finally {
      dir.remove();
    }
  });
}

e2e("--check-config catches a socket group it may not hand sockets to (as nobody)", async (t) => {
  const dir = tempDir();
  try {
    const result = await run(
      asNobody(t, dir.path),
      ["--check-config", "--socket-group", "www-data", "pid_app"],
      { cwd: APPS },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stderr,
      "Error: --socket-group: Cannot give unix sockets to group www-data (gid 33): appserve must " +
        "be root or a member of that group\n",
    );
  } finally {
    dir.remove();
  }
});

e2e("--check-config reports every problem, one line each, and creates nothing", async (t) => {
  const dir = tempDir();
  try {
    const log = join(dir.path, "error.log");
    const good = await run(t, ["--check-config", "--error-logfile", log, "pid_app"], {
      cwd: APPS,
    });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, "configuration OK\n");
    assert.ok(!existsSync(log), "--check-config created the error log");
    const bad = await run(t, [
      "--check-config",
      "-u",
      "no-such-user",
      "-p",
      join(dir.path, "nowhere", "app.pid"),
      "shapes:nope",
    ], { cwd: APPS });
    assert.equal(bad.code, 1);
    const lines = bad.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 3, bad.stderr);
    assert.ok(lines.every((l) => l.startsWith("Error: ")), bad.stderr);
  } finally {
    dir.remove();
  }
});

e2e("--help SETTING and --help settings show docs/settings.md's text", async (target) => {
  const doc = readFileSync(join(ROOT, "docs", "settings.md"), "utf8");
  const all = await run(target, ["--help", "settings"]);
  assert.equal(all.code, 0);
  // The file's "Generated ... Do not edit." note is for its editors, not for --help's readers.
  assert.equal(all.stdout, doc.replace(/^<!-- Generated .*-->\n/, ""));
  assert.match(all.stdout, /^# appserve settings\n/);
  const section = /### `socket_mode`\n[\s\S]*?(?=\n### |\n## )/.exec(doc)![0].trimEnd();
  for (const topic of ["socket_mode", "--socket-mode", "socket-mode"]) {
    const one = await run(target, ["--help", topic]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, `${section}\n`, topic);
  }
  const byShort = await run(target, ["-h", "-m"]);
  assert.match(byShort.stdout, /^### `umask`\n/);
  const unknown = await run(target, ["--help", "sokcet_mode"]);
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.stderr,
    'Error: No setting "sokcet_mode" (did you mean "socket_mode"?); `appserve --help settings` lists them all\n',
  );
  // --preload is taken now: its help is its section.
  for (const topic of ["preload_app", "--preload"]) {
    const preload = await run(target, ["--help", topic]);
    assert.equal(preload.code, 0, preload.stderr);
    assert.match(preload.stdout, /^### `preload_app`\n[^]*memory is not shared/);
  }
  // A gunicorn setting appserve refuses is answered as using it is, not as an unknown word.
  for (
    const [topic, answer] of [
      ["reload_engine", /^"reload_engine" is a gunicorn setting appserve does not support: /],
      ["paster", /^"paster" is a gunicorn setting that does not apply to appserve: /],
    ] as const
  ) {
    const refused = await run(target, ["--help", topic]);
    assert.equal(refused.code, 0, refused.stderr);
    if (typeof answer === "string") assert.equal(refused.stdout, answer);
    else assert.match(refused.stdout, answer);
  }
  // A topic close to none is as wrong: not the general help with exit 0.
  const none = await run(target, ["--help", "nosuch"]);
  assert.equal(none.code, 2, none.stdout);
  assert.equal(none.stdout, "");
  assert.equal(
    none.stderr,
    'Error: No setting "nosuch"; `appserve --help settings` lists them all\n',
  );
});

e2e(
  "-h before an app module, and -h among short flags (-hv), print the help, as gunicorn",
  async (t) => {
    const help = await run(t, ["--help"]);
    for (const args of [["-h", "mod:app"], ["-h", "examples/hello_hono.ts"], ["-hv"], ["-vh"]]) {
      const result = await run(t, args);
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, help.stdout, args.join(" "));
    }
    // A flag taking a value ends a cluster: -bh binds "h", nothing asks for help.
    assert.doesNotMatch((await run(t, ["-bh", "--print-config"])).stdout, /^usage:/);
  },
);

e2e('--help summaries are whole sentences, never cut at "(e.g."', async (target) => {
  const result = await run(target, ["--help"]);
  assert.doesNotMatch(result.stdout, /\(e\.g\.$/m);
  assert.doesNotMatch(result.stdout, /\(e\.$/m);
  assert.match(result.stdout, /--socket-mode MODE +.*\(e\.g\. 660; in TOML a string, "660"\)\./);
  assert.match(result.stdout, /appserve --help settings/);
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

// gunicorn's --print-config implies --check-config: it prints, then imports the app. A broken
// app fails as --check-config fails (same lines, same exit code); stdout stays loadable TOML.
e2e("--print-config prints, then checks the app as --check-config does", async (target) => {
  const broken = await run(target, ["--print-config", "import_error"], { cwd: APPS });
  const checked = await run(target, ["--check-config", "import_error"], { cwd: APPS });
  assert.equal(checked.code, 1, checked.stderr);
  assert.equal(broken.code, checked.code, broken.stderr);
  assert.equal(broken.stderr, checked.stderr);
  assert.match(broken.stdout, /^# Effective appserve configuration/);
  assert.match(broken.stdout, /^app = ".*import_error" {2}# APP_MODULE$/m);
  const good = await run(target, ["--print-config", "pid_app"], { cwd: APPS });
  assert.equal(good.code, 0, good.stderr);
  assert.doesNotMatch(good.stdout, /configuration OK/);
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
    "limit_request_line = 2000000\n",
    [],
    {},
    /^Error: appserve\.toml:1:22: Cannot read "limit_request_line": expected an integer from 0 to 1048576, got 2000000$/,
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

e2e(
  "an APP_MODULE only in APPSERVE_CMD_ARGS (not read there, as in gunicorn) is named in the one line",
  async (target) => {
    const dir = tempDir();
    try {
      const app = join(APPS, "pid_app.ts");
      const env = { APPSERVE_CMD_ARGS: `-w 2 -b 127.0.0.1:0 ${app}` };
      for (const args of [[], ["--check-config"]]) {
        assertOneLineError(
          await run(target, args, { cwd: dir.path, env }),
          1,
          new RegExp(
            `^Error: No application module specified: APPSERVE_CMD_ARGS's "${app}" is not read ` +
              "as one \\(as gunicorn reads none from GUNICORN_CMD_ARGS\\); give it on the " +
              "command line, or as app in appserve\\.toml\\.$",
          ),
        );
      }
    } finally {
      dir.remove();
    }
  },
);

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

e2e(
  "warns that GUNICORN_CMD_ARGS and ./gunicorn.conf.py are not read, and serves on",
  async (t) => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "gunicorn.conf.py"), "workers = 5\n");
      const server = start(t, ["-b", "127.0.0.1:0", join(APPS, "pid_app.ts")], {
        cwd: dir.path,
        env: { GUNICORN_CMD_ARGS: "-w 5 --keep-alive 7" },
      });
      try {
        await server.ready(1);
        const warned = server.output.split("\n").filter((l) => /\[WARNING\].*gunicorn/i.test(l));
        assert.equal(warned.length, 2, server.output);
        assert.match(
          warned[0],
          /GUNICORN_CMD_ARGS is set but not read \(appserve reads APPSERVE_CMD_ARGS\): "-w 5 --keep-alive 7" does not apply$/,
        );
        assert.match(
          warned[1],
          /\.\/gunicorn\.conf\.py is not read \(appserve reads TOML: appserve\.toml or -c FILE\)/,
        );
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
      // With appserve's own of each, nothing is said.
      writeFileSync(join(dir.path, "appserve.toml"), "workers = 1\n");
      const quiet = start(t, ["-b", "127.0.0.1:0", join(APPS, "pid_app.ts")], {
        cwd: dir.path,
        env: { GUNICORN_CMD_ARGS: "-w 5", APPSERVE_CMD_ARGS: "" },
      });
      try {
        await quiet.ready(1);
        assert.doesNotMatch(quiet.output, /WARNING.*gunicorn/i);
      } finally {
        assert.equal((await quiet.stop()).code, 0);
      }
    } finally {
      dir.remove();
    }
  },
);

e2e("an unambiguous prefix of a long flag is taken, as gunicorn's argparse takes it", async (t) => {
  const args = [
    "--print",
    "--error-log=-",
    "--keep",
    "7",
    "--dae",
    "--max-requests",
    "3",
    "pid_app",
  ];
  const result = await run(t, args, { cwd: APPS, env: { APPSERVE_CMD_ARGS: "--graceful 4" } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^errorlog = "-" {2}# --error-logfile$/m);
  assert.match(result.stdout, /^keepalive = 7 {2}# --keep-alive$/m);
  assert.match(result.stdout, /^daemon = true {2}# --daemon$/m);
  // Given whole, a flag keeps its meaning, though it is a prefix of --max-requests-jitter.
  assert.match(result.stdout, /^max_requests = 3 {2}# --max-requests$/m);
  assert.match(result.stdout, /^graceful_timeout = 4 {2}# APPSERVE_CMD_ARGS --graceful-timeout$/m);
  const help = await run(t, ["--hel"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: appserve /);
});

e2e("an ambiguous prefix of a long flag is one line naming the candidates, exit 2", async (t) => {
  assertOneLineError(
    await run(t, ["--work", "2", "pid_app"], { cwd: APPS }),
    2,
    /^Error: Ambiguous option "--work": could match --workers, --worker-class, --worker-connections, --worker-tmp-dir$/,
  );
  assertOneLineError(
    await run(t, ["--check-config", "pid_app"], {
      cwd: APPS,
      env: { APPSERVE_CMD_ARGS: "--log 3" },
    }),
    2,
    /^Error: APPSERVE_CMD_ARGS: Ambiguous option "--log": could match --log-level, .*--log-file, .*--log-config-json$/,
  );
  // A typo is no prefix: it still gets its suggestion.
  assertOneLineError(
    await run(t, ["--error-lgofile", "-", "pid_app"], { cwd: APPS }),
    2,
    /^Error: Unknown option "--error-lgofile" \(did you mean "--error-logfile"\?\)$/,
  );
});

e2e("an error log the master cannot open names the file and the flag as given", async (t) => {
  assertOneLineError(
    await run(t, ["-b", "127.0.0.1:39011", "--log-file", "/nonexistent-dir/x", "pid_app"], {
      cwd: APPS,
    }),
    1,
    /^Error: --log-file: Cannot open error log "\/nonexistent-dir\/x": ENOENT/,
  );
});

e2e(
  "--check-config and --print-config warn that GUNICORN_CMD_ARGS and gunicorn.conf.py are not read",
  async (t) => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "gunicorn.conf.py"), "workers = 5\n");
      const options = { cwd: dir.path, env: { GUNICORN_CMD_ARGS: "-w 5" } };
      const app = join(APPS, "pid_app.ts");
      for (const action of ["--check-config", "--print-config"]) {
        const result = await run(t, [action, app], options);
        assert.equal(result.code, 0, result.stderr);
        const warnings = result.stderr.trim().split("\n");
        assert.equal(warnings.length, 2, result.stderr);
        assert.match(
          warnings[0],
          /^Warning: GUNICORN_CMD_ARGS is set but not read \(appserve reads APPSERVE_CMD_ARGS\): "-w 5" does not apply$/,
        );
        assert.match(warnings[1], /^Warning: \.\/gunicorn\.conf\.py is not read /);
        // stdout stays what it was: --print-config's TOML, loadable.
        if (action === "--check-config") assert.equal(result.stdout, "configuration OK\n");
        else assert.equal(parseToml(result.stdout).workers, 1);
      }
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "--print-config names PORT and WEB_CONCURRENCY as the origins of the defaults they set",
  async (t) => {
    const env = { PORT: "39012", WEB_CONCURRENCY: "2" };
    const result = await run(t, ["--print-config", "pid_app"], { cwd: APPS, env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^bind = \[ "0\.0\.0\.0:39012" \] {2}# PORT environment variable$/m,
    );
    assert.match(result.stdout, /^workers = 2 {2}# WEB_CONCURRENCY environment variable$/m);
  },
);
