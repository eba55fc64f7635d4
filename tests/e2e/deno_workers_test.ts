// Deno workers load the user's project, not appserve's: its deno.json import map (npm:
// packages, path aliases, JSX settings), the Deno namespace, a package.json project, a logger
// class importing "appserve" and the project's packages; the binary's runtime choice; and the
// bad inputs of the Deno path, each one line with its exit code and nothing started.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { appserveTarget, type Target } from "../_procs.ts";
import {
  assertOneLineError,
  DENO,
  eventually,
  FIXTURES,
  get,
  hasStackTrace,
  ROOT,
  run,
  start,
  TARGETS,
  tempDir,
} from "../_helpers.ts";
import { MIN_DENO } from "../../src/master/worker_runtime.ts";

const PROJECT = join(FIXTURES, "deno_project");
const PACKAGE = join(FIXTURES, "package_project");
const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const YOUNG_GEN_APP = join(FIXTURES, "apps", "young_gen_app.ts");
const DENO_TARGETS = TARGETS.filter((t) => t.workers === "deno");
const BINARY_DENO = appserveTarget("binary-deno");
/** The binary left to choose (`--runtime auto`), with Deno on PATH. */
const BINARY_AUTO: Target = { ...appserveTarget("binary"), prefix: [] };
const DENO_ON_PATH = { PATH: `${join(ROOT, "node_modules", ".bin")}:${Deno.env.get("PATH")}` };

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] a Deno project: npm: import, path alias, JSX, Deno.env, Deno.readTextFile`, async () => {
    const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", `${PROJECT}/app.ts:app`], {
      env: { FIXTURE_VALUE: "forty-two" },
    });
    try {
      const url = await server.ready(2);
      assert.equal((await get(url)).body, "hono on deno");
      assert.equal((await get(`${url}/jsx`)).body, "<p>hello jsx</p>");
      assert.equal((await get(`${url}/env`)).body, "FIXTURE_VALUE=forty-two");
      assert.equal((await get(`${url}/file`)).body, "read by Deno.readTextFile\n");
      assert.match(server.stderr, /\[INFO\] Using runtime: deno \d+\.\d+\.\d+ \(\/.+\)\n/);
    } finally {
      await server.stop();
    }
  });

  test(`[${target.name}] a logger class importing appserve and the project's hono, in threads too`, async () => {
    const server = start(target, [
      "-k",
      "gthread",
      "--threads",
      "2",
      "-b",
      "127.0.0.1:0",
      "--logger-class",
      `${PROJECT}/json_logger.ts`,
      `${PROJECT}/app.ts:app`,
    ]);
    try {
      const url = await server.url();
      assert.equal((await getAnswer(url)).body, "hono on deno");
    } finally {
      const result = await server.stop();
      // "Worker exiting" is written by the worker process, through the class it loaded.
      assert.match(result.stderr, /^tagged\(function\) info Worker exiting \(pid: \d+\) true$/m);
      assert.match(result.stderr, /^tagged\(function\) info Shutting down: Master true$/m);
    }
  });

  test(`[${target.name}] main() from "appserve" inside a Deno worker throws in one clear line`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { main, VERSION } from "appserve";\n' +
          "export default { fetch: () => main([]).then(\n" +
          '  () => new Response("ran"),\n' +
          "  (e) => new Response(`${VERSION} ${e.name}: ${e.message}`),\n" +
          ") };\n",
      );
      const server = start(target, ["-b", "127.0.0.1:0", join(dir.path, "app.ts")]);
      try {
        const url = await server.ready();
        assert.match(
          (await get(url)).body,
          /^\d+\.\d+\.\d+ Error: main\(\) runs appserve's command line, which a Deno worker does not hold$/,
        );
      } finally {
        await server.stop();
      }
    } finally {
      dir.remove();
    }
  });

  test(`[${target.name}] a package.json project resolves its packages from node_modules`, async () => {
    const server = start(target, ["-b", "127.0.0.1:0", `${PACKAGE}/app.ts:app`]);
    try {
      const url = await server.ready();
      assert.equal((await get(url)).body, "package.json project on deno");
    } finally {
      await server.stop();
    }
  });

  test(`[${target.name}] --check-config imports the app as a Deno worker would: the project's deno.json`, async () => {
    const ok = await run(target, ["--check-config", `${PROJECT}/app.ts:app`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "configuration OK\n");
    // A name the import map lacks fails as the start fails, with the user's file and line.
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "deno.json"), '{ "imports": { "hono": "npm:hono@4.13.19" } }\n');
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { Hono } from "hono";\nimport { x } from "not-mapped";\nexport const app = new Hono();\n',
      );
      const bad = await run(target, ["--check-config", `${join(dir.path, "app.ts")}:app`]);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /^Error: Cannot import .*app\.ts: .*"not-mapped"/);
      assert.match(bad.stderr, new RegExp(`${dir.path}/app\\.ts`));
      assert.doesNotMatch(bad.stdout, /configuration OK/);
    } finally {
      dir.remove();
    }
  });

  test(`[${target.name}] a broken deno.json: one line naming file, line and column, exit 1`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir.path, "deno.json"),
        '{\n  "imports": {\n    "x": "./x.ts",,\n  }\n}\n',
      );
      writeFileSync(join(dir.path, "app.ts"), "export default { fetch: () => new Response('x') };");
      const result = await run(target, ["-b", "127.0.0.1:0", join(dir.path, "app.ts")]);
      assertOneLineError(
        result,
        1,
        // Where, under V8 (the source launcher) and JavaScriptCore (the binary) alike.
        new RegExp(`^Error: ${dir.path}/deno\\.json:3:19: Cannot parse: .+$`),
      );
    } finally {
      dir.remove();
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] HUP reads deno.json again; a broken one keeps the running workers`, async () => {
    const dir = tempDir();
    try {
      const config = join(dir.path, "deno.json");
      writeFileSync(config, '{ "imports": { "x/": "./one/" } }');
      for (const v of ["one", "two"]) {
        mkdirSync(join(dir.path, v));
        writeFileSync(join(dir.path, v, "v.ts"), `export const v = "${v}";`);
      }
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { v } from "x/v.ts";\nexport default { fetch: () => new Response(v) };\n',
      );
      const server = start(target, ["-b", "127.0.0.1:0", join(dir.path, "app.ts")]);
      try {
        const url = await server.ready();
        assert.equal((await get(url)).body, "one");
        writeFileSync(config, '{ "imports": { "x/": ');
        server.signal("SIGHUP");
        await server.waitFor(/\[ERROR\] Reload failed, keeping the running workers: .*deno\.json/);
        assert.equal((await get(url)).body, "one");
        writeFileSync(config, '{ "imports": { "x/": "./two/" } }');
        server.signal("SIGHUP");
        await eventuallyBody(url, "two");
      } finally {
        await server.stop();
      }
    } finally {
      dir.remove();
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] a deno.json Deno refuses: its error, one Reason line, exit 4, no retries`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "deno.json"), '{ "compilerOptions": { "jsx": "bogus" } }');
      writeFileSync(join(dir.path, "app.ts"), "export default { fetch: () => new Response('x') };");
      const result = await run(target, ["-w", "2", "-b", "127.0.0.1:0", join(dir.path, "app.ts")]);
      assert.equal(result.code, 4, result.stderr);
      assert.match(
        result.stderr,
        /\[ERROR\] Reason: The worker's runtime refused to run it \(exit code 1\); its own error above says why \(for Deno: the project's deno\.json or lock file, or --deno-flags\)\.\n/,
      );
      // Deno's own words, from the first workers only: none is started again to be refused again.
      const refusals = result.stderr.match(/Unsupported 'jsx' compiler option value 'bogus'/g);
      assert.ok(refusals && refusals.length <= 2, result.stderr);
      assert.ok(result.stderr.match(/exited with code 1/g)!.length <= 2, result.stderr);
      // Deno's words without its colours: stderr is no terminal here, as a log file is not.
      assert.ok(!result.stderr.includes("\x1b["), result.stderr);
    } finally {
      dir.remove();
    }
  });
}

const JSX_PROJECT = JSON.stringify({
  imports: { hono: "npm:hono@4.13.19" },
  compilerOptions: { jsx: "precompile", jsxImportSource: "hono/jsx" },
});

for (const target of DENO_TARGETS) {
  test(`[${target.name}] a JSX syntax error whose token spans lines: Deno's whole message, in one line`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "deno.json"), JSX_PROJECT);
      // A closing tag that does not match: Deno names the text after it, a line break.
      writeFileSync(
        join(dir.path, "page.tsx"),
        "export const page = () => (\n  <div>\n    <h1>hi</h2>\n    <p>x</p>\n  </div>\n);\n",
      );
      writeFileSync(
        join(dir.path, "app.tsx"),
        'import { page } from "./page.tsx";\nexport default { fetch: () => new Response(String(page())) };\n',
      );
      const result = await run(target, ["-b", "127.0.0.1:0", "app.tsx"], { cwd: dir.path });
      assert.equal(result.code, 4, result.stderr);
      const file = join(dir.path, "page.tsx");
      assert.match(
        result.stderr,
        new RegExp(
          `\\[ERROR\\] Cannot import app\\.tsx: ${file}:3:16: SyntaxError: Expected '</', got 'jsx text \\( \\)'\\n {4}3 \\| {5}<h1>hi</h2>\\n`,
        ),
      );
    } finally {
      dir.remove();
    }
  });

  test(`[${target.name}] an import in no import map: its place, then Deno's hint of what to add`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "deno.json"), JSX_PROJECT);
      writeFileSync(
        join(dir.path, "app.ts"),
        'import dayjs from "dayjs";\nexport default { fetch: () => new Response(dayjs()) };\n',
      );
      const result = await run(target, ["-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path });
      assert.equal(result.code, 4, result.stderr);
      const file = join(dir.path, "app.ts");
      assert.match(
        result.stderr,
        new RegExp(
          `\\[ERROR\\] Cannot import app\\.ts: ${file}:1:19: TypeError: Import "dayjs" not a dependency and not in import map from "file://${file}"\\n {4}hint: If you want to use the npm package, try running \`deno add npm:dayjs\`\\n`,
        ),
      );
    } finally {
      dir.remove();
    }
  });
}

// A frozen deno.lock without the packages the app imports: the hono the deno_project fixture uses
// (in Deno's cache, so nothing is downloaded), through deno.json's imports, or written as `npm:`
// in the app's own code, which `deno install` alone does not lock (the app in a subfolder).
const LOCKLESS = [
  {
    what: "deno.json's imports",
    config: '{ "imports": { "hono": "npm:hono@4.13.19" }, "lock": { "frozen": true } }',
    app: "app.ts",
    from: "hono",
  },
  {
    what: "the app's npm: import",
    config: '{ "lock": { "frozen": true } }',
    app: "srv/app.ts",
    from: "npm:hono@4.13.19",
  },
];

for (const target of DENO_TARGETS) {
  for (const project of LOCKLESS) {
    test(`[${target.name}] a frozen deno.lock without ${project.what}: one line naming the command that makes it serve`, async () => {
      const dir = tempDir();
      try {
        writeFileSync(join(dir.path, "deno.json"), project.config);
        writeFileSync(join(dir.path, "deno.lock"), '{ "version": "5" }');
        mkdirSync(join(dir.path, "srv"));
        writeFileSync(
          join(dir.path, project.app),
          `import { Hono } from "${project.from}";\n` +
            'export default new Hono().get("/", (c) => c.text("x"));\n',
        );
        const result = await run(target, ["-w", "2", "-b", "127.0.0.1:0", project.app], {
          cwd: dir.path,
        });
        assert.equal(result.code, 4, result.stderr);
        const app = project.app.replace(".", "\\.");
        assert.match(
          result.stderr,
          new RegExp(
            `\\[ERROR\\] Cannot import ${app}: TypeError: The lockfile is out of date and frozen: ` +
              `update it by running \`deno install --frozen=false --entrypoint ${app}\` in this ` +
              "folder \\(then deploy the new deno\\.lock\\), or let the workers update it: add " +
              "--frozen=false to --deno-flags \\(--deno-flags='-A --frozen=false'\\)\n",
          ),
        );
        // Not Deno's advice to rerun `deno run` with a flag, nor its diff of the whole lock.
        assert.doesNotMatch(result.stderr, /rerun with|changes:/);
        assert.ok(!hasStackTrace(result.stderr), result.stderr);
        // The advice works: the command it names locks what the app imports, and the app serves
        // with the lock still frozen.
        const command = /running `deno ([^`]+)`/.exec(result.stderr)![1].split(" ");
        execFileSync(DENO, command, { cwd: dir.path, stdio: "pipe" });
        assert.match(readFileSync(join(dir.path, "deno.lock"), "utf8"), /"npm:hono@4\.13\.19"/);
        const server = start(target, ["-b", "127.0.0.1:0", project.app], { cwd: dir.path });
        try {
          assert.equal((await get(await server.ready(1))).body, "x");
        } finally {
          await server.stop();
        }
      } finally {
        dir.remove();
      }
    });
  }
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] Deno refuses a frozen deno.lock out of date: the Reason says what to run, or to pass`, async () => {
    const dir = tempDir();
    try {
      const config = (lock: string) =>
        writeFileSync(
          join(dir.path, "deno.json"),
          `{ "imports": { "hono": "npm:hono@4.13.19" }${lock} }`,
        );
      // The fixture's lock (hono, in Deno's cache) with a dependency deno.json no longer has:
      // Deno refuses at start, before any of the worker runs.
      const lock = JSON.parse(readFileSync(join(PROJECT, "deno.lock"), "utf8"));
      lock.workspace.dependencies.push("npm:left-pad@1");
      writeFileSync(join(dir.path, "deno.lock"), JSON.stringify(lock, null, 2));
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { Hono } from "hono";\nexport default new Hono().get("/", (c) => c.text("x"));\n',
      );
      const HINT = new RegExp(
        "\\[ERROR\\] Reason: The worker's runtime refused to run it \\(exit code 1\\); .*\\. " +
          "The lock file is frozen: if Deno says it is out of date, update it by running " +
          "`deno install --frozen=false` in this folder \\(then deploy the new deno\\.lock\\), or " +
          "let the workers update it: add --frozen=false to --deno-flags " +
          "\\(--deno-flags='-A --frozen=false'\\)\\.\n",
      );
      const refused = async (args: string[]) => {
        const result = await run(target, [...args, "-w", "2", "-b", "127.0.0.1:0", "app.ts"], {
          cwd: dir.path,
        });
        assert.equal(result.code, 4, result.stderr);
        assert.match(result.stderr, /The lockfile is out of date/);
        assert.match(result.stderr, HINT);
      };
      config(', "lock": { "frozen": true }');
      await refused([]);
      config("");
      await refused(["--deno-flags=-A --frozen"]);
      // Not frozen: no lock hint after a refusal for another reason.
      writeFileSync(join(dir.path, "deno.json"), '{ "compilerOptions": { "jsx": "bogus" } }');
      const other = await run(target, ["-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path });
      assert.equal(other.code, 4, other.stderr);
      assert.doesNotMatch(other.stderr, /lock file is frozen/);
      // The advice works: the workers update the lock and serve.
      config(', "lock": { "frozen": true }');
      const server = start(target, [
        "--deno-flags=-A --frozen=false",
        "-b",
        "127.0.0.1:0",
        "app.ts",
      ], {
        cwd: dir.path,
      });
      try {
        assert.equal((await get(await server.ready(1))).body, "x");
      } finally {
        await server.stop();
      }
      assert.ok(!readFileSync(join(dir.path, "deno.lock"), "utf8").includes("left-pad"));
    } finally {
      dir.remove();
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] Deno workers get a 4 MB semi-space; a --v8-flags in --deno-flags wins`, async () => {
    const MB = 1024 * 1024;
    const youngGen = async (args: string[]) => {
      const server = start(target, ["-b", "127.0.0.1:0", ...args, YOUNG_GEN_APP]);
      try {
        return Number((await get(await server.ready())).body.split(" ")[0]);
      } finally {
        await server.stop();
      }
    };
    // V8's default lets each semi-space grow to 16 MB under this churn (a new space of 32+ MB).
    const ours = await youngGen([]);
    assert.ok(ours > 0 && ours <= 8 * MB, `new space ${ours} bytes`);
    const theirs = await youngGen(["--deno-flags=-A --v8-flags=--max-semi-space-size=16"]);
    assert.ok(theirs > 8 * MB, `new space ${theirs} bytes with the user's 16 MB`);
  });
}

async function eventuallyBody(url: string, body: string): Promise<void> {
  for (let i = 0; (await get(url)).body !== body; i++) {
    if (i > 200) throw new Error(`never answered "${body}"`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function getAnswer(url: string) {
  for (let i = 0;; i++) {
    try {
      return await get(url);
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test("[binary] auto: Deno workers for a deno.json project with Deno on PATH, Bun otherwise", async () => {
  const deno = start(BINARY_AUTO, ["-b", "127.0.0.1:0", `${PROJECT}/app.ts:app`], {
    env: DENO_ON_PATH,
  });
  try {
    assert.equal((await get(await deno.ready())).body, "hono on deno");
    assert.match(deno.stderr, /Using runtime: deno \d+\.\d+\.\d+ \(.+node_modules\/\.bin\/deno\)/);
  } finally {
    await deno.stop();
  }
  const bun = start(BINARY_AUTO, ["-b", "127.0.0.1:0", `${PACKAGE}/app.ts:app`], {
    env: DENO_ON_PATH,
  });
  try {
    assert.equal((await get(await bun.ready())).body, "package.json project on bun");
    assert.match(bun.stderr, /Using runtime: bun \d+\.\d+\.\d+ \(.+dist\/appserve\)/);
  } finally {
    await bun.stop();
  }
});

test("[binary] --check-config with Deno on PATH checks a deno.json project on Deno", async () => {
  const result = await run(BINARY_AUTO, ["--check-config", `${PROJECT}/app.ts:app`], {
    env: DENO_ON_PATH,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "configuration OK\n");
});

test("[binary] --runtime deno without any Deno: one line that says how to install it, exit 1", async () => {
  const result = await run(BINARY_AUTO, ["--runtime", "deno", "-b", "127.0.0.1:0", PID_APP], {
    env: { PATH: "/nonexistent", DENO: "" },
  });
  assertOneLineError(
    result,
    1,
    /^Error: --runtime: Cannot find a Deno executable for the workers: install it with "npm i -g deno" or from https:\/\/deno\.com, or name it with --deno PATH$/,
  );
});

test("[binary] a Deno older than the minimum: one line naming the minimum, exit 1", async () => {
  const dir = tempDir();
  try {
    const fake = join(dir.path, "deno");
    writeFileSync(
      fake,
      '#!/bin/sh\necho "deno 1.46.3 (stable, release, x86_64-unknown-linux-gnu)"\n',
    );
    chmodSync(fake, 0o755);
    const result = await run(BINARY_AUTO, ["--runtime", "deno", "--deno", fake, PID_APP]);
    assertOneLineError(
      result,
      1,
      new RegExp(
        `^Error: Deno 1\\.46\\.3 at ${fake} is too old for appserve's workers: they need Deno ${
          MIN_DENO.replaceAll(".", "\\.")
        } or newer`,
      ),
    );
  } finally {
    dir.remove();
  }
});

test("[binary-deno] an unwritable cache: the bundle goes to a private temp folder, with a warning said once", async () => {
  const dir = tempDir();
  try {
    const server = start(BINARY_DENO, ["-w", "1", "-b", "127.0.0.1:0", PID_APP], {
      env: { XDG_CACHE_HOME: "/dev/null/cache", TMPDIR: dir.path },
    });
    try {
      const url = await server.ready(1);
      await get(url);
      assert.match(
        server.stderr,
        new RegExp(
          `\\[WARNING\\] Cannot use /dev/null/cache/appserve: .+; the Deno worker bundle is in ${dir.path}/appserve-\\d+/`,
        ),
      );
      // Each HUP installs the bundle again, in the same fallback: nothing new to say.
      for (const booted of [2, 3]) {
        server.signal("SIGHUP");
        await eventually(
          () => server.all(/Booting worker with pid/g).length === booted,
          `${booted} workers booted`,
        );
      }
      await get(url);
      assert.equal(server.all(/Cannot use \/dev\/null\/cache/g).length, 1, server.stderr);
    } finally {
      await server.stop();
    }
    // Neither the cache nor the temp folder: one line, exit 1, no worker started.
    const result = await run(BINARY_DENO, ["-b", "127.0.0.1:0", PID_APP], {
      env: { XDG_CACHE_HOME: "/dev/null/cache", TMPDIR: "/dev/null/tmp" },
    });
    assertOneLineError(
      result,
      1,
      /^Error: Cannot write the Deno worker bundle to \/dev\/null\/cache\/appserve: .+, nor \/dev\/null\/tmp\/appserve-\d+: .+$/,
    );
  } finally {
    dir.remove();
  }
});

test("[binary-deno] a damaged extracted bundle is written again before any worker runs it", async () => {
  const cache = tempDir();
  try {
    const env = { XDG_CACHE_HOME: cache.path };
    const first = start(BINARY_DENO, ["-b", "127.0.0.1:0", PID_APP], { env });
    await get(await first.ready());
    await first.stop();
    const [version] = readdirSync(join(cache.path, "appserve"));
    const file = join(cache.path, "appserve", version, "process_entry.js");
    const good = readFileSync(file, "utf8");
    writeFileSync(file, 'throw new Error("damaged bundle ran");\n');
    const second = start(BINARY_DENO, ["-b", "127.0.0.1:0", PID_APP], { env });
    try {
      await get(await second.ready());
      assert.match(
        second.stderr,
        new RegExp(`\\[WARNING\\] ${file} was damaged \\(its hash differed\\): written again`),
      );
      assert.doesNotMatch(second.stderr, /damaged bundle ran/);
      assert.equal(readFileSync(file, "utf8"), good);
    } finally {
      await second.stop();
    }
  } finally {
    cache.remove();
  }
});

test("[deno] the source launcher builds a missing bundle and says so", async () => {
  // A copy of the checkout's sources without dist/: the bundle must be built on first start.
  const dir = tempDir();
  try {
    for (const entry of ["src", "workers", "mod.ts", "deno.json", "package.json"]) {
      execFileSync("cp", ["-r", join(ROOT, entry), dir.path]);
    }
    symlinkSync(join(ROOT, "node_modules"), join(dir.path, "node_modules"));
    const target: Target = {
      ...appserveTarget("deno"),
      prefix: ["run", "-A", "--unstable-net", "--quiet", join(dir.path, "src/cli/main.ts")],
    };
    const server = start(target, ["-b", "127.0.0.1:0", PID_APP], {
      env: { XDG_CACHE_HOME: join(dir.path, "cache") },
    });
    try {
      await get(await server.ready());
      assert.match(
        server.stderr,
        new RegExp(
          `\\[INFO\\] Building the Deno worker bundle in ${dir.path}/dist/deno \\(missing\\)`,
        ),
      );
      assert.deepEqual(readdirSync(join(dir.path, "dist/deno")).sort(), [
        "appserve_shim.js",
        "process_entry.js",
        "thread_entry.js",
      ]);
    } finally {
      await server.stop();
    }
  } finally {
    dir.remove();
  }
});

for (const target of DENO_TARGETS) {
  test(`[${target.name}] --deno-flags without -A: one line, exit 1, at start and --check-config`, async () => {
    for (const extra of [[], ["--check-config"]]) {
      const result = await run(target, [
        ...extra,
        "--deno-flags=--unstable-kv --allow-net",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      assertOneLineError(
        result,
        1,
        /^Error: --deno-flags "--unstable-kv --allow-net" replaces the default -A, which Deno workers need \(.+\): add it, as --deno-flags="-A --unstable-kv", or name unstable features in deno\.json .+$/,
      );
    }
    // With -A and an extra, it starts.
    const server = start(target, [
      "--deno-flags=--unstable-kv -A",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    assert.equal((await get(await server.ready(1))).status, 200);
    assert.equal((await server.stop()).code, 0);
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] --deno-flags with a --deny-*: one line naming it and what the worker needs, exit 1`, async () => {
    const needs: [string, RegExp][] = [
      ["--deny-write=/x", /read \/proc\/self/],
      ["--deny-net", /read \/proc\/self/],
      ["--deny-run", /read \/proc\/self/],
      ["--deny-ffi", /calls libc through FFI/],
      ["--deny-sys", /its uid \(sys access\)/],
      ["--deny-env", /from the environment \(APPSERVE_WORKER_BOOT\)/],
    ];
    for (const [flag, need] of needs) {
      for (const extra of [[], ["--check-config"]]) {
        const result = await run(target, [
          ...extra,
          `--deno-flags=-A ${flag}`,
          "-b",
          "127.0.0.1:0",
          PID_APP,
        ]);
        const name = flag.replace(/=.*/, "");
        assertOneLineError(
          result,
          1,
          new RegExp(`^Error: --deno-flags "-A ${flag}": Deno workers cannot run with ${name}: .+`),
        );
        assert.match(result.stderr, need);
      }
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] --deno-flags with -c or --import-map but no file: one line, exit 1`, async () => {
    // Passed on, Deno took appserve's own --config after it as the file and died with a backtrace.
    for (const [flags, flag] of [["-A -c", "-c"], ["-A --import-map", "--import-map"]]) {
      for (const extra of [[], ["--check-config"]]) {
        const result = await run(target, [
          ...extra,
          `--deno-flags=${flags}`,
          "-b",
          "127.0.0.1:0",
          PID_APP,
        ]);
        assertOneLineError(
          result,
          1,
          new RegExp(`^Error: --deno-flags "${flags}": ${flag} needs a file, as --deno-flags=`),
        );
      }
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] --deno-flags' own --config, -c, --import-map are honoured; --check says it checks nothing`, async () => {
    const dir = tempDir();
    try {
      // Each file maps "which" to its own module: the body says whose map the worker used.
      const files: Record<string, string> = {
        "deno.json": '{ "imports": { "which": "./found.ts" } }\n',
        "other.json": '{ "imports": { "which": "./theirs.ts" } }\n',
        "map.json": '{ "imports": { "which": "./mapped.ts" } }\n',
        "found.ts": 'export default "found";\n',
        "theirs.ts": 'export default "theirs";\n',
        "mapped.ts": 'export default "mapped";\n',
        "app.ts":
          'import which from "which";\nexport default { fetch: () => new Response(which) };\n',
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir.path, name), text);
      const cases: [string, string][] = [
        ["-A", "found"],
        ["-A --config other.json", "theirs"],
        ["-A -c other.json", "theirs"],
        ["-A --config=other.json", "theirs"],
        ["-A --import-map map.json", "mapped"],
        ["-A --check", "found"],
      ];
      for (const [flags, body] of cases) {
        const server = start(target, [`--deno-flags=${flags}`, "-b", "127.0.0.1:0", "app.ts"], {
          cwd: dir.path,
        });
        try {
          assert.equal((await get(await server.ready(1))).body, body, flags);
        } finally {
          await server.stop();
        }
        const warned =
          /\[WARNING\] --deno-flags --check type-checks nothing: .+`deno check main\.ts`/;
        if (flags.includes("--check")) assert.match(server.stderr, warned);
        else assert.doesNotMatch(server.stderr, /--check/);
      }
    } finally {
      dir.remove();
    }
  });
}

// gunicorn says its configuration's warnings once per start: a HUP says only one that is new.
for (const target of DENO_TARGETS) {
  test(`[${target.name}] a launch warning is said at start, not again at each HUP, and again when new at one`, async () => {
    const dir = tempDir();
    try {
      const toml = join(dir.path, "appserve.toml");
      const config = (flags: string) =>
        writeFileSync(toml, `bind = "127.0.0.1:0"\napp = "${PID_APP}"\ndeno_flags = "${flags}"\n`);
      config("-A --check");
      const server = start(target, [], { cwd: dir.path });
      try {
        const url = await server.ready(1);
        const said = () =>
          server.all(/\[WARNING\] --deno-flags --check type-checks nothing/g).length;
        let booted = 1;
        const hup = async () => {
          server.signal("SIGHUP");
          booted += 1;
          await eventually(
            () => server.all(/Booting worker with pid/g).length === booted,
            `${booted} workers booted`,
          );
        };
        assert.equal(said(), 1, server.stderr);
        await hup();
        await hup();
        assert.equal(said(), 1, server.stderr);
        // Gone at one HUP, back at the next: new again, said again.
        config("-A");
        await hup();
        config("-A --check");
        await hup();
        assert.equal(said(), 2, server.stderr);
        assert.equal((await get(url)).status, 200);
      } finally {
        await server.stop();
      }
    } finally {
      dir.remove();
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] an unstable Deno API without its flag: the error names the flag and how to enable it`, async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "deno.json"), "{}\n");
      writeFileSync(
        join(dir.path, "kv.ts"),
        'const kv = await Deno.openKv(":memory:");\nexport default { fetch: () => new Response("ok") };\n',
      );
      writeFileSync(
        join(dir.path, "cron.ts"),
        'export default { fetch: () => { Deno.cron("c", "* * * * *", () => {}); return new Response("ok"); } };\n',
      );
      const loaded = await run(target, ["-b", "127.0.0.1:0", "kv.ts"], { cwd: dir.path });
      assert.equal(loaded.code, 4, loaded.stderr);
      assert.match(
        loaded.stderr,
        /\[ERROR\] Cannot import kv\.ts: .*kv\.ts:1:\d+: TypeError: Deno\.openKv is not a function: Deno\.openKv is an unstable API; enable it with "unstable": \["kv"\] in deno\.json, or --deno-flags "-A --unstable-kv"\n/,
      );
      const server = start(target, ["-b", "127.0.0.1:0", "cron.ts"], { cwd: dir.path });
      try {
        assert.equal((await get(await server.ready(1))).status, 500);
      } finally {
        await server.stop();
      }
      assert.match(
        server.stderr,
        /\[ERROR\] Error handling request GET \/: .*cron\.ts:1:\d+: TypeError: Deno\.cron is not a function: Deno\.cron is an unstable API; enable it with "unstable": \["cron"\] in deno\.json, or --deno-flags "-A --unstable-cron"\n/,
      );
    } finally {
      dir.remove();
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] deno serve's onListen: called in each worker with each listener's address; a throw is logged`, async () => {
    const dir = tempDir();
    try {
      const calls = join(dir.path, "calls.jsonl");
      const sock = join(dir.path, "app.sock");
      writeFileSync(
        join(dir.path, "app.ts"),
        "export default {\n" +
          '  fetch: () => new Response("ok"),\n' +
          "  onListen(addr: unknown) {\n" +
          `    Deno.writeTextFileSync(${JSON.stringify(calls)}, ` +
          "JSON.stringify({ pid: Deno.pid, addr }) + '\\n', { append: true });\n" +
          '    if (Deno.env.get("ON_LISTEN_THROWS")) throw new Error("boom in onListen");\n' +
          '    if (Deno.env.get("ON_LISTEN_HANGS")) return new Promise(() => {});\n' +
          "  },\n};\n",
      );
      // gthread: one call per worker too, from one of its threads.
      for (const kind of [[], ["-k", "gthread", "--threads", "2"]]) {
        rmSync(calls, { force: true });
        const args = [...kind, "-w", "2", "-b", "127.0.0.1:0", "-b", `unix:${sock}`, "app.ts"];
        const server = start(target, args, { cwd: dir.path });
        try {
          const url = await server.ready(2);
          const lines = () => {
            try {
              return readFileSync(calls, "utf8").trim().split("\n").map((l) => JSON.parse(l));
            } catch {
              return [];
            }
          };
          await eventually(() => lines().length >= 4, "4 onListen calls");
          await new Promise((r) => setTimeout(r, 300)); // No more come.
          const port = Number(new URL(url).port);
          const byPid = Map.groupBy(lines() as { pid: number; addr: unknown }[], (c) => c.pid);
          assert.equal(byPid.size, 2, JSON.stringify(kind));
          for (const each of byPid.values()) {
            assert.deepEqual(each.map((c) => c.addr), [
              { transport: "tcp", hostname: "127.0.0.1", port },
              { transport: "unix", path: sock },
            ]);
          }
        } finally {
          await server.stop();
        }
      }
      // Deno waits on nothing onListen returns: one that never settles holds back no address.
      rmSync(calls, { force: true });
      const hanging = start(target, ["-b", "127.0.0.1:0", "-b", `unix:${sock}`, "app.ts"], {
        cwd: dir.path,
        env: { ON_LISTEN_HANGS: "1" },
      });
      try {
        await hanging.ready(1);
        await eventually(
          () => existsSync(calls) && readFileSync(calls, "utf8").trim().split("\n").length === 2,
          "both addresses",
        );
      } finally {
        assert.equal((await hanging.stop()).code, 0);
      }
      const throwing = start(target, ["-b", "127.0.0.1:0", "app.ts"], {
        cwd: dir.path,
        env: { ON_LISTEN_THROWS: "1" },
      });
      try {
        const url = await throwing.ready(1);
        await eventually(() => throwing.stderr.includes("boom in onListen"), "the error logged");
        assert.equal((await get(url)).status, 200);
        assert.match(
          throwing.stderr,
          /\[ERROR\] Error in the app's onListen\nError: boom in onListen\n/,
        );
      } finally {
        assert.equal((await throwing.stop()).code, 0);
      }
    } finally {
      dir.remove();
    }
  });
}
