// Logger in-process: gunicorn's exact error-log line per level, the threshold,
// access lines, and reopening files logrotate moved.

import assert from "node:assert/strict";
import { readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Logger } from "../mod.ts";
import { tempDir } from "./_helpers.ts";
import { accessEntry } from "./_access_entry.ts";

const TIME = String.raw`\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\]`;

Deno.test("Logger writes gunicorn's error line for every level above the threshold", async () => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const log = new Logger({ level: "info", file });
    log.debug("not shown");
    log.info("an info");
    log.warning("a warning");
    log.error("an error");
    log.critical("a critical");
    log.exception("Error handling request GET /x", new Error("boom"));
    await log.close();
    const lines = readFileSync(file, "utf8");
    const pid = process.pid;
    assert.match(
      lines,
      new RegExp(
        `^${TIME} \\[${pid}\\] \\[INFO\\] an info\n` +
          `${TIME} \\[${pid}\\] \\[WARNING\\] a warning\n` +
          `${TIME} \\[${pid}\\] \\[ERROR\\] an error\n` +
          `${TIME} \\[${pid}\\] \\[CRITICAL\\] a critical\n` +
          `${TIME} \\[${pid}\\] \\[ERROR\\] Error handling request GET /x\nError: boom\n\\s+at `,
      ),
    );
    assert.ok(!lines.includes("not shown"));
  } finally {
    dir.remove();
  }
});

Deno.test("Logger writes an error line to its file before the call returns", async () => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const log = new Logger({ file });
    log.warning("on disk at once");
    assert.match(readFileSync(file, "utf8"), /\[WARNING\] on disk at once\n$/);
    await log.close();
    log.error("after close");
    assert.ok(!readFileSync(file, "utf8").includes("after close"), "nothing after close()");
  } finally {
    dir.remove();
  }
});

Deno.test("Logger.access writes the configured format; reopen() moves on to a fresh file", async () => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const log = new Logger({ accessLog: file });
    log.access(accessEntry("/one?a=1", 200));
    await log.reopen(); // flushes /one into the file first
    renameSync(file, `${file}.1`);
    await log.reopen();
    log.access(accessEntry("/two", 404));
    await log.close();
    assert.match(
      readFileSync(`${file}.1`, "utf8"),
      /^10\.0\.0\.7 - - \[.+\] "GET \/one\?a=1 HTTP\/1\.1" 200 12 "-" "t\/1"\n$/,
    );
    assert.match(
      readFileSync(file, "utf8"),
      /^10\.0\.0\.7 - - \[.+\] "GET \/two HTTP\/1\.1" 404 12 "-" "t\/1"\n$/,
    );
  } finally {
    dir.remove();
  }
});

Deno.test('Logger({ format: "json" }) writes each error line as one JSON object', async () => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const log = new Logger({ level: "info", file, format: "json" });
    log.debug("not shown");
    log.warning('a "quoted" warning');
    log.exception("Error handling request GET /x", new Error("boom"));
    await log.close();
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.deepEqual({ ...lines[0], time: undefined }, {
      time: undefined,
      log: "error",
      level: "warning",
      pid: process.pid,
      message: 'a "quoted" warning',
    });
    assert.match(lines[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(lines[1].level, "error");
    assert.match(lines[1].message, /^Error handling request GET \/x\nError: boom\n\s+at /);
  } finally {
    dir.remove();
  }
});

Deno.test("Logger.exception says what was thrown when it has no stack (Bun's AbortError)", async () => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const log = new Logger({ level: "info", file });
    // Bun's body read whose client left fails with this, its stack "".
    const aborted = new DOMException("The connection was closed.", "AbortError");
    Object.defineProperty(aborted, "stack", { value: "" });
    log.exception("Error handling request POST /upload", aborted);
    const bare = new Error("");
    Object.defineProperty(bare, "stack", { value: "" });
    log.exception("Error handling request GET /bare", bare);
    log.exception("Error handling request GET /undefined", undefined);
    log.exception("Error handling request GET /empty", "");
    await log.close();
    const lines = readFileSync(file, "utf8");
    assert.match(lines, /POST \/upload\nAbortError: The connection was closed\.\n/);
    assert.match(lines, /GET \/bare\nError \(no message or stack\)\n/);
    assert.match(lines, /GET \/undefined\nundefined \(a value with no message or stack\)\n/);
    assert.match(lines, /GET \/empty\n\(an empty string was thrown\)\n/);
  } finally {
    dir.remove();
  }
});

Deno.test("Logger.exception follows the stack with its causes, as deno run prints them", async () => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const log = new Logger({ level: "info", file });
    const value = new Error("bad value", { cause: { code: 42 } });
    const syntax = new SyntaxError("Expected property name", { cause: value });
    log.exception("Error handling request GET /nested", new Error("outer", { cause: syntax }));
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    a.cause = b;
    log.exception("Error handling request GET /cycle", b);
    await log.close();
    const lines = readFileSync(file, "utf8");
    assert.match(
      lines,
      /GET \/nested\nError: outer\n(?: +at .*\n)+Caused by: SyntaxError: Expected property name\n(?: +at .*\n)+Caused by: Error: bad value\n(?: +at .*\n)+Caused by: \{ code: 42 \}\n/,
    );
    assert.match(
      lines,
      /GET \/cycle\nError: b\n(?: +at .*\n)+Caused by: Error: a\n(?: +at .*\n)+Caused by: \[Circular\]\n/,
    );
  } finally {
    dir.remove();
  }
});

Deno.test("Logger's level methods take Python logging's %s, %d, %r and %% arguments", async () => {
  const dir = tempDir();
  const file = join(dir.path, "error.log");
  try {
    const log = new Logger({ level: "debug", file });
    log.info("Worker spawned (pid: %s)", 4242);
    log.warning("%d of %d workers, %d%% (%s)", 3, 4.9, 75, { up: true });
    log.error("bad value %r from %r", "a'b", null);
    log.debug("%s then %s", "only one");
    log.critical("no placeholder", "extra", 7);
    log.log("info", "via log(): %s", "yes");
    // Without arguments the message is as written, as in Python: a literal %s stays.
    log.info("100% literal %s and %d");
    await log.close();
    const lines = readFileSync(file, "utf8");
    assert.match(lines, /\[INFO\] Worker spawned \(pid: 4242\)\n/);
    assert.match(lines, /\[WARNING\] 3 of 4 workers, 75% \(\{ up: true \}\)\n/);
    assert.match(
      lines,
      /\[ERROR\] bad value "a'b" from null\n|\[ERROR\] bad value 'a\\'b' from null\n/,
    );
    assert.match(lines, /\[DEBUG\] only one then %s\n/);
    assert.match(lines, /\[CRITICAL\] no placeholder extra 7\n/);
    assert.match(lines, /\[INFO\] via log\(\): yes\n/);
    assert.match(lines, /\[INFO\] 100% literal %s and %d\n/);
  } finally {
    dir.remove();
  }
});
