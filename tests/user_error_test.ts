// describeUserError() over the shapes each runtime gives a failed import, so both are covered
// whichever runtime runs the test.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describeUserError, userErrorText, withoutOwnFrames } from "../src/app/user_error.ts";
import { ROOT, tempDir } from "./_helpers.ts";
import { writeFileSync } from "node:fs";

Deno.test("describeUserError() reads Deno's syntax error: location first, then the line", () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, "app.ts");
    writeFileSync(file, "export default {};\nconst broken = ;\n");
    // Deno wraps it in a TypeError whose message holds a code frame and the location.
    const error = new TypeError(
      "SyntaxError: Expression expected\n  |\n2 | const broken = ;\n  |                ~\n" +
        `    at file://${file}:2:16`,
    );
    const report = describeUserError(error);
    assert.equal(report.headline, `${file}:2:16: SyntaxError: Expression expected`);
    assert.equal(report.detail, "    2 | const broken = ;\n      |                ^");
  } finally {
    dir.remove();
  }
});

Deno.test("describeUserError() reads Bun's BuildMessage (a position, no stack)", () => {
  class BuildMessage {
    message = "Unexpected ;";
    position = { file: "/srv/app.ts", line: 2, column: 16, lineText: "const broken = ;" };
  }
  const report = describeUserError(new BuildMessage());
  assert.equal(report.headline, "/srv/app.ts:2:16: SyntaxError: Unexpected ;");
  assert.equal(report.detail, "    2 | const broken = ;\n      |                ^");
});

Deno.test("describeUserError() keeps the user's frames and drops appserve's own", () => {
  const error = new Error("dependency exploded");
  error.stack = [
    "Error: dependency exploded",
    "    at file:///srv/dep.ts:3:7",
    "    at async file:///srv/app.ts:1:1",
    `    at async loadApp (file://${ROOT}/src/app/load_app.ts:119:11)`,
    "    at processTicksAndRejections (native:7:39)",
    "    at /$bunfs/root/appserve:12:3",
  ].join("\n");
  const report = describeUserError(error);
  assert.equal(report.headline, "/srv/dep.ts:3:7: Error: dependency exploded");
  assert.equal(report.detail, "    at /srv/dep.ts:3:7\n    at /srv/app.ts:1:1");
  assert.equal(userErrorText(report), `${report.headline}\n${report.detail}`);
});

Deno.test("withoutOwnFrames() leaves out appserve's frames and the runtime's among them", () => {
  const stack = [
    "Error: helper failed",
    "  on two lines",
    "    at failDeep (file:///srv/helper.ts:2:9)",
    "    at Array.map (<anonymous>)",
    "    at handler (/srv/node_modules/hono/dist/hono-base.js:9:3)",
    `    at c (file://${ROOT}/src/worker/app_error.ts:45:3701)`,
    "    at emit (node:events:100:22)",
    "    at /$bunfs/root/appserve:12:3",
  ].join("\n");
  assert.equal(
    withoutOwnFrames(stack),
    [
      "Error: helper failed",
      "  on two lines",
      "    at failDeep (file:///srv/helper.ts:2:9)",
      "    at Array.map (<anonymous>)",
      "    at handler (/srv/node_modules/hono/dist/hono-base.js:9:3)",
    ].join("\n"),
  );
});

Deno.test("withoutOwnFrames() keeps a stack with no frame of the user's as it is", () => {
  const stack = [
    "TypeError: app handler returned number instead of a Response",
    `    at run (file://${ROOT}/src/worker/sync.ts:88:2302)`,
    "    at emit (node:events:100:22)",
    "    at /$bunfs/root/appserve:12:3",
  ].join("\n");
  assert.equal(withoutOwnFrames(stack), stack);
});

Deno.test("describeUserError() says what was thrown when it is not an Error", () => {
  assert.equal(describeUserError("a string").headline, "Uncaught a string");
});

Deno.test("describeUserError() keeps locations in folders with spaces and parentheses", () => {
  const error = new Error("dependency exploded");
  // Deno writes file URLs with the folder as it is; Bun plain paths; a frame may have a name.
  error.stack = [
    "Error: dependency exploded",
    "    at file:///srv/my app (copy)/dep.ts:3:7",
    "    at build (/srv/my app (copy)/dep.ts:9:2)",
    "    at async file:///srv/my app (copy)/app.ts:1:1",
    `    at async loadApp (file://${ROOT}/src/app/load_app.ts:119:11)`,
  ].join("\n");
  const report = describeUserError(error);
  assert.equal(report.headline, "/srv/my app (copy)/dep.ts:3:7: Error: dependency exploded");
  assert.equal(
    report.detail,
    [
      "    at /srv/my app (copy)/dep.ts:3:7",
      "    at build (/srv/my app (copy)/dep.ts:9:2)",
      "    at /srv/my app (copy)/app.ts:1:1",
    ].join("\n"),
  );
});

Deno.test("describeUserError() reads Deno's syntax error in a folder with parentheses", () => {
  const error = new TypeError(
    "SyntaxError: Expression expected\n  |\n2 | const broken = ;\n  |                ~\n" +
      "    at file:///srv/my%20app%20(copy)/app.ts:2:16",
  );
  assert.equal(
    describeUserError(error).headline,
    "/srv/my app (copy)/app.ts:2:16: SyntaxError: Expression expected",
  );
});

Deno.test("describeUserError() keeps every line of a message, before the frames", () => {
  const error = new Error("first line\nsecond line");
  error.stack = "Error: first line\nsecond line\n    at file:///srv/app.ts:1:7";
  const report = describeUserError(error);
  assert.equal(report.headline, "/srv/app.ts:1:7: Error: first line");
  assert.equal(report.detail, "second line\n    at /srv/app.ts:1:7");
});

Deno.test("describeUserError() reads Deno's unresolved import: its location, no internals", () => {
  // As a Deno worker reports `npm:hono@99.0.0`: the location in the message, Deno's own after it.
  const message = "Could not find npm package 'hono' matching '99.0.0'.\n" +
    "    at file:///tmp/x/badver.ts:1:22 at ext:core/01_core.js:405:7\n" +
    "    at ext:core/01_core.js:405:7";
  const error = new TypeError(message);
  error.stack = `TypeError: ${message}\n    at ext:core/01_core.js:405:7`;
  const report = describeUserError(error);
  assert.equal(
    report.headline,
    "/tmp/x/badver.ts:1:22: TypeError: Could not find npm package 'hono' matching '99.0.0'.",
  );
  assert.equal(report.detail, "");
});

Deno.test("describeUserError() puts Deno's numbered causes of an import on the one line", () => {
  // As Deno 2.9 words an npm: import it cannot cache (DENO_DIR not writable), colours and all.
  const message = "Failed caching npm package 'is-number@6.0.0'\n" +
    "    0: failed to create directory '/tmp/dd/npm/registry.npmjs.org/is-number/6.0.713ab2cf.tmp'" +
    ": Permission denied (os error 13)\n" +
    "    at \x1b[0m\x1b[36mfile:///tmp/p1/app.ts\x1b[0m:\x1b[0m\x1b[33m1\x1b[0m:\x1b[0m\x1b[33m19\x1b[0m";
  const error = new TypeError(message);
  error.stack = `TypeError: ${message}\n    at async file://${ROOT}/src/app/load_app.ts:119:11`;
  const report = describeUserError(error);
  assert.equal(
    report.headline,
    "/tmp/p1/app.ts:1:19: TypeError: Failed caching npm package 'is-number@6.0.0': " +
      "failed to create directory '/tmp/dd/npm/registry.npmjs.org/is-number/6.0.713ab2cf.tmp'" +
      ": Permission denied (os error 13)",
  );
  assert.equal(report.detail, "");
});

Deno.test("describeUserError() follows the user's frames with the causes, their frames only", () => {
  const cause = new SyntaxError("Expected property name or '}' in JSON at position 1");
  cause.stack = [
    cause.toString(),
    "    at JSON.parse (<anonymous>)",
    "    at file:///srv/settings.ts:2:8",
    `    at loadApp (file://${ROOT}/src/app/load_app.ts:119:11)`,
  ].join("\n");
  const error = new Error("could not read settings", { cause });
  error.stack = "Error: could not read settings\n    at file:///srv/settings.ts:4:9";
  (cause as Error).cause = "the file was empty";
  const report = describeUserError(error);
  assert.equal(report.headline, "/srv/settings.ts:4:9: Error: could not read settings");
  assert.equal(
    report.detail,
    [
      "    at /srv/settings.ts:4:9",
      "Caused by: SyntaxError: Expected property name or '}' in JSON at position 1",
      "    at /srv/settings.ts:2:8",
      "Caused by: 'the file was empty'",
    ].join("\n"),
  );
});
