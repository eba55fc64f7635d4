// Start-up failures an operator can act on: an app that cannot be imported names the file, line
// and column in the user's code with the stack, under both targets; -D returns once serving or
// with the error and its exit code; start-up errors reach stderr and the error log file.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  alive,
  assertOneLineError,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  hasStackTrace,
  linkHono,
  ownFrames,
  run,
  start,
  TARGETS,
  tempDir,
} from "../_helpers.ts";

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** Pids of processes whose command line (or title) holds `mark`. */
function processesWith(mark: string): number[] {
  return readdirSync("/proc").filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(mark) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  }).filter((pid) => pid !== process.pid && alive(pid));
}

async function busyPort(): Promise<{ port: number; holder: NetServer }> {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
  return { port: (holder.address() as { port: number }).port, holder };
}

const SYNTAX_ERROR = 'export default { fetch: () => new Response("x") };\nconst broken = ;\n';
const USES_DEP =
  'import { value } from "./dep.ts";\nexport default { fetch: () => new Response(value) };\n';
const THROWING_DEP = 'export const value = "v";\n\nthrow new Error("dependency exploded");\n';

e2e("an app with a syntax error: exit 4 naming file:line:col and the line", async (target) => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "app.ts"), SYNTAX_ERROR);
    const socket = join(dir.path, "app.sock");
    const result = await run(target, ["-w", "2", "-b", `unix:${socket}`, "app.ts"], {
      cwd: dir.path,
    });
    assert.equal(result.code, 4, result.stderr);
    const file = join(dir.path, "app.ts");
    assert.match(
      result.stderr,
      new RegExp(`\\[ERROR\\] Cannot import app\\.ts: ${file}:2:\\d+: SyntaxError: .+\\n`),
    );
    assert.match(result.stderr, /^ {4}2 \| const broken = ;\n {4} {2}\| +\^$/m);
    assert.match(result.stderr, /\[ERROR\] Reason: App failed to load\./);
    assert.deepEqual(ownFrames(result.stderr), []);
    assert.ok(!existsSync(socket), "socket file left behind");
  } finally {
    dir.remove();
  }
});

// Two parse errors: Bun reports them as an AggregateError of BuildMessages, Deno the first.
const TWO_SYNTAX_ERRORS =
  'export default {\n  fetch(req: Request) {\n    return new Response("x"\n  },\n};\n';

for (const args of [["-b", "127.0.0.1:0"], ["--check-config"]]) {
  e2e(
    `an app with two syntax errors (${args[0]}): the first's file:line:col, message and line`,
    async (target) => {
      const dir = tempDir();
      try {
        writeFileSync(join(dir.path, "bad.ts"), TWO_SYNTAX_ERRORS);
        const result = await run(target, [...args, "bad.ts"], { cwd: dir.path });
        const file = join(dir.path, "bad.ts");
        // The workers import the app, and so does --check-config: on the workers' runtime.
        const bun = target.workers === "bun";
        // Bun: `Expected ")" but found "}"`, then its next error; Deno: `Expected ',', got '}'`.
        const message = bun ? 'Expected "\\)" but found "}"' : "Expected ','";
        assert.match(
          result.stderr,
          new RegExp(`Cannot import bad\\.ts: ${file}:4:3: SyntaxError: ${message}.*\\n`),
        );
        assert.match(result.stderr, /^ {4}4 \| {3}},\n {4} {2}\| {3}\^$/m);
        if (bun) {
          assert.match(
            result.stderr,
            new RegExp(`^ {4}${file}:5:1: SyntaxError: Unexpected }$`, "m"),
          );
        }
        // Bun's AggregateError has its own `cause: undefined`: nothing to say of it.
        assert.doesNotMatch(result.stderr, /Caused by: undefined/);
        assert.equal(result.code, args[0] === "--check-config" ? 1 : 4, result.stderr);
        assert.deepEqual(ownFrames(result.stderr), []);
      } finally {
        dir.remove();
      }
    },
  );
}

e2e(
  "an app whose dependency throws: exit 4 naming the dependency's line and the stack",
  async (t) => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "app.ts"), USES_DEP);
      writeFileSync(join(dir.path, "dep.ts"), THROWING_DEP);
      const result = await run(t, ["-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path });
      assert.equal(result.code, 4, result.stderr);
      const dep = join(dir.path, "dep.ts");
      assert.match(
        result.stderr,
        new RegExp(
          `\\[ERROR\\] Cannot import app\\.ts: ${dep}:3:\\d+: Error: dependency exploded\\n {4}at ${dep}:3:\\d+\\n`,
        ),
      );
      assert.deepEqual(ownFrames(result.stderr), []);
    } finally {
      dir.remove();
    }
  },
);

// `throw new Error("could not read settings", { cause: jsonErr })`: the cause is what says why.
e2e(
  "an app whose import throws an error with a cause: exit 4, the cause and its stack follow",
  async (t) => {
    const file = join(FIXTURES, "apps", "cause_on_import.ts");
    const at = (line: number) => `${escapeRegExp(file)}:${line}:\\d+`;
    const report = `Cannot import cause_on_import: ${at(6)}: Error: could not read settings\\n` +
      ` {4}at ${at(6)}\\nCaused by: SyntaxError: .*JSON.*\\n {4}at ${at(4)}\\n`;
    const served = await run(t, ["-b", "127.0.0.1:0", "cause_on_import"], {
      cwd: join(FIXTURES, "apps"),
    });
    assert.equal(served.code, 4, served.stderr);
    assert.match(served.stderr, new RegExp(`\\[ERROR\\] ${report}`));
    assert.deepEqual(ownFrames(served.stderr), []);
    const checked = await run(t, ["--check-config", "cause_on_import"], {
      cwd: join(FIXTURES, "apps"),
    });
    assert.match(checked.stderr, new RegExp(`^Error: ${report}$`));
    assert.deepEqual(ownFrames(checked.stderr), []);
  },
);

// A container's /tmp may be read-only: the check's worker reports on a pipe, not a temp file.
e2e(
  "--check-config and --print-config with TMPDIR unusable: checked, no temp folder needed",
  async (t) => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.path, "app.ts"),
        'export default { fetch: () => new Response("x") };\n',
      );
      writeFileSync(join(dir.path, "dep.ts"), THROWING_DEP);
      writeFileSync(join(dir.path, "bad.ts"), USES_DEP);
      const env = { TMPDIR: join(dir.path, "no-such-folder") };
      const ok = await run(t, ["--check-config", "app.ts"], { cwd: dir.path, env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "configuration OK\n");
      const printed = await run(t, ["--print-config", "app.ts"], { cwd: dir.path, env });
      assert.equal(printed.code, 0, printed.stderr);
      assert.ok(!hasStackTrace(printed.stderr), printed.stderr);
      const bad = await run(t, ["--check-config", "bad.ts"], { cwd: dir.path, env });
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(
        bad.stderr,
        /^Error: Cannot import bad\.ts: .*dep\.ts:3:\d+: Error: dependency exploded$/m,
      );
      assert.deepEqual(ownFrames(bad.stderr), []);
    } finally {
      dir.remove();
    }
  },
);

// bun:ffi needs Bun's JIT, which Bun turns off when it cannot reserve address space.
for (const target of TARGETS.filter((t) => t.name !== "deno")) {
  for (const args of [["-b", "127.0.0.1:0"], ["--check-config"]]) {
    Deno.test({
      name: `[${target.name}] under ulimit -v 1000000 (${
        args[0]
      }): one line naming the limit, exit 1`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const limited = {
          ...target,
          command: "bash",
          prefix: ["-c", 'ulimit -v 1000000; exec "$0" "$@"', target.command, ...target.prefix],
        };
        const result = await run(limited, [...args, PID_APP]);
        const line =
          /^Error: Cannot load libc: bun:ffi needs Bun's JIT, which is off because the address-space limit \(ulimit -v\) is too low \(1000000 kB\)/;
        if (args[0] !== "--check-config") return assertOneLineError(result, 1, line);
        // The check goes on to the app's import: a Deno worker cannot start either (one more line).
        assert.equal(result.code, 1, result.stderr);
        assert.ok(!hasStackTrace(result.stderr), result.stderr);
        assert.match(result.stderr, new RegExp(line.source, "m"));
      },
    });
  }
}

// V8 aborts (Oilpan's CagedHeap reservation) in each Deno worker under a lower `ulimit -v`.
for (const args of [["-b", "127.0.0.1:0"], ["--check-config"]]) {
  Deno.test({
    name: `[binary-deno] Deno workers under ulimit -v 4000000 (${args[0]}): the limit is named`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const target = TARGETS.find((t) => t.name === "binary-deno")!;
      const limited = {
        ...target,
        command: "bash",
        prefix: ["-c", 'ulimit -v 4000000; exec "$0" "$@"', target.command, ...target.prefix],
      };
      const result = await run(limited, [...args, PID_APP]);
      const named = result.stderr.match(/address-space limit is set.{0,2}ulimit -v 4000000 kB/g);
      assert.equal(named?.length, 1, result.stderr);
      if (args[0] === "--check-config") {
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /^Error: Cannot load app: the worker that imports it was sent SIG(TRAP|ABRT) \(an address-space limit is set/m,
        );
      } else {
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stderr, /was sent SIG(TRAP|ABRT)! An address-space limit is set/);
        assert.match(result.stderr, /\[ERROR\] Reason: Worker failed to boot\./);
      }
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
    },
  });
}

// --preload: the app is imported once before any worker starts (no fork: nothing is shared).
e2e(
  "--preload with an app that cannot be imported: the error, exit 1, no worker booted",
  async (t) => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "app.ts"), USES_DEP);
      writeFileSync(join(dir.path, "dep.ts"), THROWING_DEP);
      const result = await run(t, ["--preload", "-w", "2", "-b", "127.0.0.1:0", "app.ts"], {
        cwd: dir.path,
      });
      // gunicorn's --preload: the import's exception leaves the master, exit 1.
      assert.equal(result.code, 1, result.stderr);
      const dep = join(dir.path, "dep.ts");
      assert.match(
        result.stderr,
        new RegExp(
          `^Error: Cannot import app\\.ts: ${dep}:3:\\d+: Error: dependency exploded$`,
          "m",
        ),
      );
      assert.doesNotMatch(result.stderr, /Booting worker/);
      assert.deepEqual(ownFrames(result.stderr), []);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "--preload with a good app: one INFO line says what it does, and the workers serve",
  async (t) => {
    const server = start(t, ["--preload", "-w", "2", "-b", "127.0.0.1:0", PID_APP]);
    try {
      const answer = await get(await server.ready(2));
      assert.match(answer.body, /pid \d+/);
      const said = server.stderr.match(/\[INFO\] --preload: .*memory is not shared/g);
      assert.equal(said?.length, 1, server.stderr);
    } finally {
      await server.stop();
    }
  },
);

e2e(
  "an app in a folder with parentheses, thrown a message of several lines: location and all lines",
  async (t) => {
    const dir = tempDir();
    try {
      const folder = join(dir.path, "my app (copy)");
      mkdirSync(folder);
      writeFileSync(join(folder, "app.ts"), USES_DEP);
      writeFileSync(
        join(folder, "dep.ts"),
        'export const value = "v";\n\nthrow new Error("first line\\nsecond line");\n',
      );
      const result = await run(t, ["-b", "127.0.0.1:0", "app.ts"], { cwd: folder });
      assert.equal(result.code, 4, result.stderr);
      const dep = join(folder, "dep.ts").replace(/[()]/g, "\\$&");
      assert.match(
        result.stderr,
        new RegExp(
          `\\[ERROR\\] Cannot import app\\.ts: ${dep}:3:\\d+: Error: first line\\n` +
            `second line\\n {4}at ${dep}:3:\\d+\\n`,
        ),
      );
    } finally {
      dir.remove();
    }
  },
);

// Deno's error puts the importing location in its message, with its own internals after it.
// README: a named import the module does not export names the importing file's line under Deno;
// Bun gives no position, only the module that lacks it.
e2e("a named import the module does not export: exit 4, naming where it is missing", async (t) => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "mod.ts"), "export const a = 1;\n");
    writeFileSync(
      join(dir.path, "app.ts"),
      'import { nope } from "./mod.ts";\nexport default { fetch: () => new Response(String(nope)) };\n',
    );
    const result = await run(t, ["-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path });
    assert.equal(result.code, 4, result.stderr);
    const where = t.workers === "bun"
      ? `Export named 'nope' not found in module '${escapeRegExp(join(dir.path, "mod.ts"))}'`
      : `does not provide an export named 'nope' at ${
        escapeRegExp(pathToFileURL(join(dir.path, "app.ts")).href)
      }:1:10`;
    assert.match(result.stderr, new RegExp(`Cannot import app\\.ts: SyntaxError: .*${where}`));
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
  } finally {
    dir.remove();
  }
});

// Field trial 29: a Bun project deployed without `bun install` stopped at "Cannot find package"
// with nothing said of what to do (`bun run` installs a project without node_modules itself; the
// binary's Bun never does). Bun workers add a hint, as Deno's `deno add` one.
Deno.test({
  name: "[binary] a package not installed: exit 4, the import and a hint, bun install or bun add",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const binary = TARGETS.find((t) => t.name === "binary")!;
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.path, "package.json"),
        JSON.stringify({ type: "module", dependencies: { hono: "^4" } }),
      );
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { Hono } from "hono";\nexport default new Hono().get("/", (c) => c.text("hi"));\n',
      );
      const app = join(dir.path, "app.ts");
      const listed = await run(binary, ["-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path });
      assert.equal(listed.code, 4, listed.stderr);
      assert.match(
        listed.stderr,
        new RegExp(
          `\\[ERROR\\] Cannot import app\\.ts: Error: Cannot find package 'hono' imported from ${
            escapeRegExp(app)
          }\\n {4}hint: ${escapeRegExp(join(dir.path, "package.json"))} lists "hono", which is ` +
            `not installed: run \`bun install\` in ${escapeRegExp(dir.path)}\\n\\[`,
        ),
      );
      assert.ok(!hasStackTrace(listed.stderr), listed.stderr);

      // Installed, with a package the project never added (a subpath import of it).
      linkHono(dir.path);
      writeFileSync(
        join(dir.path, "app.ts"),
        'import utc from "dayjs/plugin/utc";\nexport default { fetch: () => new Response(String(utc)) };\n',
      );
      const unlisted = await run(binary, ["-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path });
      assert.equal(unlisted.code, 4, unlisted.stderr);
      assert.match(
        unlisted.stderr,
        new RegExp(
          `\\[ERROR\\] Cannot import app\\.ts: Error: Cannot find package 'dayjs' imported from ${
            escapeRegExp(app)
          }\\n {4}hint: install it: \`bun add dayjs\`\\n\\[`,
        ),
      );
    } finally {
      dir.remove();
    }
  },
});

e2e("an npm version that does not exist: exit 4, one line naming the import", async (t) => {
  const dir = tempDir();
  try {
    writeFileSync(
      join(dir.path, "badver.ts"),
      'import { Hono } from "npm:hono@99.0.0";\nexport default new Hono();\n',
    );
    const result = await run(t, ["-b", "127.0.0.1:0", "badver.ts"], { cwd: dir.path });
    assert.equal(result.code, 4, result.stderr);
    const line = /\[ERROR\] Cannot import badver\.ts: (.*)\n(.*)/.exec(result.stderr);
    assert.ok(line, result.stderr);
    // Bun workers name no position for an import that does not resolve (README).
    if (t.workers === "deno") {
      const file = join(dir.path, "badver.ts");
      assert.match(line[1], new RegExp(`^${file}:1:\\d+: TypeError: .*hono.*99\\.0\\.0`));
    }
    assert.match(line[2], /^\[\d{4}-\d\d-\d\d /, "the next line is the next log line");
    assert.doesNotMatch(result.stderr, /ext:/);
  } finally {
    dir.remove();
  }
});

e2e(
  "a module that starts its own server: no export is exit 4 saying so; with one, a warning",
  async (t) => {
    const own = await freePort();
    const env = { OWN_PORT: String(own) };
    const api = t.workers === "deno" ? "Deno\\.serve\\(\\)" : "Bun\\.serve\\(\\)";
    const failed = await run(
      t,
      ["-b", "127.0.0.1:0", join(FIXTURES, "apps", "own_server_app.ts")],
      {
        env,
      },
    );
    assert.equal(failed.code, 4, failed.stderr);
    assert.ok(!hasStackTrace(failed.stderr), failed.stderr);
    assert.match(
      failed.stderr,
      new RegExp(
        `has no default export and no "app" export \\(exports: none\\) \\(the module calls ${api} ` +
          "itself at \\S*own_server_app\\.ts:\\d+:\\d+: appserve serves the app, so export its handler",
      ),
    );
    const server = start(
      t,
      ["-b", "127.0.0.1:0", join(FIXTURES, "apps", "own_server_exported.ts")],
      {
        env,
      },
    );
    try {
      const url = await server.ready(1);
      assert.equal((await get(url)).body, "through appserve\n");
      await server.waitFor(
        new RegExp(
          `WARNING\\] The app called ${api} itself while loading \\(\\S*own_server_app\\.ts:\\d+:\\d+\\): ` +
            "that server runs in every worker",
        ),
      );
      // The call went through: the app's own server answers on its own port.
      assert.equal((await get(`http://127.0.0.1:${own}/`)).body, "own server\n");
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2e("with --error-logfile, the app's start-up error still reaches stderr", async (target) => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "app.ts"), USES_DEP);
    writeFileSync(join(dir.path, "dep.ts"), THROWING_DEP);
    const log = join(dir.path, "error.log");
    const result = await run(target, ["--error-logfile", log, "-b", "127.0.0.1:0", "app.ts"], {
      cwd: dir.path,
    });
    assert.equal(result.code, 4, result.stderr);
    const dep = join(dir.path, "dep.ts");
    assert.match(
      result.stderr,
      new RegExp(
        `^Error: App failed to load: Cannot import app\\.ts: ${dep}:3:\\d+: Error: dependency exploded\\n {4}at ${dep}:3:\\d+\\n$`,
      ),
    );
    const logged = readFileSync(log, "utf8");
    assert.match(
      logged,
      /\[ERROR\] Cannot import app\.ts: .*dep\.ts:3:\d+: Error: dependency exploded/,
    );
    assert.match(logged, /\[ERROR\] Reason: App failed to load\./);
  } finally {
    dir.remove();
  }
});

e2e("a start-up error (a busy port) goes to --error-logfile as well as stderr", async (target) => {
  const dir = tempDir();
  const { port, holder } = await busyPort();
  try {
    const log = join(dir.path, "error.log");
    const result = await run(target, ["--error-logfile", log, "-b", `127.0.0.1:${port}`, PID_APP]);
    assert.equal(result.code, 1);
    const line = `Cannot listen at http://127.0.0.1:${port}: Address already in use ` +
      "(tried 5 times, 1 s apart)";
    assert.equal(result.stderr, `Error: ${line}\n`);
    assert.ok(readFileSync(log, "utf8").endsWith(`[ERROR] ${line}\n`));
  } finally {
    holder.close();
    dir.remove();
  }
});

e2e("-D on a busy port: exit 1, the error on stderr and in the log, nothing left", async (t) => {
  const dir = tempDir();
  const { port, holder } = await busyPort();
  const mark = `busy-${port}-${t.name}`;
  try {
    const pidfile = join(dir.path, "app.pid");
    const log = join(dir.path, "error.log");
    const result = await run(t, [
      "-D",
      "-n",
      mark,
      "-p",
      pidfile,
      "--error-logfile",
      log,
      "-b",
      `127.0.0.1:${port}`,
      PID_APP,
    ]);
    const line = `Cannot listen at http://127.0.0.1:${port}: Address already in use ` +
      "(tried 5 times, 1 s apart)";
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `Error: ${line}\n`);
    assert.ok(!hasStackTrace(result.stderr));
    assert.ok(readFileSync(log, "utf8").includes(`[ERROR] ${line}`));
    assert.ok(!existsSync(pidfile), "pidfile left behind");
    assert.deepEqual(processesWith(mark), [], "a daemon left running");
  } finally {
    holder.close();
    dir.remove();
  }
});

e2e("-D with an app that cannot load: exit 4 with the app's error on stderr", async (target) => {
  const dir = tempDir();
  const mark = `broken-app-${target.name}-${Date.now()}`;
  try {
    writeFileSync(join(dir.path, "app.ts"), SYNTAX_ERROR);
    const socket = join(dir.path, "app.sock");
    const result = await run(target, ["-D", "-n", mark, "-b", `unix:${socket}`, "app.ts"], {
      cwd: dir.path,
    });
    assert.equal(result.code, 4, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^Error: App failed to load: Cannot import app\\.ts: ${
          join(dir.path, "app.ts")
        }:2:\\d+: SyntaxError: .+\\n {4}2 \\| const broken = ;\\n`,
      ),
    );
    assert.ok(!existsSync(socket), "socket file left behind");
    assert.deepEqual(processesWith(mark), [], "a daemon left running");
  } finally {
    dir.remove();
  }
});

// A daemon's stderr goes nowhere: the worker's own line is lost, the waiting -D says why.
e2e("-D with a worker that cannot boot: exit 3 with the worker's reason on stderr", async (t) => {
  const dir = tempDir();
  const mark = `unbootable-${t.name}-${Date.now()}`;
  try {
    const hooks = join(FIXTURES, "hooks", "master_only_hooks.ts");
    const result = await run(
      t,
      ["-D", "-n", mark, "-b", "127.0.0.1:0", "--hooks", hooks, PID_APP],
      {
        env: { HOOKS_MARK: join(dir.path, "imported") },
      },
    );
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /^Error: Worker failed to boot: Cannot load hooks module [^\n]*master_only_hooks\.ts: [^\n]*Error: this hooks module loads in the master only\n$/,
    );
    assert.deepEqual(processesWith(mark), [], "a daemon left running");
  } finally {
    dir.remove();
  }
});

e2e("-D returns only once the master listens and its first workers have booted", async (t) => {
  const dir = tempDir();
  try {
    // An app slow to import, that leaves a mark once it has loaded: "Booting worker" is logged
    // before the import starts, so only the marks tell that the app of each worker is in.
    const app = join(dir.path, "app.ts");
    writeFileSync(
      app,
      `import { writeFileSync } from "node:fs";
await new Promise((r) => setTimeout(r, 1500));
writeFileSync(new URL("./loaded-" + process.pid, import.meta.url), "");
export default { fetch: () => new Response("hello pid " + process.pid) };
`,
    );
    const pidfile = join(dir.path, "app.pid");
    const log = join(dir.path, "error.log");
    const result = await run(t, [
      "-D",
      "-w",
      "2",
      "-p",
      pidfile,
      "--error-logfile",
      log,
      "-b",
      "127.0.0.1:0",
      app,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout + result.stderr, "");
    // Already true when the command returns: no waiting here.
    const pid = Number(readFileSync(pidfile, "utf8"));
    const workers = childPids(pid).sort();
    assert.equal(workers.length, 2);
    const loaded = readdirSync(dir.path).filter((f) => f.startsWith("loaded-"));
    assert.deepEqual(loaded.map((f) => Number(f.slice("loaded-".length))).sort(), workers);
    const url = /Listening at: (http:\S+)/.exec(readFileSync(log, "utf8"))![1];
    assert.match((await get(url)).body, /^hello pid/);
    process.kill(pid, "SIGTERM");
    await eventually(() => !alive(pid), "the daemon stops");
    assert.ok(!existsSync(pidfile));
  } finally {
    dir.remove();
  }
});

e2e("--log-level takes any case, as gunicorn", async (target) => {
  const dir = tempDir();
  try {
    // Nothing below WARNING is logged (no "Listening at" line): a socket of known path, then.
    const socket = join(dir.path, "app.sock");
    const server = start(target, ["--log-level", "WARNING", "-b", `unix:${socket}`, PID_APP]);
    assert.equal((await getWhenReady("http://x/", { socketPath: socket })).status, 200);
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /\[INFO\]/);
    const printed = await run(target, ["--print-config", "--log-level", "Info", PID_APP]);
    assert.match(printed.stdout, /^loglevel = "info" {2}# --log-level$/m);
    writeFileSync(join(dir.path, "appserve.toml"), '[logging]\nmaster = { level = "DEBUG" }\n');
    const table = await run(target, ["--print-config", PID_APP], { cwd: dir.path });
    assert.match(table.stdout, /^logging = \{ master = \{ level = "debug" \} \}/m);
  } finally {
    dir.remove();
  }
  const bad = await run(target, ["--log-level", "loud", PID_APP]);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr,
    'Error: --log-level: Cannot read "loglevel": expected one of "debug", "info", "warning", "error", "critical", got "loud"\n',
  );
});
