import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { GUNICORN_ONLY } from "../src/config/gunicorn_only.ts";
import { resolveConfig } from "../src/config/resolve.ts";
import { SETTINGS, type SettingSpec } from "../src/config/settings.ts";
import { ConfigError, UsageError } from "../src/errors.ts";
import { tempDir } from "./_helpers.ts";

function withDir<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  const dir = tempDir();
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir.path, name), text);
    return fn(dir.path);
  } finally {
    dir.remove();
  }
}

const resolveIn = (dir: string, argv: string[], env: Record<string, string> = {}) =>
  resolveConfig(argv, { env, cwd: dir });

Deno.test("resolveConfig() gives gunicorn's defaults", () => {
  withDir({}, (dir) => {
    const { config, origins } = resolveIn(dir, ["app.ts"]);
    assert.deepEqual(config.bind, ["127.0.0.1:8000"]);
    assert.equal(config.workers, 1);
    assert.equal(config.worker_class, "async");
    assert.equal(config.graceful_timeout, 30);
    assert.equal(config.keepalive, 2);
    assert.equal(config.limit_request_line, 4094);
    assert.equal(config.app, "app.ts");
    assert.equal(origins.workers, "default");
    assert.ok(Object.isFrozen(config));
  });
});

Deno.test("resolveConfig() applies defaults < TOML < APPSERVE_CMD_ARGS < command line", () => {
  withDir({ "appserve.toml": "workers = 3\n" }, (dir) => {
    const env = { WEB_CONCURRENCY: "2" };
    const cmd = { ...env, APPSERVE_CMD_ARGS: "--workers=4" };
    assert.equal(resolveIn(join(dir, "nowhere"), [], env).config.workers, 2);
    assert.equal(resolveIn(dir, [], env).config.workers, 3);
    assert.equal(resolveIn(dir, [], cmd).config.workers, 4);
    const top = resolveIn(dir, ["-w", "5"], cmd);
    assert.equal(top.config.workers, 5);
    assert.equal(top.origins.workers, "--workers");
    assert.equal(resolveIn(dir, [], cmd).origins.workers, "APPSERVE_CMD_ARGS --workers");
    assert.equal(resolveIn(dir, [], env).origins.workers, "appserve.toml:1:11");
  });
});

Deno.test("resolveConfig() replaces bind lists wholesale and PORT sets the default bind", () => {
  withDir({ "appserve.toml": 'bind = ["unix:/tmp/a.sock", "127.0.0.1:1"]\n' }, (dir) => {
    assert.deepEqual(resolveIn(dir, []).config.bind, ["unix:/tmp/a.sock", "127.0.0.1:1"]);
    assert.deepEqual(resolveIn(dir, ["-b", ":9", "--bind", "[::1]:2"]).config.bind, [
      ":9",
      "[::1]:2",
    ]);
  });
  withDir(
    {},
    (dir) => assert.deepEqual(resolveIn(dir, [], { PORT: "5000" }).config.bind, ["0.0.0.0:5000"]),
  );
});

Deno.test("resolveConfig(): reuse_port with a TCP port 0 is a ConfigError naming the bind", () => {
  withDir({ "appserve.toml": 'bind = ["unix:/tmp/a.sock", "127.0.0.1:0"]\n' }, (dir) => {
    const error = problem(dir, ["--reuse-port"]);
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      "appserve.toml:1:8: 127.0.0.1:0: reuse_port needs a fixed port (each " +
        "worker binds its own socket, so port 0 would give each worker a different one)",
    );
    // Without reuse_port the master binds once and port 0 is one port, as in gunicorn.
    assert.deepEqual(resolveIn(dir, []).config.bind, ["unix:/tmp/a.sock", "127.0.0.1:0"]);
    assert.deepEqual(resolveIn(dir, ["--reuse-port", "-b", "127.0.0.1:1"]).config.bind, [
      "127.0.0.1:1",
    ]);
  });
});

Deno.test("resolveConfig(): a bad PORT or WEB_CONCURRENCY is a ConfigError naming the variable", () => {
  withDir({}, (dir) => {
    const cases: [Record<string, string>, string][] = [
      [
        { PORT: "abc" },
        'PORT environment variable: Cannot read "bind": expected an integer from 0 to 65535, got "abc"',
      ],
      [
        { PORT: "99999" },
        'PORT environment variable: Cannot read "bind": expected an integer from 0 to 65535, got "99999"',
      ],
      [
        { WEB_CONCURRENCY: "abc" },
        'WEB_CONCURRENCY environment variable: Cannot read "workers": expected an integer from 1 to 1024, got "abc"',
      ],
      [
        { WEB_CONCURRENCY: "0" },
        'WEB_CONCURRENCY environment variable: Cannot read "workers": expected an integer from 1 to 1024, got "0"',
      ],
      [
        { WEB_CONCURRENCY: "-3" },
        'WEB_CONCURRENCY environment variable: Cannot read "workers": expected an integer from 1 to 1024, got "-3"',
      ],
    ];
    for (const [env, message] of cases) {
      const error = problem(dir, [], env);
      assert.ok(error instanceof ConfigError, JSON.stringify(env));
      assert.equal(error.message, message);
    }
    // Read only for the default: a bind or worker count given elsewhere leaves them unread.
    const given = resolveIn(dir, ["-b", ":1", "-w", "2"], { PORT: "abc", WEB_CONCURRENCY: "x" });
    assert.deepEqual([given.config.bind, given.config.workers], [[":1"], 2]);
    const good = resolveIn(dir, [], { PORT: "8080", WEB_CONCURRENCY: "3" }).config;
    assert.deepEqual([good.bind, good.workers], [["0.0.0.0:8080"], 3]);
  });
});

Deno.test("resolveConfig() reads -c PATH and file:PATH, resolving paths against the file's folder", () => {
  withDir({ "custom.toml": 'chdir = "sub"\napp = "a.ts"\n' }, (dir) => {
    assert.equal(resolveIn("/", ["-c", join(dir, "custom.toml")]).config.chdir, join(dir, "sub"));
    assert.equal(resolveIn(dir, ["--config", "file:custom.toml"]).config.app, join(dir, "a.ts"));
  });
});

function problem(
  dir: string,
  argv: string[],
  env: Record<string, string> = {},
): ConfigError | UsageError {
  try {
    resolveIn(dir, argv, env);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) return error;
    throw error;
  }
  throw new Error("expected a configuration error");
}

const badFiles: [string, string, RegExp][] = [
  ["TOML syntax error", "workers = 2\nbind = = 3\n", /^appserve\.toml:2:\d+: /],
  [
    "unknown key with a suggestion",
    "worker = 4\n",
    /^appserve\.toml:1:10: Unknown setting "worker" \(did you mean "workers"\?\)$/,
  ],
  [
    "wrong type",
    'workers = "four"\n',
    /^appserve\.toml:1:11: Cannot read "workers": expected an integer from 1 to 1024, got "four"$/,
  ],
  [
    "out of range",
    "workers = 0\n",
    /Cannot read "workers": expected an integer from 1 to 1024, got 0/,
  ],
  [
    "limit_request_line above 1 MiB",
    "limit_request_line = 2000000\n",
    /"limit_request_line": expected an integer from 0 to 1048576/,
  ],
  [
    "bad port in bind",
    'bind = "1.2.3.4:70000"\n',
    /Cannot read "bind": Invalid bind "1.2.3.4:70000": port must be/,
  ],
  [
    "a bind that is not a list or a string",
    "bind = 8000\n",
    /"bind": expected a list of addresses such as 127\.0\.0\.1:8000, unix:PATH or fd:\/\/N, got 8000$/,
  ],
  ["duplicate keys", "workers = 1\nworkers = 2\n", /^appserve\.toml:2:\d+: /],
  [
    "unknown worker class",
    'worker_class = "tornado"\n',
    /expected one of "async", "sync", "gthread", "gevent", "eventlet"/,
  ],
];
for (const [what, text, expected] of badFiles) {
  Deno.test(`resolveConfig() rejects a config file with ${what}`, () => {
    withDir({ "appserve.toml": text }, (dir) => {
      const error = problem(dir, []);
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, expected);
      assert.equal(error.exitCode, 1);
    });
  });
}

Deno.test("resolveConfig() reports a missing config file and a directory", () => {
  withDir({}, (dir) => {
    assert.match(
      problem(dir, ["-c", "nope.toml"]).message,
      /^nope\.toml: Cannot read config file: no such file$/,
    );
    assert.match(
      problem(dir, ["-c", "."]).message,
      /^\.: Cannot read config file: it is a directory$/,
    );
  });
});

Deno.test("resolveConfig() says gunicorn's Python config files are not read, by name alone", () => {
  // A .py file that exists is not parsed as TOML ("illegal character in key") either.
  withDir({ "gunicorn.conf.py": 'bind = "127.0.0.1:8000"\n' }, (dir) => {
    for (const given of ["gunicorn.conf.py", "file:gunicorn.conf.py", "python:gconf", "x.PY"]) {
      const error = problem(dir, ["-c", given]);
      assert.ok(error instanceof ConfigError, given);
      assert.equal(
        error.message,
        `${given}: Cannot read config file: appserve reads TOML config files, not gunicorn's ` +
          "Python ones; give its settings as options, and `--print-config > appserve.toml` " +
          "writes them as TOML",
      );
    }
  });
});

Deno.test("resolveConfig() reports every invalid value at once", () => {
  withDir({ "appserve.toml": "workers = 0\nbacklog = -1\n" }, (dir) => {
    const lines = problem(dir, []).message.split("\n");
    assert.equal(lines.length, 2);
  });
});

Deno.test("resolveConfig() rejects unknown flags with a suggestion (usage error, exit 2)", () => {
  withDir({}, (dir) => {
    const error = problem(dir, ["--wrokers", "2"]);
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /^Unknown option "--wrokers" \(did you mean "--workers"\?\)$/);
    // "--worker" is a prefix of four flags: ambiguous, as in argparse (also exit 2).
    assert.equal(problem(dir, ["--worker", "2"]).exitCode, 2);
  });
});

Deno.test("resolveConfig() takes a value that starts with a dash as argparse does", () => {
  withDir({}, (dir) => {
    // One word with a space is a value (argparse's rule), a lone "-A" is not.
    const spaced = resolveIn(dir, ["--deno-flags", "-A --unstable-kv", "app.ts"]).config;
    assert.equal(spaced.deno_flags, "-A --unstable-kv");
    const short = resolveIn(dir, ["-n", "-my app", "app.ts"]).config;
    assert.equal(short.proc_name, "-my app");
    const error = problem(dir, ["--deno-flags", "-A", "app.ts"]);
    assert.ok(error instanceof UsageError);
    assert.equal(
      error.message,
      '--deno-flags needs a value; give one that starts with "-" as --deno-flags=VALUE',
    );
    const ok = resolveIn(dir, ["--deno-flags=-A --unstable-kv", "app.ts"]).config;
    assert.equal(ok.deno_flags, "-A --unstable-kv");
  });
});

Deno.test("resolveConfig() names gunicorn-only flags and TOML keys with the reason", () => {
  withDir({}, (dir) => {
    const error = problem(dir, ["--reload-engine", "inotify"]);
    assert.ok(error instanceof UsageError);
    assert.equal(
      error.message,
      "--reload-engine is a gunicorn setting appserve does not support: --reload uses the " +
        "runtime's file watcher, with no choice of engine",
    );
    assert.match(
      problem(dir, ["--pythonpath=/x"]).message,
      /^--pythonpath is a gunicorn setting that does not apply to appserve: module resolution/,
    );
  });
  withDir({ "appserve.toml": 'workers = 2\nforwarder_headers = "SCRIPT_NAME"\n' }, (dir) => {
    const error = problem(dir, []);
    assert.ok(error instanceof ConfigError && !(error instanceof UsageError));
    assert.match(
      error.message,
      /^appserve\.toml:2:\d+: "forwarder_headers" is a gunicorn setting that does not apply to appserve: it lets trusted proxies set WSGI environ names/,
    );
  });
});

Deno.test("the gunicorn-only table names no setting or flag appserve has", () => {
  const specs = SETTINGS as readonly SettingSpec[];
  const ours = new Set(specs.flatMap((s) => [s.name, ...(s.flags ?? [])]));
  for (const g of GUNICORN_ONLY) {
    for (const what of [...g.names, ...g.flags]) assert.ok(!ours.has(what), what);
    for (const flag of g.flags) assert.match(flag, /^-(-[a-z][a-z-]+|[A-Za-z])$/);
  }
});

Deno.test("resolveConfig() rejects bad APPSERVE_CMD_ARGS quoting and values", () => {
  withDir({}, (dir) => {
    assert.match(
      problem(dir, [], { APPSERVE_CMD_ARGS: "--bind '127.0.0.1" }).message,
      /^APPSERVE_CMD_ARGS: Cannot parse: unterminated single quote/,
    );
    assert.match(
      problem(dir, [], { APPSERVE_CMD_ARGS: "-w 0" }).message,
      /^APPSERVE_CMD_ARGS --workers: Cannot read "workers"/,
    );
  });
});

Deno.test("resolveConfig(): a flag value not of the flag's type is a UsageError, as argparse's type=", () => {
  withDir({}, (dir) => {
    const usage = (argv: string[], env: Record<string, string> = {}) => {
      const error = problem(dir, [...argv, "app.ts"], env);
      assert.ok(error instanceof UsageError, `${argv.join(" ")}: ${error.message}`);
      return error.message;
    };
    assert.equal(
      usage(["-w", "abc"]),
      '--workers: Cannot read "workers": expected an integer from 1 to 1024, got "abc"',
    );
    for (const argv of [["-w", "1.5"], ["-t", ""], ["--keep-alive", "x"], ["--umask", "089"]]) {
      usage(argv);
    }
    assert.match(usage(["--socket-mode", "rw-rw----"]), /^--socket-mode: Cannot read/);
    // Every word given counts, not only the one that wins.
    assert.match(usage(["-w", "abc", "-w", "2"]), /got "abc"$/);
    // APPSERVE_CMD_ARGS is parsed as the command line is, even where the command line overrides.
    assert.match(
      usage(["-w", "2"], { APPSERVE_CMD_ARGS: "-w abc" }),
      /^APPSERVE_CMD_ARGS --workers:/,
    );
  });
});

Deno.test("resolveConfig(): a value of the type that fails a check, or any bad file value, is a ConfigError", () => {
  withDir({ "appserve.toml": 'workers = "abc"\n' }, (dir) => {
    const config = (argv: string[]) => {
      const error = problem(dir, [...argv, "app.ts"]);
      assert.ok(error instanceof ConfigError, `${argv.join(" ")}: ${error.message}`);
      return error.message;
    };
    assert.match(config([]), /^appserve\.toml:1:11: Cannot read "workers": .* got "abc"$/);
    for (
      const argv of [
        ["-w", "0"],
        ["--workers=-1"],
        ["--umask", "0o1000"],
        ["--socket-mode", "1770"],
        ["--socket-mode", "01777"], // leading zeros are octal's, not another type
        ["--cert-reqs", "3"],
        ["-k", "tornado"],
      ]
    ) config(["-w", "1", ...argv]);
  });
  // A usage error is found before the config file is read, as argparse's comes first.
  withDir({ "appserve.toml": "workers = = 2\n" }, (dir) => {
    assert.ok(problem(dir, ["-w", "abc", "app.ts"]) instanceof UsageError);
  });
});

Deno.test("resolveConfig() takes --preload (the app imported once before the workers start)", () => {
  withDir({}, (dir) => {
    assert.equal(
      resolveConfig(["--preload", "app.ts"], { env: {}, cwd: dir }).config.preload_app,
      true,
    );
  });
});

Deno.test("resolveConfig(): --threads above 1 selects gthread unless -k names another class", () => {
  withDir({}, (dir) => {
    const classOf = (argv: string[]) => resolveIn(dir, argv).config.worker_class;
    assert.equal(classOf(["--threads", "2"]), "gthread");
    // As in gunicorn: sync with threads is gthread.
    assert.equal(classOf(["-k", "sync", "--threads", "2"]), "gthread");
    assert.equal(classOf(["-k", "async", "--threads", "2"]), "async");
    assert.equal(classOf(["-k", "gthread"]), "gthread");
    assert.equal(classOf(["--threads", "1"]), "async");
    assert.match(problem(dir, ["--threads", "0"]).message, /^--threads: Cannot read "threads"/);
  });
});

Deno.test("resolveConfig() accepts gevent and eventlet as async aliases", () => {
  withDir(
    {},
    (dir) => assert.equal(resolveIn(dir, ["-k", "gevent"]).config.worker_class, "gevent"),
  );
});

Deno.test("renderConfig() output read back with -c gives the same configuration", async () => {
  const { renderConfig } = await import("../src/config/print_config.ts");
  withDir({}, (dir) => {
    const argv = [
      "-w",
      "3",
      "-b",
      "unix:/tmp/x.sock",
      "-b",
      "[::1]:9",
      "-e",
      "A=b c",
      "--keep-alive",
      "0.5",
      "--reuse-port",
      "--chdir",
      "sub",
      "--socket-mode",
      "0660",
      'app.ts:createApp({"a":1})',
    ];
    const first = resolveIn(dir, argv);
    // A number in the configuration, written back as chmod reads it.
    assert.equal(first.config.socket_mode, 0o660);
    assert.match(renderConfig(first, dir), /^socket_mode = "660" {2}# --socket-mode$/m);
    writeFileSync(join(dir, "printed.toml"), renderConfig(first, dir));
    const second = resolveIn("/", ["-c", join(dir, "printed.toml")]);
    assert.deepEqual(second.config, {
      ...first.config,
      config: join(dir, "printed.toml"),
      app: join(dir, 'app.ts:createApp({"a":1})'),
      chdir: join(dir, "sub"),
    });
    const values = (text: string) => text.replace(/ {2}# .*$/gm, "");
    assert.equal(values(renderConfig(second, "/")), values(renderConfig(first, dir)));
  });
});

Deno.test("resolveConfig() validates planned settings before saying they are not supported yet", () => {
  withDir({}, (dir) => {
    assert.match(
      problem(dir, ["--forwarded-allow-ips", "10.0.0.0/33"]).message,
      /^--forwarded-allow-ips: Cannot read "forwarded_allow_ips": "10\.0\.0\.0\/33" has an invalid prefix length \(0 to 32\)$/,
    );
    assert.match(
      problem(dir, ["--statsd-host", "no:host:port"]).message,
      /expected HOST\[:PORT\], got "no:host:port"/,
    );
  });
});

Deno.test("resolveConfig() reads a umask with a leading 0 as octal, as gunicorn and chmod do", () => {
  withDir({ "appserve.toml": "umask = 0o007\n" }, (dir) => {
    assert.equal(resolveIn(dir, ["app.ts"]).config.umask, 0o007);
    for (const raw of ["027", "0o027", "0x17", "23"]) {
      assert.equal(resolveIn(dir, ["--umask", raw, "app.ts"]).config.umask, 0o027, raw);
    }
    assert.match(problem(dir, ["--umask", "089", "app.ts"]).message, /umask.*089/);
  });
});

Deno.test("resolveConfig() says a unix statsd host (gunicorn's unix://PATH) is not supported", () => {
  withDir({}, (dir) => {
    assert.match(
      problem(dir, ["--statsd-host", "unix:///run/statsd.sock", "app.ts"]).message,
      /statsd_host.*a unix socket is not supported here, only HOST\[:PORT\] \(UDP\)/,
    );
    // As gunicorn's parse_address(default_port=8125).
    assert.equal(
      resolveIn(dir, ["--statsd-host", "localhost"]).config.statsd_host,
      "localhost:8125",
    );
    assert.equal(resolveIn(dir, ["--statsd-host", "[::1]"]).config.statsd_host, "[::1]:8125");
    assert.equal(
      resolveIn(dir, ["--statsd-host", "10.0.0.1:9125"]).config.statsd_host,
      "10.0.0.1:9125",
    );
  });
});

Deno.test("resolveConfig() reads a bare --proxy-protocol as auto, as gunicorn does", () => {
  withDir({}, (dir) => {
    for (
      const [argv, mode] of [
        [["--proxy-protocol", "app.ts"], "auto"],
        [["app.ts", "--proxy-protocol"], "auto"],
        [["--proxy-protocol", "-w", "2", "app.ts"], "auto"],
        [["--proxy-protocol", "v1", "app.ts"], "v1"],
        [["--proxy-protocol=v2", "app.ts"], "v2"],
      ] as [string[], string][]
    ) {
      const { config } = resolveIn(dir, argv);
      assert.equal(config.proxy_protocol, mode, argv.join(" "));
      assert.equal(config.app, "app.ts", argv.join(" "));
    }
  });
});

Deno.test("a list's type text puts its noun in the plural, not the examples after it", () => {
  const expected = (name: string) =>
    (SETTINGS as readonly SettingSpec[]).find((s) => s.name === name)!.type.expected;
  assert.equal(expected("bind"), "a list of addresses such as 127.0.0.1:8000, unix:PATH or fd://N");
  assert.equal(expected("raw_env"), "a list of KEY=VALUEs");
  assert.equal(expected("reload_extra_files"), "a list of file paths");
});

Deno.test("resolveConfig() takes an unambiguous prefix of a long flag, as argparse does", () => {
  withDir({}, (dir) => {
    const { config, origins } = resolveIn(dir, [
      "--error-log",
      "-",
      "--keep=7",
      "--dae",
      "--max-requests",
      "9",
      "app.ts",
    ]);
    assert.equal(config.errorlog, "-");
    assert.equal(origins.errorlog, "--error-logfile");
    assert.equal(config.keepalive, 7);
    assert.equal(config.daemon, true);
    // A flag given whole keeps its meaning, even as a prefix of another (--max-requests-jitter).
    assert.equal(config.max_requests, 9);
    assert.equal(config.max_requests_jitter, 0);
    assert.equal(config.app, "app.ts");
    // argparse too: GUNICORN_CMD_ARGS is read by the same parser.
    const env = resolveIn(dir, [], { APPSERVE_CMD_ARGS: "--graceful 4 --limit-request-field- 9" });
    assert.equal(env.config.graceful_timeout, 4);
    assert.equal(env.origins.graceful_timeout, "APPSERVE_CMD_ARGS --graceful-timeout");
    assert.equal(env.config.limit_request_field_size, 9);
    // After "--" a word is a positional, never a flag.
    assert.equal(resolveIn(dir, ["--", "--work"]).config.app, "--work");
  });
});

Deno.test("resolveConfig(): an ambiguous prefix is a UsageError naming the candidates", () => {
  withDir({}, (dir) => {
    assert.throws(
      () => resolveIn(dir, ["--work", "2"]),
      (e) =>
        e instanceof UsageError &&
        e.message ===
          'Ambiguous option "--work": could match --workers, --worker-class, ' +
            "--worker-connections, --worker-tmp-dir",
    );
    // gunicorn's own flags count: argparse there would not know which.
    assert.throws(
      () => resolveIn(dir, [], { APPSERVE_CMD_ARGS: "--log-c x" }),
      (e) =>
        e instanceof UsageError &&
        e.message ===
          'APPSERVE_CMD_ARGS: Ambiguous option "--log-c": could match --log-config, ' +
            "--log-config-json",
    );
    // A typo is still a typo, and a prefix of a gunicorn-only flag says why it is not taken.
    assert.throws(
      () => resolveIn(dir, ["--wokers", "2"]),
      (e) =>
        e instanceof UsageError &&
        /Unknown option "--wokers" \(did you mean "--workers"\?\)/.test(e.message),
    );
    assert.throws(
      () => resolveIn(dir, ["--pythonp", "x"]),
      (e) => e instanceof UsageError && /^--pythonpath is a gunicorn setting/.test(e.message),
    );
  });
});

Deno.test("resolveConfig() takes no prefix of a TOML key (gunicorn's config file neither)", () => {
  withDir({ "appserve.toml": "work = 2\n" }, (dir) => {
    assert.throws(
      () => resolveIn(dir, []),
      (e) => e instanceof ConfigError && /Unknown setting "work"/.test(e.message),
    );
  });
});

Deno.test("resolveConfig(): a default read from PORT or WEB_CONCURRENCY names the variable", () => {
  withDir({}, (dir) => {
    const { origins } = resolveIn(dir, [], { PORT: "5000", WEB_CONCURRENCY: "3" });
    assert.equal(origins.bind, "PORT environment variable");
    assert.equal(origins.workers, "WEB_CONCURRENCY environment variable");
    assert.equal(resolveIn(dir, [], { PORT: "" }).origins.bind, "default");
  });
});
