// Every bad input: one clear line on stderr, the right exit code, no stack
// trace, no worker left running and no socket file left behind.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer, type Server as NetServer } from "node:net";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makePki } from "../_tls.ts";
import {
  asNobody,
  assertOneLineError,
  e2e,
  FIXTURES,
  get,
  hasStackTrace,
  ownFrames,
  run,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const APPS = join(FIXTURES, "apps");

const usage: [string, string[], number, RegExp][] = [
  [
    "an unparsable port",
    ["-b", "1.2.3.4:99999", "pid_app"],
    1,
    /^Error: --bind: Cannot read "bind": Invalid bind "1\.2\.3\.4:99999": port must be an integer from 0 to 65535$/,
  ],
  [
    "an empty unix path",
    ["-b", "unix:", "pid_app"],
    1,
    /^Error: --bind: Cannot read "bind": Invalid bind "unix:": unix: needs a socket path$/,
  ],
  // argparse's type=: a value that is not of the flag's type is a usage error (exit 2) ...
  [
    "a worker count that is not a number",
    ["-w", "abc", "pid_app"],
    2,
    /^Error: --workers: Cannot read "workers": expected an integer from 1 to 1024, got "abc"$/,
  ],
  [
    "a timeout that is not a number",
    ["--graceful-timeout", "soon", "pid_app"],
    2,
    /^Error: --graceful-timeout: Cannot read "graceful_timeout": expected a number of seconds >= 0, got "soon"$/,
  ],
  // ... one of the type that fails a check is a configuration error, as gunicorn's validators.
  [
    "a worker count out of range",
    ["-w", "0", "pid_app"],
    1,
    /^Error: --workers: Cannot read "workers": expected an integer from 1 to 1024, got "0"$/,
  ],
  [
    "an unknown option",
    ["--wokers", "2", "pid_app"],
    2,
    /^Error: Unknown option "--wokers" \(did you mean "--workers"\?\)$/,
  ],
  [
    "a gunicorn flag that does not apply",
    ["--paste", "app.ini", "pid_app"],
    2,
    /^Error: --paste is a gunicorn setting that does not apply to appserve: PasteDeploy is a Python packaging format$/,
  ],
  [
    "gunicorn's --ssl-version: what appserve's TLS does instead",
    ["--ssl-version", "TLSv1_2", "pid_app"],
    2,
    /^Error: --ssl-version is a gunicorn setting that does not apply to appserve: Python ssl module knobs and hook; not needed here: with --certfile appserve accepts TLS 1\.2 and 1\.3 and refuses 1\.0 and 1\.1 \(on both runtimes\), handshakes as it accepts, and takes --ciphers, --ca-certs and --cert-reqs as settings$/,
  ],
  [
    "gunicorn's --do-handshake-on-connect",
    ["--do-handshake-on-connect", "pid_app"],
    2,
    /^Error: --do-handshake-on-connect is a gunicorn setting that does not apply to appserve: .*; not needed here: with --certfile appserve accepts TLS 1\.2 and 1\.3/,
  ],
  // As gunicorn since 20.1 (where wsgi_app may name it): a ConfigError, exit 1.
  ["no app module", [], 1, /^Error: No application module specified\.$/],
  [
    "a missing module",
    ["-b", "127.0.0.1:0", "no_such_app"],
    4,
    /^Error: Cannot find module "no_such_app"/,
  ],
  [
    "a host that does not resolve",
    ["-b", "no-such-host.invalid:80", "pid_app"],
    1,
    /^Error: Cannot listen at no-such-host\.invalid: cannot resolve host name/,
  ],
  ["a non-listening fd", ["-b", "fd://0", "pid_app"], 1, /^Error: Cannot listen at fd:\/\/0: /],
  // gunicorn's Python configuration, by name alone: no "illegal character", no "no such file".
  [
    "a gunicorn Python config file",
    ["-c", "gunicorn.conf.py", "pid_app"],
    1,
    /^Error: gunicorn\.conf\.py: Cannot read config file: appserve reads TOML config files, not gunicorn's Python ones; give its settings as options, and `--print-config > appserve\.toml` writes them as TOML$/,
  ],
  [
    "a gunicorn python: config module",
    ["-c", "python:gconf", "pid_app"],
    1,
    /^Error: python:gconf: Cannot read config file: appserve reads TOML config files, not gunicorn's Python ones; /,
  ],
];
for (const [what, args, code, pattern] of usage) {
  e2e(`rejects ${what} with one line and exit ${code}`, async (target) => {
    assertOneLineError(await run(target, args, { cwd: APPS }), code, pattern);
  });
}

// PORT and WEB_CONCURRENCY give the defaults of bind and workers: a bad one is said, never a
// stack trace nor a silent 1 worker; --print-config does not print what could not be read.
const badEnv: [Record<string, string>, string[], RegExp][] = [
  [
    { PORT: "abc" },
    ["--check-config", "pid_app"],
    /^Error: PORT environment variable: Cannot read "bind": expected an integer from 0 to 65535, got "abc"$/,
  ],
  [
    { PORT: "99999" },
    ["pid_app"],
    /^Error: PORT environment variable: Cannot read "bind": expected an integer from 0 to 65535, got "99999"$/,
  ],
  [{ PORT: "abc" }, ["--print-config"], /^Error: PORT environment variable: /],
  [
    { WEB_CONCURRENCY: "abc" },
    ["pid_app"],
    /^Error: WEB_CONCURRENCY environment variable: Cannot read "workers": expected an integer from 1 to 1024, got "abc"$/,
  ],
  [
    { WEB_CONCURRENCY: "0" },
    ["--print-config"],
    /^Error: WEB_CONCURRENCY environment variable: Cannot read "workers": .*, got "0"$/,
  ],
  [
    { WEB_CONCURRENCY: "-3" },
    ["--check-config", "pid_app"],
    /^Error: WEB_CONCURRENCY environment variable: Cannot read "workers": .*, got "-3"$/,
  ],
];
for (const [env, args, pattern] of badEnv) {
  const [[name, value]] = Object.entries(env);
  e2e(`rejects ${name}=${value} (${args[0]}) with one line and exit 1`, async (target) => {
    // A port of our own where PORT is not the point, should the start go ahead.
    const bind = name === "PORT" ? [] : ["-b", "127.0.0.1:0"];
    const result = await run(target, [...bind, ...args], { cwd: APPS, env });
    assertOneLineError(result, 1, pattern);
    assert.equal(result.stdout, "");
  });
}

e2e(
  "a value not of the flag's type in APPSERVE_CMD_ARGS is exit 2, as argparse makes it",
  async (target) => {
    // gunicorn parses GUNICORN_CMD_ARGS with argparse too; the command line's -w does not excuse it.
    const env = { APPSERVE_CMD_ARGS: "-w many" };
    assertOneLineError(
      // --check-config: the command line alone would be fine, and must not start a server.
      await run(target, ["--check-config", "-w", "2", "pid_app"], { cwd: APPS, env }),
      2,
      /^Error: APPSERVE_CMD_ARGS --workers: Cannot read "workers": expected an integer from 1 to 1024, got "many"$/,
    );
  },
);

/** A plain node:net server holding a TCP port on 127.0.0.1. */
async function holdPort(): Promise<{ port: number; holder: NetServer }> {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
  return { port: (holder.address() as { port: number }).port, holder };
}

const RETRY_LINES = (port: number, scheme = "http") =>
  new RegExp(
    `\\[ERROR\\] Connection in use: ${scheme}://127\\.0\\.0\\.1:${port}\n` +
      ".*\\[ERROR\\] Retrying in 1 second\\.\n",
    "g",
  );

/** A TCP port free on [::] (so on 0.0.0.0 too, dual-stack) a moment ago. */
async function freeDualStackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "::", r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

e2e(
  "-b [::]:PORT with -b 0.0.0.0:PORT: [::] takes IPv4 too, one line and exit 1, no retries",
  async (target) => {
    // Linux's default; with 1 each [::] socket is IPv6 only and both binds serve.
    assert.equal(readFileSync("/proc/sys/net/ipv6/bindv6only", "latin1").trim(), "0");
    const port = await freeDualStackPort();
    const v6 = `http://\\[::\\]:${port}`;
    const v4 = `http://0\\.0\\.0\\.0:${port}`;
    assertOneLineError(
      await run(target, ["-b", `[::]:${port}`, "-b", `0.0.0.0:${port}`, "pid_app"], { cwd: APPS }),
      1,
      new RegExp(
        `^Error: Cannot listen at ${v4}: ${v6} takes IPv4 too \\(dual-stack\\); ` +
          "drop one of the two -b$",
      ),
    );
    // The other order: the [::] bind is the one refused.
    assertOneLineError(
      await run(target, ["-b", `0.0.0.0:${port}`, "-b", `[::]:${port}`, "pid_app"], { cwd: APPS }),
      1,
      new RegExp(
        `^Error: Cannot listen at ${v6}: it takes IPv4 too \\(dual-stack\\) and ${v4} is ` +
          "bound already by another -b; drop one of the two$",
      ),
    );
  },
);

const hostUrl = (host: string, port: number) =>
  `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

/** Two -b on one port that this start's own sockets make clash: first, second, why. */
function ownClashes(port: number): [string, string, string][] {
  const url = (host: string) => hostUrl(host, port);
  return [
    [
      "::",
      "::1",
      `${
        url("::")
      } takes port ${port} on every IPv6 address, bound already by another -b; drop one of the two -b`,
    ],
    [
      "::1",
      "::",
      `it takes port ${port} on every IPv6 address and ${
        url("::1")
      } is bound already by another -b; drop one of the two`,
    ],
    [
      "0.0.0.0",
      "127.0.0.1",
      `${
        url("0.0.0.0")
      } takes port ${port} on every IPv4 address, bound already by another -b; drop one of the two -b`,
    ],
    [
      "127.0.0.1",
      "0.0.0.0",
      `it takes port ${port} on every IPv4 address and ${
        url("127.0.0.1")
      } is bound already by another -b; drop one of the two`,
    ],
    ["::", "127.0.0.1", `${url("::")} takes IPv4 too (dual-stack); drop one of the two -b`],
    ["::", "0.0.0.0", `${url("::")} takes IPv4 too (dual-stack); drop one of the two -b`],
    ["127.0.0.1", "127.0.0.1", "it is given twice; drop one of the two -b"],
    [
      "localhost",
      "127.0.0.1",
      `${
        url("localhost")
      }, bound already by another -b, is the same address; drop one of the two -b`,
    ],
  ];
}

/** Each of ownClashes() under `mode` stops the start at once in its one line, exit 1. */
async function assertOwnClashes(target: Target, mode: string[]): Promise<void> {
  const port = await freeDualStackPort();
  for (const [first, second, why] of ownClashes(port)) {
    const binds = ["-b", hostUrl(first, port).slice(7), "-b", hostUrl(second, port).slice(7)];
    const result = await run(target, [...mode, ...binds, "pid_app"], { cwd: APPS });
    assert.equal(
      result.stderr.trim(),
      `Error: Cannot listen at ${hostUrl(second, port)}: ${why}`,
      [...mode, ...binds].join(" "),
    );
    assert.equal(result.code, 1);
  }
}

e2e(
  "-b of a wildcard and an address of it, or one address twice, on one port: one line, no retries",
  // The first socket holds the port the second wants: retrying cannot free it.
  (target) => assertOwnClashes(target, []),
);

e2e(
  "--reuse-port: -b of a wildcard and an address of it, or one address twice: the same one line",
  // Each worker binds both with SO_REUSEPORT, which the kernel allows: the more specific address
  // would silently take its connections from the other.
  (target) => assertOwnClashes(target, ["--reuse-port", "-w", "1"]),
);

/** `target` run in a network namespace of its own whose [::] sockets are IPv6 only. */
function bindV6Only(target: Target): Target {
  const probe = spawnSync("unshare", ["-n", "true"]);
  assert.equal(probe.status, 0, `unshare cannot make a network namespace here: ${probe.stderr}`);
  return {
    ...target,
    command: "unshare",
    prefix: [
      "-n",
      "sh",
      "-c",
      'echo 1 > /proc/sys/net/ipv6/bindv6only && ip link set lo up && exec "$@"',
      "sh",
      target.command,
      ...target.prefix,
    ],
  };
}

e2e(
  "net.ipv6.bindv6only=1: -b [::]:P -b 0.0.0.0:P both serve; -b [::]:P -b [::1]:P is one line",
  async (target) => {
    const v6only = bindV6Only(target);
    const port = 22_000; // a namespace of its own: every port is free
    const clash = await run(v6only, ["-b", `[::]:${port}`, "-b", `[::1]:${port}`, "pid_app"], {
      cwd: APPS,
    });
    assertOneLineError(
      clash,
      1,
      new RegExp(
        `^Error: Cannot listen at http://\\[::1\\]:${port}: http://\\[::\\]:${port} takes port ` +
          `${port} on every IPv6 address, bound already by another -b; drop one of the two -b$`,
      ),
    );
    const server = start(v6only, ["-b", `[::]:${port}`, "-b", `0.0.0.0:${port}`, "pid_app"], {
      cwd: APPS,
    });
    try {
      await server.waitFor(/\[INFO\] Booting worker/);
      for (const url of [`http://[::1]:${port}/`, `http://127.0.0.1:${port}/`]) {
        // The namespace's own loopback: reached from inside it.
        const answer = spawnSync("nsenter", ["-t", String(server.pid), "-n", "curl", "-sS", url], {
          encoding: "utf8",
        });
        assert.match(answer.stdout, /^hello pid \d+/, `${url}: ${answer.stderr}`);
      }
    } finally {
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`Listening at: http://\\[::\\]:${port},http://0\\.0\\.0\\.0:${port} `),
      );
    }
  },
);

/** The 4 retry lines, then the one error line and exit 1, of a start whose port stayed taken. */
function gaveUpOnPort(
  result: { code: number | null; stderr: string },
  port: number,
  scheme = "http",
): void {
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stderr.match(RETRY_LINES(port, scheme))?.length, 4, result.stderr);
  const errors = result.stderr.split("\n").filter((line) => line.startsWith("Error: "));
  assert.deepEqual(errors, [
    `Error: Cannot listen at ${scheme}://127.0.0.1:${port}: Address already in use ` +
    "(tried 5 times, 1 s apart)",
  ]);
}

e2e(
  "a port in use the whole time: 5 tries 1 s apart, as gunicorn, then one line and exit 1",
  async (target) => {
    const { port, holder } = await holdPort();
    try {
      const began = performance.now();
      const result = await run(target, ["-b", `127.0.0.1:${port}`, "pid_app"], { cwd: APPS });
      const took = performance.now() - began;
      gaveUpOnPort(result, port);
      assert.ok(took >= 4000, `gave up after ${took} ms`);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
      assert.doesNotMatch(result.stderr, /Listening at/);
    } finally {
      holder.close();
    }
  },
);

e2e(
  "--reuse-port on a port another process holds: the same 5 tries, one line and exit 1",
  async (target) => {
    const { port, holder } = await holdPort();
    try {
      const args = ["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, "pid_app"];
      const result = await run(target, args, { cwd: APPS });
      gaveUpOnPort(result, port);
      assert.doesNotMatch(result.stderr, /Listening at|Booting worker|failed to boot/);
    } finally {
      holder.close();
    }
  },
);

e2e(
  "with --certfile a port in use is named https:// in the retry lines and the error, both modes",
  async (target) => {
    const { port, holder } = await holdPort();
    const dir = tempDir();
    try {
      const pki = makePki(dir.path);
      const tls = ["--certfile", pki.cert, "--keyfile", pki.key];
      for (const mode of [[], ["--reuse-port"]]) {
        const args = ["-w", "1", ...mode, ...tls, "-b", `127.0.0.1:${port}`, "pid_app"];
        const result = await run(target, args, { cwd: APPS });
        gaveUpOnPort(result, port, "https");
        assert.doesNotMatch(result.stderr, /http:\/\//);
      }
    } finally {
      holder.close();
      dir.remove();
    }
  },
);

e2e(
  "a port released while appserve retries: it serves, after gunicorn's retry lines",
  async (target) => {
    const { port, holder } = await holdPort();
    const server = start(target, ["-w", "1", "-b", `127.0.0.1:${port}`, "pid_app"], {
      cwd: APPS,
    });
    try {
      // A restart racing the old process's exit: the old one lets go once appserve retries (a
      // fixed 1.5 s came before the bind of a `deno run` start on a loaded box: no retry).
      await server.waitFor(/Retrying in 1 second\./);
      await new Promise((resolve) => holder.close(resolve));
      const url = await server.ready(1);
      assert.equal(url, `http://127.0.0.1:${port}`);
      assert.match((await get(url)).body, /^hello pid/);
      const retries = server.stderr.match(RETRY_LINES(port))?.length ?? 0;
      assert.ok(retries >= 1 && retries <= 3, server.stderr);
      assert.doesNotMatch(server.stderr, /Error: /);
      assert.equal((await server.stop()).code, 0);
    } finally {
      holder.close();
      await server.stop();
    }
  },
);

e2e("refuses to replace a regular file with a unix socket", async (target) => {
  const dir = tempDir();
  try {
    const path = join(dir.path, "app.sock");
    writeFileSync(path, "precious");
    const result = await run(target, ["-b", `unix:${path}`, "pid_app"], { cwd: APPS });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /Error: Cannot listen at unix:.*app\.sock: a file that is not a socket is in the way/,
    );
    assert.ok(existsSync(path));
  } finally {
    dir.remove();
  }
});

e2e(
  "reports permission denied for a socket path it may not create (run as nobody)",
  async (target) => {
    const dir = tempDir();
    try {
      const path = join(dir.path, "app.sock");
      const result = await run(asNobody(target, dir.path), ["-b", `unix:${path}`, "pid_app"], {
        cwd: APPS,
      });
      assertOneLineError(
        result,
        1,
        /^Error: Cannot listen at unix:.*app\.sock: Permission denied$/,
      );
      assert.ok(!existsSync(path));
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a port below 1024 as a user (a container run as one): Permission denied says the way out",
  async (target) => {
    const dir = tempDir();
    try {
      // The kernel's EACCES comes before any look at whether the port is in use.
      const result = await run(asNobody(target, dir.path), ["-b", "127.0.0.1:80", "pid_app"], {
        cwd: APPS,
      });
      assertOneLineError(
        result,
        1,
        /^Error: Cannot listen at http:\/\/127\.0\.0\.1:80: Permission denied \(ports below 1024 need root, which --user then drops, or CAP_NET_BIND_SERVICE: listen on a port from 1024 up and publish it as 80\)$/,
      );
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a pidfile it may not write: the path given and the reason in words (run as nobody)",
  async (target) => {
    const dir = tempDir();
    try {
      // asNobody leaves the folder root's, mode 0755: nobody cannot create files in it.
      const pidfile = join(dir.path, "app.pid");
      const result = await run(
        asNobody(target, dir.path),
        ["-p", pidfile, "-b", "127.0.0.1:0", "pid_app"],
        { cwd: APPS },
      );
      assertOneLineError(result, 1, /^Error: Cannot write pidfile \S+: permission denied$/);
      assert.equal(result.stderr, `Error: Cannot write pidfile ${pidfile}: permission denied\n`);
      assert.ok(!existsSync(pidfile));
    } finally {
      dir.remove();
    }
  },
);

e2e("reports the OS reason when the socket's folder does not exist", async (target) => {
  const dir = tempDir();
  try {
    const path = join(dir.path, "missing", "app.sock");
    const result = await run(target, ["-b", `unix:${path}`, "pid_app"], { cwd: APPS });
    assertOneLineError(
      result,
      1,
      /^Error: Cannot listen at unix:.*missing\/app\.sock: No such file or directory$/,
    );
  } finally {
    dir.remove();
  }
});

const appErrors: [string, string, RegExp][] = [
  [
    "an unimportable module",
    "import_error",
    /\[ERROR\] Cannot import import_error: \/\S+\/import_error\.ts:2:\d+: Error: this module cannot be imported\n {4}at \/\S+\/import_error\.ts:2:\d+\n/,
  ],
  [
    "an export that does not exist",
    "shapes:nope",
    /\[ERROR\] Failed to find "nope" in shapes \(exports: api, app, createApp, handler, notAnApp, wrongObject\)/,
  ],
  [
    "a wrong app shape",
    "shapes:notAnApp",
    /\[ERROR\] "notAnApp" in shapes is a number; expected an object with a fetch\(request, info\) method/,
  ],
];
for (const [what, spec, pattern] of appErrors) {
  e2e(`halts with exit 4 on ${what}, leaving nothing behind`, async (target) => {
    const dir = tempDir();
    try {
      const socket = join(dir.path, "app.sock");
      const result = await run(target, ["-w", "2", "-b", `unix:${socket}`, spec], { cwd: APPS });
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, pattern);
      assert.match(result.stderr, /\[ERROR\] Reason: App failed to load\./);
      // The user's stack only (an import error has one), never appserve's frames.
      assert.deepEqual(ownFrames(result.stderr), [], result.stderr);
      if (spec !== "import_error") assert.ok(!hasStackTrace(result.stderr), result.stderr);
      assert.ok(!existsSync(socket), "socket file left behind");
    } finally {
      dir.remove();
    }
  });
}

// What cannot be a module, given as the app: one line before any worker starts, exit 4 as for a
// module that is not there, never the runtime's SyntaxError with the file's raw bytes.
const notModules: [string, string, RegExp][] = [
  [
    "a compiled executable (ELF)",
    "./server",
    /^Error: \.\/server is an executable, not a JavaScript\/TypeScript module: give appserve the source file \(\.\/server\.ts\) or a `bun build --target=bun` bundle$/,
  ],
  [
    "an image",
    "logo.png",
    /^Error: logo\.png is a binary file, not a JavaScript\/TypeScript module: give appserve the app's source file$/,
  ],
  [
    "a WebAssembly module",
    "app.wasm",
    /^Error: app\.wasm is a WebAssembly module, not a JavaScript\/TypeScript one: give appserve the module that instantiates it$/,
  ],
  [
    "a directory with an index file",
    "site",
    /^Error: Cannot find module "site" \(looked in \/\S+\): a directory; name its index file, site\/index\.ts$/,
  ],
  ["a directory without one", "empty", /^Error: Cannot find module "empty" \(looked in \/\S+\)$/],
];
for (const [what, app, pattern] of notModules) {
  e2e(`rejects ${what} as the app with one line and exit 4`, async (target) => {
    const dir = tempDir();
    try {
      // Any ELF program is one; a `bun build --compile` output is 100 MB.
      copyFileSync("/bin/true", join(dir.path, "server"));
      writeFileSync(
        join(dir.path, "server.ts"),
        "export default { fetch: () => new Response() };\n",
      );
      // A PNG's signature and the start of its IHDR chunk.
      writeFileSync(
        join(dir.path, "logo.png"),
        new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49]),
      );
      writeFileSync(join(dir.path, "app.wasm"), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
      mkdirSync(join(dir.path, "site"));
      writeFileSync(join(dir.path, "site", "index.ts"), "export default () => new Response();\n");
      mkdirSync(join(dir.path, "empty"));
      const result = await run(target, ["-b", "127.0.0.1:0", app], { cwd: dir.path });
      assertOneLineError(result, 4, pattern);
    } finally {
      dir.remove();
    }
  });
}
