// The stack an app prints itself (console.error(err), err.stack in its answer) has the app's
// frames and none of appserve's under them, in every worker class, as `deno run` prints it.
// Deno workers only: Bun's console prints frames it keeps itself (src/app/own_frames.ts).

import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, freePort, get, ownFrames, start, TARGETS } from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "self_logging_app.ts");
// The same app with an Error.prepareStackTrace of its own.
const HOOKED = join(FIXTURES, "apps", "self_logging_hook_app.ts");

const SETUPS: [string, string[]][] = [
  ["the shared socket", []],
  ["--reuse-port", ["--reuse-port"]],
  ["-k sync", ["-k", "sync"]],
  ["-k gthread", ["-k", "gthread", "--threads", "2"]],
];

// The app's three functions and its handler, innermost first: `at NAME (file:///...APP:L:C)`,
// or the path where the app's hook writes the stack.
function assertAppFrames(stack: string, where: string, hooked = false): void {
  const [message, ...frames] = stack.split("\n");
  const said = "Error: failed three calls deep";
  assert.equal(message, hooked ? `${said} (the app's hook)` : said, where);
  const file = hooked ? APP : new URL(`file://${APP}`).href;
  const names = frames.map((f) => {
    const m = /^ {4}at (\S+) \((.*):\d+:\d+\)$/.exec(f);
    assert.ok(m && m[2] === file, `${f}\nin ${where}`);
    return m[1];
  });
  assert.deepEqual(names.slice(0, 4), ["level3", "level2", "level1", "Object.fetch"], where);
  assert.deepEqual(ownFrames(stack), [], where);
}

for (const target of TARGETS.filter((t) => t.name !== "binary")) {
  for (const [name, args] of SETUPS) {
    Deno.test({
      name: `[${target.name}] the stack an app prints has no frame of appserve's, on ${name}`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const port = args.includes("--reuse-port") ? await freePort() : 0;
        const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, APP]);
        const url = await server.ready();
        const answer = await get(url);
        assert.equal(answer.status, 500, answer.body);
        assertAppFrames(answer.body.trimEnd(), answer.body);
        // console.error(err): up to the next line that is no frame.
        await server.waitFor(/Error: failed three calls deep\n(?: {4}at .*\n)+/);
        const printed = /Error: failed three calls deep\n(?: {4}at .*\n)+/.exec(server.stderr)![0];
        assertAppFrames(printed.trimEnd(), server.stderr);
        await server.stop();
      },
    });
  }

  Deno.test({
    name: `[${target.name}] an app's own Error.prepareStackTrace gets no frame of appserve's`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", HOOKED]);
      const answer = await get(await server.ready());
      assert.equal(answer.status, 500, answer.body);
      assertAppFrames(answer.body.trimEnd(), answer.body, true);
      await server.stop();
    },
  });
}
