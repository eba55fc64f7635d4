// Bun workers (the compiled binary) and the projects Deno users have: `npm:` specifiers and a
// deno.json import map resolve from node_modules; what only Deno runs (`jsr:` and `https:`
// imports, the Deno global at load or at request time) fails in one line that names
// --runtime deno and whether a Deno was found, never with Bun's raw error.

import assert from "node:assert/strict";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  DENO,
  FIXTURES,
  freePort,
  getWhenReady,
  hasStackTrace,
  linkHono,
  ownFrames,
  run,
  start,
  TARGETS,
  tempDir,
} from "../_helpers.ts";

const binary = TARGETS.find((t) => t.name === "binary")!;
const PROJECTS = join(FIXTURES, "bun_workers");
const NO_DENO = { PATH: "", DENO: "" };
// These tests are about Bun workers: the binary's choice (--runtime auto) is tested elsewhere.
const BUN = ["--runtime", "bun"];
const RAW = /ResolveMessage|ReferenceError|BuildMessage|Cannot find package/;

function binaryTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name: `[binary] ${name}`, fn, sanitizeOps: false, sanitizeResources: false });
}

async function serves(project: string, args: string[], body: RegExp): Promise<void> {
  const server = start(binary, [...BUN, "-b", "127.0.0.1:0", ...args], {
    cwd: join(PROJECTS, project),
    env: NO_DENO,
  });
  try {
    const url = await server.url();
    assert.match((await getWhenReady(url)).body, body);
  } finally {
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
  }
}

/** Runs an app that cannot load; returns its one ERROR line about the import, checked. */
async function cannotLoad(
  cwd: string,
  args: string[],
  env: Record<string, string> = NO_DENO,
): Promise<string> {
  const result = await run(binary, [...BUN, "-b", "127.0.0.1:0", ...args], { cwd, env });
  assert.equal(result.code, 4, result.stderr);
  assert.doesNotMatch(result.stderr, RAW);
  assert.ok(!hasStackTrace(result.stderr), result.stderr);
  // With -w 2 each worker may report the same error before the master halts: one message.
  const lines = new Set(
    result.stderr.split("\n").filter((l) => l.includes("[ERROR] Cannot import"))
      .map((l) => l.replace(/^.*\[ERROR\] /, "")),
  );
  assert.equal(lines.size, 1, result.stderr);
  assert.match(result.stderr, /\[ERROR\] Reason: App failed to load\./);
  return [...lines][0];
}

const NPM_PAGE = /^<p>npm specifiers, one hono, pid \d+<\/p>$/;

binaryTest("serves npm:pkg@version and npm:pkg@version/subpath from node_modules", async () => {
  await serves("npm_specifiers", ["-w", "2", "mod:app"], NPM_PAGE);
});

binaryTest("serves npm: specifiers in gthread threads too", async () => {
  await serves("npm_specifiers", ["-k", "gthread", "--threads", "2", "mod:app"], NPM_PAGE);
});

const MAPPED = /^<p>hello from the import map, scoped greeting, pid \d+<\/p>$/;

binaryTest(
  "honours deno.json imports and scopes; a mapped npm: package serves its subpaths",
  async () => {
    await serves("import_map", ["-w", "2", "mod:app"], MAPPED);
    await serves("import_map", ["-k", "gthread", "--threads", "2", "mod:app"], MAPPED);
  },
);

binaryTest(
  "an app that fails to load through the import map shows its file, line and stack",
  async () => {
    const cwd = join(PROJECTS, "import_map");
    const result = await run(binary, [...BUN, "-b", "127.0.0.1:0", "throws_at_load:app"], {
      cwd,
      env: NO_DENO,
    });
    assert.equal(result.code, 4, result.stderr);
    const file = join(cwd, "throws_at_load.ts");
    assert.match(
      result.stderr,
      new RegExp(
        `\\[ERROR\\] Cannot import throws_at_load: ${file}:6:\\d+: Error: cannot configure: hello from the import map\\n {4}at configure \\(${file}:6:\\d+\\)\\n {4}at ${file}:9:\\d+\\n`,
      ),
    );
    assert.deepEqual(ownFrames(result.stderr), []);
  },
);

binaryTest("a jsr: import fails in one line naming --runtime deno and the Deno found", async () => {
  const line = await cannotLoad(join(PROJECTS, "needs_deno"), ["jsr_import.ts"], { DENO });
  assert.equal(
    line,
    `Cannot import jsr_import.ts: jsr_import.ts imports "jsr:@hono/hono", which Bun cannot load; run it with --runtime deno (deno found at ${DENO})`,
  );
});

binaryTest("an https: import fails in one line, saying when no Deno was found", async () => {
  const line = await cannotLoad(join(PROJECTS, "needs_deno"), ["https_import.ts"]);
  assert.equal(
    line,
    'Cannot import https_import.ts: https_import.ts imports "https://deno.land/std@0.224.0/http/file_server.ts", which Bun cannot load; run it with --runtime deno (no deno found in DENO or on PATH)',
  );
});

binaryTest(
  "a deno.json entry that maps to jsr: names the specifier, the target and the file",
  async () => {
    const line = await cannotLoad(join(PROJECTS, "import_map"), ["needs_jsr.ts"]);
    assert.equal(
      line,
      'Cannot import needs_jsr.ts: needs_jsr.ts imports "@std/assert" (mapped to "jsr:@std/assert@1" by deno.json), which Bun cannot load; run it with --runtime deno (no deno found in DENO or on PATH)',
    );
  },
);

binaryTest("Deno.env at load fails in one line naming the file, line and API", async () => {
  const line = await cannotLoad(join(PROJECTS, "needs_deno"), ["-w", "2", "deno_env_at_load"]);
  assert.equal(
    line,
    "Cannot import deno_env_at_load: deno_env_at_load.ts:2:18 uses Deno.env, which Bun does not have; run it with --runtime deno (no deno found in DENO or on PATH)",
  );
});

binaryTest("Deno.env at request time: a 500 and one line naming --runtime deno", async () => {
  for (const args of [[], ["-k", "gthread", "--threads", "2"], ["--reuse-port"]]) {
    // Reuse-port workers bind the port themselves: it must be known up front.
    const bind = `127.0.0.1:${args.includes("--reuse-port") ? await freePort() : 0}`;
    const server = start(binary, [...BUN, "-b", bind, ...args, "deno_env_at_request.ts"], {
      cwd: join(PROJECTS, "needs_deno"),
      env: NO_DENO,
    });
    try {
      const answer = await getWhenReady(await server.url());
      assert.equal(answer.status, 500, args.join(" "));
      await server.waitFor(
        /\[ERROR\] Error handling request GET \/: deno_env_at_request\.ts:3:29 uses Deno\.env, which Bun does not have; run it with --runtime deno \(no deno found in DENO or on PATH\)\n/,
      );
    } finally {
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, RAW);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
    }
  }
});

binaryTest(
  "Deno.env in a request a framework catches itself (Hono's onError): its 500, its own report",
  async () => {
    // appserve never sees the error: Hono answers 500 and prints it with console.error, so the
    // one line naming --runtime deno comes only for errors that reach appserve (README).
    const dir = tempDir();
    try {
      linkHono(dir.path);
      writeFileSync(
        join(dir.path, "deno.json"),
        JSON.stringify({ imports: { hono: "npm:hono@4" } }),
      );
      writeFileSync(
        join(dir.path, "app.ts"),
        'import { Hono } from "hono";\nexport const app = new Hono();\n' +
          'app.get("/", (c) => c.text(Deno.env.get("HOME") ?? ""));\n',
      );
      const server = start(binary, [...BUN, "-b", "127.0.0.1:0", "app.ts:app"], {
        cwd: dir.path,
        env: NO_DENO,
      });
      const answer = await getWhenReady(await server.url());
      assert.equal(answer.status, 500);
      assert.equal(answer.body, "Internal Server Error");
      await server.waitFor(/ReferenceError: Deno is not defined/);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /\[ERROR\]|--runtime deno/);
    } finally {
      dir.remove();
    }
  },
);

const WORKSPACE = join(PROJECTS, "workspace", "api");

binaryTest(
  "a Deno workspace member's app, no Deno found (auto): the root's imports and members by name",
  async () => {
    // --runtime auto falls back to Bun workers: they resolve the workspace as Deno would.
    const server = start(binary, ["-w", "2", "-b", "127.0.0.1:0", "app.ts"], {
      cwd: WORKSPACE,
      env: NO_DENO,
    });
    try {
      const answer = await getWhenReady(await server.url());
      assert.match(answer.body, /^<p>hello api, via the root's imports, MEMBER, pid \d+<\/p>$/);
    } finally {
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Using runtime: bun /);
    }
  },
);

binaryTest(
  "a jsr: package the workspace root maps fails in one line naming its deno.json",
  async () => {
    const line = await cannotLoad(WORKSPACE, ["needs_jsr.ts"]);
    assert.equal(
      line,
      // The root's deno.json, outside the working directory: its full path.
      `Cannot import needs_jsr.ts: needs_jsr.ts imports "@std/assert" (mapped to "jsr:@std/assert@1" by ${
        join(PROJECTS, "workspace", "deno.json")
      }), which Bun cannot load; run it with --runtime deno (no deno found in DENO or on PATH)`,
    );
  },
);

/**
 * Writes `dir`/mod.ts, which imports npm:left-pad; returns the start and the end of the line its
 * missing package gets, the advice (where to run what) between them.
 */
function leftPadApp(dir: string): { head: string; tail: string } {
  writeFileSync(
    join(dir, "mod.ts"),
    'import pad from "npm:left-pad@1";\nexport default { fetch: () => new Response(pad("x", 3)) };\n',
  );
  return {
    head: 'Cannot import mod.ts: mod.ts imports "npm:left-pad@1", but node_modules/left-pad ' +
      `is not installed in ${dir}: `,
    tail: " there, or run it with --runtime deno (no deno found in DENO or on PATH)",
  };
}

binaryTest(
  "an npm: package missing from node_modules: one line naming the folder and the command",
  async () => {
    const dir = tempDir();
    try {
      const { head, tail } = leftPadApp(dir.path);
      // No project file: Bun's.
      assert.equal(
        await cannotLoad(dir.path, ["mod.ts"]),
        `${head}run \`bun add left-pad@1\`${tail}`,
      );
      // A package.json that lists it.
      const packageJson = join(dir.path, "package.json");
      writeFileSync(packageJson, '{ "dependencies": { "left-pad": "^1" } }');
      assert.equal(await cannotLoad(dir.path, ["mod.ts"]), `${head}run \`bun install\`${tail}`);
      // A Deno project: Deno fills node_modules with "nodeModulesDir": "auto".
      rmSync(packageJson);
      const denoJson = join(dir.path, "deno.json");
      writeFileSync(denoJson, "{}");
      assert.equal(
        await cannotLoad(dir.path, ["mod.ts"]),
        `${head}set "nodeModulesDir": "auto" in deno.json and run \`deno install --entrypoint mod.ts\`${tail}`,
      );
      writeFileSync(denoJson, '{ "nodeModulesDir": "auto" }');
      assert.equal(
        await cannotLoad(dir.path, ["mod.ts"]),
        `${head}run \`deno install --entrypoint mod.ts\`${tail}`,
      );
      // A workspace member's module: the root's folder, where `deno install` puts node_modules.
      writeFileSync(denoJson, '{ "workspace": ["./app"] }');
      mkdirSync(join(dir.path, "app"));
      writeFileSync(join(dir.path, "app", "deno.json"), "{}");
      renameSync(join(dir.path, "mod.ts"), join(dir.path, "app", "mod.ts"));
      assert.equal(
        await cannotLoad(dir.path, ["app/mod.ts"]),
        'Cannot import app/mod.ts: app/mod.ts imports "npm:left-pad@1", but node_modules/left-pad ' +
          `is not installed in ${dir.path}: set "nodeModulesDir": "auto" in deno.json and run ` +
          `\`deno install --entrypoint app/mod.ts\`${tail}`,
      );
    } finally {
      dir.remove();
    }
  },
);

/** Runs `command` in `cwd` (the npm registry reached for real); fails with its output. */
async function install(cwd: string, command: string, args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(command, { args, cwd, stdout: "null" }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

binaryTest(
  'nodeModulesDir "manual": the advice is `deno install` or `npm install` as is, and works',
  async () => {
    const dir = tempDir();
    try {
      const { head, tail } = leftPadApp(dir.path);
      const served = async () => {
        const server = start(binary, [...BUN, "-b", "127.0.0.1:0", "mod.ts"], {
          cwd: dir.path,
          env: NO_DENO,
        });
        try {
          assert.equal((await getWhenReady(await server.url())).body, "  x");
        } finally {
          const result = await server.stop();
          assert.equal(result.code, 0, result.stderr);
        }
      };
      const clean = () => {
        for (const f of ["node_modules", "deno.lock", "package-lock.json"]) {
          rmSync(join(dir.path, f), { recursive: true, force: true });
        }
      };
      // "manual" fills node_modules on `deno install` too: no need to switch to "auto".
      writeFileSync(join(dir.path, "deno.json"), '{ "nodeModulesDir": "manual" }');
      assert.equal(
        await cannotLoad(dir.path, ["mod.ts"]),
        `${head}run \`deno install --entrypoint mod.ts\`${tail}`,
      );
      await install(dir.path, DENO, ["install", "--entrypoint", "mod.ts"]);
      await served();
      // A package.json that lists it: npm's install fills node_modules as Deno's does.
      clean();
      const packageJson = join(dir.path, "package.json");
      writeFileSync(packageJson, '{ "dependencies": { "left-pad": "^1" } }');
      assert.equal(
        await cannotLoad(dir.path, ["mod.ts"]),
        `${head}run \`npm install\` (or \`deno install\`)${tail}`,
      );
      await install(dir.path, "npm", ["install", "--no-audit", "--no-fund"]);
      await served();
      // No "nodeModulesDir" but a package.json beside deno.json: Deno's default is "manual".
      clean();
      writeFileSync(join(dir.path, "deno.json"), "{}");
      writeFileSync(packageJson, "{}");
      assert.equal(
        await cannotLoad(dir.path, ["mod.ts"]),
        `${head}run \`deno install --entrypoint mod.ts\`${tail}`,
      );
    } finally {
      dir.remove();
    }
  },
);

binaryTest("a broken deno.json fails in one line naming the file", async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "deno.json"), '{ "imports": { "hono": "npm:hono@4" }\n');
    writeFileSync(join(dir.path, "mod.ts"), "export default { fetch: () => new Response('x') };\n");
    const line = await cannotLoad(dir.path, ["mod.ts"]);
    assert.match(
      line,
      // JavaScriptCore's JSON.parse said no position; json5 does under both engines.
      new RegExp(`^Cannot import mod\\.ts: ${join(dir.path, "deno.json")}:2:1: Cannot parse: .+$`),
    );
  } finally {
    dir.remove();
  }
});

binaryTest("--check-config loads an app with npm: specifiers", async () => {
  const result = await run(binary, [...BUN, "--check-config", "mod:app"], {
    cwd: join(PROJECTS, "npm_specifiers"),
    env: NO_DENO,
  });
  assert.equal(result.code, 0, result.stderr);
});

binaryTest(
  "applies deno.json's compilerOptions.jsxImportSource, through its import map, to .tsx files",
  async () => {
    const dir = tempDir();
    try {
      linkHono(dir.path);
      writeFileSync(
        join(dir.path, "deno.json"),
        JSON.stringify({
          compilerOptions: { jsx: "precompile", jsxImportSource: "hono/jsx" },
          imports: { hono: "npm:hono@4" },
        }),
      );
      writeFileSync(
        join(dir.path, "app.tsx"),
        'import { Hono } from "hono";\nconst app = new Hono();\n' +
          'app.get("/", (c) => c.html(<p>deno jsx, pid {process.pid}</p>));\nexport default app;\n',
      );
      const server = start(binary, [...BUN, "-b", "127.0.0.1:0", "app.tsx"], {
        cwd: dir.path,
        env: NO_DENO,
      });
      const answer = await getWhenReady(await server.url());
      assert.match(answer.body, /^<p>deno jsx, pid \d+<\/p>$/);
      const result = await server.stop();
      assert.equal(result.code, 0, result.stderr);
    } finally {
      dir.remove();
    }
  },
);
