// What a project's directory holds for its runtime (tsconfig.json, .env files, bunfig.toml) goes
// to the app's workers as its runtime's own launcher would give it, never to the master: the
// binary's master reads neither .env nor bunfig.toml (Bun's compile defaults would), so appserve's
// settings come from its flags, config file and environment only, and no project code runs in
// the master, as root before the privilege drop.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  linkHono,
  ROOT,
  run,
  start,
  type Target,
  TARGETS,
  tempDir,
} from "../_helpers.ts";
import { createUser } from "../_users.ts";
import { PATHS } from "../_procs.ts";

const binary = TARGETS.find((t) => t.name === "binary")!;

/** Whether the target's workers are Bun's (the binary's own), which get the project's files. */
const bunWorkers = (t: Target) => t.workers !== "deno";

/** Deno workers of a root-started master drop to the user: they need a cache it can write. */
function withCache(target: Target, dir: string): Target {
  if (target.workers !== "deno") return target;
  const cache = join(dir, "deno-cache");
  mkdirSync(cache, { recursive: true });
  chmodSync(cache, 0o777);
  return {
    ...target,
    command: "env",
    prefix: [`DENO_DIR=${cache}`, target.command, ...target.prefix],
  };
}

Deno.test({
  name:
    "[binary] applies the project's tsconfig.json: paths, and each file's nearest one's JSX settings",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    try {
      linkHono(dir.path);
      writeFileSync(
        join(dir.path, "package.json"),
        JSON.stringify({ type: "module", dependencies: { hono: "*" } }),
      );
      writeFileSync(
        join(dir.path, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            jsx: "react-jsx",
            jsxImportSource: "hono/jsx",
            baseUrl: ".",
            paths: { "@lib/*": ["src/lib/*"] },
          },
        }),
      );
      mkdirSync(join(dir.path, "src", "lib"), { recursive: true });
      writeFileSync(
        join(dir.path, "src", "lib", "greet.ts"),
        'export const greet = (n: string) => "greet " + n;\n',
      );
      // A folder with a tsconfig.json of its own, for classic JSX.
      mkdirSync(join(dir.path, "src", "classic"));
      writeFileSync(
        join(dir.path, "src", "classic", "tsconfig.json"),
        '{ "compilerOptions": { "jsx": "react", "jsxFactory": "h", "jsxFragmentFactory": "F" } }',
      );
      writeFileSync(
        join(dir.path, "src", "classic", "page.tsx"),
        'const F = "fragment";\n' +
          "const h = (tag: string, _: unknown, ...children: string[]) => `${tag}(${children})`;\n" +
          "export const page = () => <><b>classic</b></>;\n",
      );
      writeFileSync(
        join(dir.path, "src", "app.tsx"),
        'import { Hono } from "hono";\nimport { greet } from "@lib/greet";\n' +
          'import { page } from "./classic/page.tsx";\n' +
          'const app = new Hono();\napp.get("/", (c) => c.html(<p>{greet("a")}</p>));\n' +
          'app.get("/classic", (c) => c.text(page()));\nexport default app;\n',
      );
      const server = start(binary, ["-b", "127.0.0.1:0", "src/app.tsx"], { cwd: dir.path });
      const answer = await getWhenReady(await server.url());
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.body, "<p>greet a</p>");
      assert.equal((await get(`${await server.url()}/classic`)).body, "fragment(b(classic))");
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  },
});

// Field trial 29: a project's tsconfig.json whose JSX settings sit in a shared base config it
// `extends` had its .tsx files compiled for React ("Cannot find package 'react'"), as if none.
Deno.test({
  name:
    "[binary] a tsconfig.json's JSX settings may come from the file it extends, as under bun run",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    try {
      cpSync(join(FIXTURES, "bun_workers", "tsconfig_extends"), dir.path, { recursive: true });
      linkHono(dir.path);
      const server = start(binary, ["-b", "127.0.0.1:0", "src/app.tsx"], { cwd: dir.path });
      const answer = await getWhenReady(await server.url());
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.body, "<p>greet a</p>");
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  },
});

// Answers with what the worker's environment holds of the .env files' variables.
const ENV_APP =
  `const names = ["FROM_DOTENV", "FROM_LOCAL", "FROM_REAL", "EXPANDED", "DEFAULTED", "WEB_CONCURRENCY"];
export default {
  fetch: () => Response.json(Object.fromEntries(names.map((n) => [n, process.env[n] ?? null]))),
};
`;

e2e(
  "a .env in the start directory sets none of appserve's settings; only Bun workers see it, as bun run would",
  async (t) => {
    const dir = tempDir();
    try {
      const port = await freePort();
      writeFileSync(join(dir.path, "appserve.toml"), 'bind = "127.0.0.1:0"\n');
      writeFileSync(
        join(dir.path, ".env"),
        `PORT=${port}\nWEB_CONCURRENCY=3\nAPPSERVE_CMD_ARGS=--bind 127.0.0.1:${port} --workers 3\n` +
          "FROM_DOTENV=dotenv\nFROM_LOCAL=dotenv\nFROM_REAL=dotenv\nEXPANDED=${FROM_LOCAL}+$FROM_REAL\n" +
          // Bun's default for a name not set (not for an empty one), itself expanded.
          "EMPTY=\nDEFAULTED=${NOT_SET:-a $FROM_REAL}+${EMPTY:-b}+${FROM_DOTENV:-c}\n",
      );
      writeFileSync(join(dir.path, ".env.local"), "FROM_LOCAL=local\n");
      writeFileSync(join(dir.path, "app.ts"), ENV_APP);
      const env = { FROM_REAL: "real" };

      const printed = await run(t, ["--print-config", "app.ts"], { cwd: dir.path, env });
      assert.equal(printed.code, 0, printed.stderr);
      assert.match(printed.stdout, /^workers = 1 {2}# default$/m);
      assert.match(printed.stdout, /^bind = \[ "127\.0\.0\.1:0" \]/m);

      const server = start(t, ["app.ts"], { cwd: dir.path, env });
      const url = await server.url();
      assert.notEqual(new URL(url).port, String(port));
      const answer = await getWhenReady(url);
      assert.equal(answer.status, 200, answer.body);
      const seen = JSON.parse(answer.body);
      if (bunWorkers(t)) {
        // The environment over .env.local over .env; references expanded as Bun expands them.
        assert.deepEqual(seen, {
          FROM_DOTENV: "dotenv",
          FROM_LOCAL: "local",
          FROM_REAL: "real",
          EXPANDED: "local+real",
          DEFAULTED: "a real++dotenv",
          WEB_CONCURRENCY: "3",
        });
      } else {
        // As `deno serve`: no .env unless --deno-flags asks for one.
        assert.deepEqual(seen, {
          FROM_DOTENV: null,
          FROM_LOCAL: null,
          FROM_REAL: "real",
          EXPANDED: null,
          DEFAULTED: null,
          WEB_CONCURRENCY: null,
        });
      }
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  },
);

Deno.test({
  name: '[binary-deno] --deno-flags="-A --env-file" gives Deno workers the .env',
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const target = TARGETS.find((t) => t.name === "binary-deno")!;
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, ".env"), "FROM_DOTENV=dotenv\nFROM_REAL=dotenv\n");
      writeFileSync(join(dir.path, "app.ts"), ENV_APP);
      const server = start(
        target,
        ["--deno-flags=-A --env-file", "-b", "127.0.0.1:0", "app.ts"],
        { cwd: dir.path, env: { FROM_REAL: "real" } },
      );
      const answer = await getWhenReady(await server.url());
      const seen = JSON.parse(answer.body);
      assert.equal(seen.FROM_DOTENV, "dotenv");
      assert.equal(seen.FROM_REAL, "real");
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  },
});

e2e(
  "as root with -u: a bunfig.toml preload runs in Bun workers only, as the user, never in the master",
  async (t) => {
    const user = createUser();
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o755);
      const log = join(dir.path, "preload.log");
      writeFileSync(log, "");
      chmodSync(log, 0o666);
      writeFileSync(join(dir.path, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
      // APPSERVE_ROLE is still set when a worker's preload runs: the worker takes it after.
      writeFileSync(
        join(dir.path, "preload.ts"),
        'import { appendFileSync } from "node:fs";\n' +
          'appendFileSync(new URL("./preload.log", import.meta.url), ' +
          '`${process.getuid()} ${process.env.APPSERVE_ROLE ?? "master"}\\n`);\n',
      );
      writeFileSync(
        join(dir.path, "app.ts"),
        "export default { fetch: () => new Response(String(process.getuid())) };\n",
      );
      const server = start(
        withCache(t, dir.path),
        ["-u", user.name, "-g", String(user.gid), "-b", "127.0.0.1:0", "app.ts"],
        { cwd: dir.path },
      );
      const answer = await getWhenReady(await server.url(), {}, 30_000);
      assert.equal(answer.body, String(user.uid));
      assert.equal((await get(await server.url())).status, 200);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      const lines = readFileSync(log, "utf8");
      assert.equal(lines, bunWorkers(t) ? `${user.uid} worker\n` : "");
      assert.ok(existsSync(log));
    } finally {
      user.remove();
      dir.remove();
    }
  },
);

// The binary honours BUN_OPTIONS and BUN_INSPECT_PRELOAD as bun does: its master used to run their
// preloads too (app code in the process that must run none), and keep their globals for its life.
e2e("BUN_OPTIONS, BUN_INSPECT_PRELOAD and bunfig preloads run in Bun workers only", async (t) => {
  const dir = tempDir();
  try {
    const log = join(dir.path, "preload.log");
    // APPSERVE_ROLE is still set when a worker's preload runs: the worker takes it after.
    const preload = (name: string) =>
      'import { appendFileSync } from "node:fs";\n' +
      `appendFileSync(${JSON.stringify(log)}, ` +
      `\`${name} \${process.env.APPSERVE_ROLE ?? "master"} \${process.pid}\\n\`);\n`;
    writeFileSync(join(dir.path, "options.ts"), preload("options"));
    writeFileSync(join(dir.path, "bunfig_preload.ts"), preload("bunfig"));
    writeFileSync(join(dir.path, "inspect.ts"), preload("inspect"));
    writeFileSync(join(dir.path, "bunfig.toml"), 'preload = ["./bunfig_preload.ts"]\n');
    writeFileSync(
      join(dir.path, "app.ts"),
      "export default { fetch: () => new Response(String(globalThis.PRELOADED ?? null)) };\n",
    );
    const server = start(t, ["-w", "2", "-b", "127.0.0.1:0", "app.ts"], {
      cwd: dir.path,
      env: {
        BUN_OPTIONS: `--preload ${join(dir.path, "options.ts")}`,
        BUN_INSPECT_PRELOAD: join(dir.path, "inspect.ts"),
      },
    });
    await getWhenReady(await server.url(), {}, 30_000);
    // Deno workers read none of them, as under deno serve.
    const expected = bunWorkers(t)
      ? ["bunfig", "inspect", "options"].flatMap((name) => [`${name} worker`, `${name} worker`])
      : [];
    const read = () => existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
    // Both workers ran their preloads before the stop (the first to answer says nothing of the other).
    await server.ready(2);
    await eventually(() => read().length >= expected.length, "both workers' preloads");
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
    const lines = read();
    assert.deepEqual(lines.map((line) => line.split(" ").slice(0, 2).join(" ")).sort(), expected);
    const master = result.stderr.match(/Listening at: \S+ \((\d+)\)/)?.[1];
    assert.ok(master, result.stderr);
    assert.ok(!lines.some((line) => line.endsWith(` ${master}`)), lines.join("\n"));
  } finally {
    dir.remove();
  }
});

// Each variable the binary's master sets aside, alone and together.
const [OPTIONS, INSPECT] = ["BUN_OPTIONS", "BUN_INSPECT_PRELOAD"];
const PRELOAD_VARIABLES = [[OPTIONS], [INSPECT], [OPTIONS, INSPECT]];
for (const names of PRELOAD_VARIABLES) {
  const list = names.join(" and ");
  Deno.test({
    name: `[binary] a master that cannot start again without ${list} refuses, in one line`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      // One string of the environment may hold 128 KiB (MAX_ARG_STRLEN): the last variable fills
      // it, so the same value under the longer name it is set aside under fails execve with E2BIG.
      const env = Object.fromEntries(names.map((name) => [name, "--smol"]));
      const last = names.at(-1)!;
      env[last] = env[last].padEnd(131072 - `${last}=`.length - 1);
      const result = await run(binary, ["--version"], { env });
      assert.equal(result.code, 1, result.stderr);
      // BUN_INSPECT_PRELOAD names one module, BUN_OPTIONS any number.
      const what = names.length > 1
        ? "their preloads"
        : last === OPTIONS
        ? "its preloads"
        : "its preload";
      assert.equal(
        result.stderr,
        `Error: Cannot start the master again without ${list} (${what} would run in the master): ` +
          `execve: Argument list too long; run it with ${list} unset\n`,
      );
      assert.equal(result.stdout, "");
    },
  });
}

/** Writes `module`, which appends `text` to `log`; returns its path. */
function appender(module: string, log: string, text: string): string {
  writeFileSync(
    module,
    `import { appendFileSync } from "node:fs";\n` +
      `appendFileSync(${JSON.stringify(log)}, ${JSON.stringify(text)});\n`,
  );
  return module;
}

// Bun runs BUN_INSPECT_PRELOAD's module after the binary's own preload: without a BUN_OPTIONS the
// master used to run it.
Deno.test({
  name: "[binary] a master with BUN_INSPECT_PRELOAD alone starts again without it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    try {
      const log = join(dir.path, "inspect.log");
      const module = appender(join(dir.path, "inspect.ts"), log, "ran\n");
      const result = await run(binary, ["--version"], { env: { BUN_INSPECT_PRELOAD: module } });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^appserve /);
      assert.equal(existsSync(log), false, "the master ran BUN_INSPECT_PRELOAD's module");
    } finally {
      dir.remove();
    }
  },
});

// Bun loads a bunfig named by BUN_OPTIONS' --config, and runs its `preload`, before the binary's own
// preload: the master runs it once, before it starts again (without BUN_OPTIONS, so without the
// config), and nothing of the binary runs earlier. What this pins is in README.md and
// docs/architecture.md. The working directory's bunfig.toml the binary does not read (built with
// --no-compile-autoload-bunfig).
Deno.test({
  name: "[binary] a bunfig preload named by BUN_OPTIONS' --config runs once in the master",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    try {
      const log = join(dir.path, "config.log");
      const module = appender(join(dir.path, "config_preload.ts"), log, "ran\n");
      const config = join(dir.path, "extra.toml");
      writeFileSync(config, `preload = [${JSON.stringify(module)}]\n`);
      writeFileSync(join(dir.path, "bunfig.toml"), `preload = [${JSON.stringify(module)}]\n`);
      const options = { BUN_OPTIONS: `--config=${config}` };
      const result = await run(binary, ["--version"], { cwd: dir.path, env: options });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^appserve /);
      assert.equal(readFileSync(log, "utf8"), "ran\n");
    } finally {
      dir.remove();
    }
  },
});

// Under Bun's own launcher no module of appserve's runs before the preloads: the master runs them,
// as any script's process would (README.md says so; the binary is what keeps them out).
Deno.test("bun src/cli/main.ts: the master runs BUN_OPTIONS' and BUN_INSPECT_PRELOAD's", () => {
  const dir = tempDir();
  try {
    const log = join(dir.path, "source.log");
    const options = appender(join(dir.path, "options.ts"), log, "options\n");
    const inspect = appender(join(dir.path, "inspect.ts"), log, "inspect\n");
    const out = execFileSync(join(ROOT, PATHS.bun), [join(ROOT, PATHS.cli), "--version"], {
      env: { ...process.env, BUN_OPTIONS: `--preload ${options}`, BUN_INSPECT_PRELOAD: inspect },
      encoding: "utf8",
    });
    assert.match(out, /^appserve /);
    assert.equal(readFileSync(log, "utf8"), "options\ninspect\n");
  } finally {
    dir.remove();
  }
});

// A bunfig.toml [define] of every kind: a process.env read, a bare name, a value with spaces and
// both quotes, NODE_ENV over the binary's own, and a number (which Bun ignores).
const DEFINES_BUNFIG = `[define]
"process.env.BUILD_ID" = "'build-42'"
"BUILD_CONST" = "'const-7'"
"SPACED" = '''"it's a \\"test\\" \\\\ done"'''
"process.env.NODE_ENV" = "'staging'"
"NUMBER" = 1
`;
const DEFINES_SEEN = `declare const BUILD_CONST: string, SPACED: string, NUMBER: number;
const read = (f: () => unknown) => { try { return f() ?? null; } catch { return null; } };
export const seen = () => ({
  id: read(() => process.env.BUILD_ID),
  constant: read(() => BUILD_CONST),
  spaced: read(() => SPACED),
  nodeEnv: read(() => process.env.NODE_ENV),
  number: read(() => NUMBER),
});
`;

for (
  const [name, args] of [
    ["shared socket", []],
    ["-k gthread", ["-k", "gthread", "--threads", "2"]],
    ["--reuse-port", ["--reuse-port"]],
  ] as [string, string[]][]
) {
  e2e(`${name}: every bunfig.toml [define] applies in Bun workers, as under bun run`, async (t) => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "bunfig.toml"), DEFINES_BUNFIG);
      writeFileSync(join(dir.path, "seen.ts"), DEFINES_SEEN);
      writeFileSync(
        join(dir.path, "print.ts"),
        'import { seen } from "./seen.ts";\nconsole.log(JSON.stringify(seen()));\n',
      );
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { seen } from "./seen.ts";\nexport default { fetch: () => Response.json(seen()) };\n',
      );
      const underBun = JSON.parse(
        execFileSync(join(ROOT, PATHS.bun), ["print.ts"], { cwd: dir.path, encoding: "utf8" }),
      );
      assert.deepEqual(underBun, {
        id: "build-42",
        constant: "const-7",
        spaced: 'it\'s a "test" \\ done',
        nodeEnv: "staging",
        number: null,
      });
      const port = args.includes("--reuse-port") ? await freePort() : 0;
      const server = start(t, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, "app.ts"], {
        cwd: dir.path,
      });
      const answer = await getWhenReady(await server.url());
      assert.equal(answer.status, 200, answer.body);
      // Deno workers read no bunfig.toml, as under deno serve.
      const expected = bunWorkers(t)
        ? underBun
        : { id: null, constant: null, spaced: null, nodeEnv: null, number: null };
      assert.deepEqual(JSON.parse(answer.body), expected);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  });
}

/**
 * Starts a -k gthread --threads 2 worker in `dir` and asserts what the app's both threads say the
 * preload set (`pre`, the PRELOADED global) and gave (`txt`, bunfig_preload's .txt loader).
 */
async function bothThreadsSee(
  t: Target,
  dir: string,
  expected: { pre: string | null; txt?: string | null },
  env?: Record<string, string>,
): Promise<void> {
  const args = ["-w", "1", "-k", "gthread", "--threads", "2", "-b", "127.0.0.1:0", "app.ts"];
  const server = start(t, args, { cwd: dir, env });
  try {
    const url = await server.url();
    await getWhenReady(url);
    const threads = new Set<string>();
    // Concurrent requests, until both threads have answered.
    await eventually(async () => {
      const answers = await Promise.all(Array.from({ length: 6 }, () => get(url)));
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.body);
        const { pre, txt, thread } = JSON.parse(answer.body);
        assert.deepEqual("txt" in expected ? { pre, txt } : { pre }, expected);
        threads.add(thread);
      }
      return threads.size === 2;
    }, "both threads answered");
  } finally {
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
  }
}

// Bun runs a bunfig.toml preload in a process's main thread only: gthread's threads, which run
// the app, get it too (they used to answer without its global and its .txt loader, silently).
e2e(
  "-k gthread: the bunfig.toml preload runs in each of the threads that run the app",
  async (t) => {
    // Deno workers read no bunfig.toml, as under deno serve.
    await bothThreadsSee(
      t,
      join(FIXTURES, "bun_workers", "bunfig_preload"),
      bunWorkers(t) ? { pre: "yes", txt: "plugin:hello" } : { pre: null, txt: null },
    );
  },
);

// BUN_OPTIONS' --preload too runs in a process's main thread only (they used to answer without
// its global, while a sync or async worker's app had it).
e2e(
  "-k gthread: a BUN_OPTIONS --preload runs in each of the threads that run the app",
  async (t) => {
    const dir = join(FIXTURES, "bun_workers", "bun_options_preload");
    // Deno workers read no BUN_OPTIONS.
    const pre = bunWorkers(t) ? "from BUN_OPTIONS" : null;
    const options = [
      "--preload ./preload.ts",
      "--preload=./preload.ts",
      "-r ./preload.ts",
      "--import=./preload.ts",
    ];
    for (const option of options) {
      await bothThreadsSee(t, dir, { pre }, { BUN_OPTIONS: option });
    }
  },
);

// Bun runs BUN_INSPECT_PRELOAD's module in a process's main thread only, and appserve leaves it so
// (README says it): gthread's threads get the bunfig's and BUN_OPTIONS' preloads, not that one.
e2e(
  "-k gthread: BUN_INSPECT_PRELOAD runs in the worker's main thread only, not in its threads",
  async (t) => {
    const dir = tempDir();
    try {
      const log = join(dir.path, "preload.log");
      // One line per thread that runs it: the main thread is threadId 0.
      const preload = (name: string) =>
        'import { appendFileSync } from "node:fs";\n' +
        'import { threadId } from "node:worker_threads";\n' +
        `appendFileSync(${JSON.stringify(log)}, \`${name} \${threadId}\\n\`);\n`;
      for (const name of ["bunfig", "options", "inspect"]) {
        writeFileSync(join(dir.path, `${name}.ts`), preload(name));
      }
      writeFileSync(join(dir.path, "bunfig.toml"), 'preload = ["./bunfig.ts"]\n');
      writeFileSync(
        join(dir.path, "app.ts"),
        "export default { fetch: () => new Response('') };\n",
      );
      const args = ["-w", "1", "-k", "gthread", "--threads", "2", "-b", "127.0.0.1:0", "app.ts"];
      const server = start(t, args, {
        cwd: dir.path,
        env: {
          BUN_OPTIONS: `--preload ${join(dir.path, "options.ts")}`,
          BUN_INSPECT_PRELOAD: join(dir.path, "inspect.ts"),
        },
      });
      // Deno workers read none of them, as under deno serve.
      const expected = bunWorkers(t)
        ? ["bunfig 0", "bunfig 1", "bunfig 2", "inspect 0", "options 0", "options 1", "options 2"]
        : [];
      const read = () => existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
      try {
        await getWhenReady(await server.url(), {}, 30_000);
        // gthread starts its threads at boot, before the worker serves.
        await eventually(() => read().length >= expected.length, "the threads' preloads");
      } finally {
        const result = await server.stop();
        assert.equal(result.code, 0, result.stderr);
      }
      assert.deepEqual(read().sort(), expected);
    } finally {
      dir.remove();
    }
  },
);
