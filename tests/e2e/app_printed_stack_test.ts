// The stack an app prints itself (console.error(err), err.stack in its answer) has the app's
// frames and none of appserve's under them, in every worker class, as `deno run` and `bun`
// print it (src/app/own_frames.ts): the app's file:line:col as the runtime gives them.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, get, ownFrames, startOneWorker, type Target, TARGETS } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "self_logging_app.ts");
// The same app with an Error.prepareStackTrace of its own.
const HOOKED = join(FIXTURES, "apps", "self_logging_hook_app.ts");
// Its error thrown after an await.
const ASYNC = join(FIXTURES, "apps", "self_logging_async_app.ts");
// Its error printed nested in an object, and inspected.
const NESTED = join(FIXTURES, "apps", "self_logging_nested_app.ts");

const SETUPS: [string, string[]][] = [
  ["the shared socket", []],
  ["--reuse-port", ["--reuse-port"]],
  ["-k sync", ["-k", "sync"]],
  ["-k gthread", ["-k", "gthread", "--threads", "2"]],
];

// The file of `app` as a frame names it: its path (Bun, the app's own hook), else its file: URL.
const fileOf = (app: string, path: boolean) => path ? app : new URL(`file://${app}`).href;

// The app's three functions and its handler, innermost first: `at NAME (file:///...APP:L:C)`
// under Deno, `at NAME (/...APP:L:C)` under Bun, where the TypeScript has them; or the path
// where the app's hook writes the stack.
function assertAppFrames(stack: string, where: string, bun: boolean, hooked = false): void {
  const [first, ...frames] = stack.split("\n");
  // Bun's console writes the name in lower case.
  const message = bun ? first.replace(/^error: /, "Error: ") : first;
  const said = "Error: failed three calls deep";
  assert.equal(message, hooked ? `${said} (the app's hook)` : said, where);
  const file = fileOf(APP, hooked || bun);
  const sites = frames.map((f) => {
    const m = /^ +at (\S+) \((.*):(\d+:\d+)\)$/.exec(f);
    assert.ok(m && m[2] === file, `${f}\nin ${where}`);
    return `${m[1]} ${m[3]}`;
  });
  if (bun) {
    assert.deepEqual(sites, ["level3 5:13", "level2 9:13", "level1 14:13", "fetch 21:34"], where);
  } else {
    const names = sites.map((site) => site.split(" ")[0]);
    assert.deepEqual(names.slice(0, 4), ["level3", "level2", "level1", "Object.fetch"], where);
  }
  assert.deepEqual(ownFrames(stack), [], where);
}

// One worker of `app` with `args`, and its first answer: the 500 of the error the app prints.
async function failing(target: Target, app: string, args: string[] = []) {
  const server = await startOneWorker(target, app, args);
  const answer = await get(await server.ready());
  assert.equal(answer.status, 500, answer.body);
  return { server, answer };
}

// What the app printed with console.error: the message and the frames under it.
function printed(stderr: string, message: string): string {
  const at = stderr.search(new RegExp(`(?:Error|error): ${message}\n`));
  assert.ok(at >= 0, stderr);
  return /^.*\n(?: +at .*\n)+/.exec(stderr.slice(at))![0].trimEnd();
}

for (const target of TARGETS) {
  const bun = target.workers === "bun";
  for (const [name, args] of SETUPS) {
    Deno.test({
      name: `[${target.name}] the stack an app prints has no frame of appserve's, on ${name}`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const { server, answer } = await failing(target, APP, args);
        assertAppFrames(answer.body.trimEnd(), answer.body, bun);
        // console.error(err): up to the next line that is no frame.
        await server.waitFor(/rror: failed three calls deep\n(?: +at .*\n)+/);
        assertAppFrames(printed(server.stderr, "failed three calls deep"), server.stderr, bun);
        await server.stop();
      },
    });
  }

  Deno.test({
    name: `[${target.name}] an app's own Error.prepareStackTrace gets no frame of appserve's`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const { server, answer } = await failing(target, HOOKED);
      assertAppFrames(answer.body.trimEnd(), answer.body, bun, true);
      await server.stop();
    },
  });

  Deno.test({
    name: `[${target.name}] the stack an app prints after an await keeps its async frames`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const { server, answer } = await failing(target, ASYNC);
      await server.waitFor(/rror: failed after an await\n(?: +at .*\n)+/);
      const file = fileOf(ASYNC, bun);
      // The runtimes' own columns: Deno points at `new` and `await`, Bun at what they take.
      const expected = bun
        ? ["level3 (FILE:6:13)", "async level2 (FILE:10:19)", "async fetch (FILE:17:40)"]
        : ["level3 (FILE:6:9)", "async level2 (FILE:10:13)", "async Object.fetch (FILE:17:34)"];
      for (const stack of [answer.body, printed(server.stderr, "failed after an await")]) {
        const frames = stack.split("\n").filter((line) => / at /.test(line));
        assert.deepEqual(
          frames.slice(0, 3).map((f) => f.trim()),
          expected.map((frame) => `at ${frame.replace("FILE", file)}`),
          stack,
        );
        assert.deepEqual(ownFrames(stack), [], stack);
      }
      await server.stop();
    },
  });

  Deno.test({
    name:
      `[${target.name}] an error printed nested in an object or inspected has no frame of appserve's`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const { server } = await failing(target, NESTED);
      await server.waitFor(/end of inspected/);
      const file = fileOf(NESTED, bun);
      // `{ err: ... }` first, then `inspected: ...`: each with the app's two frames, and no more
      // (the first request's: ready() asked too).
      const [nested, inspected] = /err: ([^]*?)inspected: ([^]*?)end of inspected/.exec(
        server.stderr,
      )!.slice(1);
      for (const text of [nested, inspected]) {
        const frames = text.split("\n").filter((line) => /^\s+at /.test(line));
        assert.deepEqual(
          frames.map((f) => f.trim().replace(/:\d+\)$/, ")")),
          [`at level3 (${file}:5)`, `at ${bun ? "" : "Object."}fetch (${file}:17)`],
          text,
        );
        assert.deepEqual(ownFrames(text), [], text);
      }
      await server.stop();
    },
  });
}
