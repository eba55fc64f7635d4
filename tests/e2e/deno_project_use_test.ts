// appserve used from a Deno project of the user's own, with its own deno.json (an import map with
// npm:hono and "appserve", none of appserve's dependencies): the README's `deno install`, a deno
// task running it, the CLI run under the project's config, and a project script starting it with
// main() from "appserve" with a logger class importing Logger from "appserve". Under the user's
// config appserve's own imports must resolve without its import map (explicit `npm:` specifiers);
// what fails says so in one line: a bad flag given to main(), or mod.ts run as a program. Its
// type references too, for `deno check` of the project.

import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnPiped, spawnProc } from "../_procs.ts";
import { assertOneLineError, DENO, get, ROOT, Server, tempDir } from "../_helpers.ts";

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

const DENO_BIN = join(ROOT, "node_modules", ".bin");

/** A user's project in `dir`: a Hono app, a logger class, a start script and a task. */
function userProject(dir: string): void {
  writeFileSync(
    join(dir, "deno.json"),
    JSON.stringify({
      // The hono the deno_project fixture uses: in Deno's cache (`make fixtures`), as are
      // appserve's own npm: packages.
      imports: { "hono": "npm:hono@4.13.19", "appserve": join(ROOT, "mod.ts") },
      tasks: { start: "appserve -w 2 -b 127.0.0.1:0 --logger-class logger.ts:Tagged main.ts" },
    }),
  );
  writeFileSync(
    join(dir, "main.ts"),
    'import { Hono } from "hono";\nexport default new Hono().get("/", (c) => c.text("hono here"));\n',
  );
  writeFileSync(
    join(dir, "logger.ts"),
    'import { Logger } from "appserve";\n' +
      "export class Tagged extends Logger {\n" +
      '  override formatError(...a: Parameters<Logger["formatError"]>): string {\n' +
      '    return "TAGGED " + super.formatError(...a);\n' +
      "  }\n}\n",
  );
  writeFileSync(
    join(dir, "start.ts"),
    'import { main } from "appserve";\nDeno.exit(await main(Deno.args));\n',
  );
}

/**
 * Serves the app from both workers (`deno task` is their master's parent), logging through the
 * project's logger class, then stops cleanly.
 */
async function servesHono(server: Server): Promise<void> {
  try {
    const url = await server.ready();
    await server.waitFor(
      /^TAGGED .*Booting worker with pid: \d+\n(?:.*\n)*TAGGED .*Booting worker /m,
    );
    assert.equal((await get(url)).body, "hono here");
    assert.match(server.stderr, /^TAGGED \[.+\] \[INFO\] Starting appserve /m);
  } finally {
    const result = await server.stop();
    assert.equal(result.code, 0, server.output);
  }
}

test('a project script starts appserve with main() from its import map\'s "appserve", with a logger class', async () => {
  const dir = tempDir();
  try {
    userProject(dir.path);
    const server = new Server(spawnPiped(DENO, [
      "run",
      "-A",
      "start.ts",
      ...["-w", "2", "-b", "127.0.0.1:0", "--logger-class", "logger.ts:Tagged", "main.ts"],
    ], { cwd: dir.path }));
    await servesHono(server);
  } finally {
    dir.remove();
  }
});

test("main() given a bad flag says it in one line and resolves to the executable's exit code", async () => {
  const dir = tempDir();
  try {
    userProject(dir.path);
    const args = ["run", "-A", "start.ts", "-w", "abc", "main.ts"];
    const result = await spawnProc(DENO, args, { cwd: dir.path }).exited;
    assertOneLineError(result, 2, /^Error: --workers: Cannot read "workers": expected an integer /);
  } finally {
    dir.remove();
  }
});

test("`deno run mod.ts` is not the command line: one line naming src/cli/main.ts, exit 2", async () => {
  const dir = tempDir();
  try {
    userProject(dir.path);
    const args = ["run", "-A", join(ROOT, "mod.ts"), "-w", "2", "main.ts"];
    const result = await spawnProc(DENO, args, { cwd: dir.path }).exited;
    const cli = join(ROOT, "src", "cli", "main.ts").replaceAll(".", "\\.");
    assertOneLineError(
      result,
      2,
      new RegExp(`^Error: .*mod\\.ts is appserve's module, .*run ${cli} `),
    );
  } finally {
    dir.remove();
  }
});

test("the CLI run under the project's deno.json (--config) loads", async () => {
  const dir = tempDir();
  try {
    userProject(dir.path);
    const cli = join(ROOT, "src", "cli", "main.ts");
    const args = ["run", "-A", "--config", "deno.json", cli, "--check-config", "main.ts"];
    const result = await spawnProc(DENO, args, { cwd: dir.path }).exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout + result.stderr, /configuration OK/);
  } finally {
    dir.remove();
  }
});

test('`deno check` of the project\'s modules that import "appserve" passes under its deno.json', async () => {
  const dir = tempDir();
  try {
    userProject(dir.path);
    const args = ["check", "--quiet", "start.ts", "logger.ts", "main.ts"];
    const result = await spawnProc(DENO, args, { cwd: dir.path }).exited;
    assert.equal(result.code, 0, result.stderr);
  } finally {
    dir.remove();
  }
});

test("the README's `deno install`, then `appserve` as the project's deno task", async () => {
  const dir = tempDir();
  try {
    userProject(dir.path);
    const root = join(dir.path, "tools");
    const install = await spawnProc(DENO, [
      ...["install", "-q", "-g", "-A", "--unstable-net", "-n", "appserve", "--root", root],
      ...["--config", join(ROOT, "deno.json"), join(ROOT, "src", "cli", "main.ts")],
    ], { cwd: dir.path }).exited;
    assert.equal(install.code, 0, install.stderr);
    assert.ok(existsSync(join(root, "bin", "appserve")), install.stdout + install.stderr);
    const env = { PATH: `${join(root, "bin")}:${DENO_BIN}:${Deno.env.get("PATH")}` };
    const server = new Server(spawnPiped(DENO, ["task", "-q", "start"], { cwd: dir.path, env }));
    await servesHono(server);
  } finally {
    dir.remove();
  }
});
