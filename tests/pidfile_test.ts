// The pidfile is written by a master that may still be root, often in a folder its app user can
// write: no file planted there may be written through.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Pidfile } from "../src/master/pidfile.ts";
import { tempDir } from "./_helpers.ts";

Deno.test("a symlink planted at the old temporary name is not written through", () => {
  const dir = tempDir();
  try {
    const victim = join(dir.path, "victim");
    writeFileSync(victim, "IMPORTANT\n");
    const path = join(dir.path, "app.pid");
    symlinkSync(victim, `${path}.${process.pid}.tmp`);
    new Pidfile(path).create(process.pid);
    assert.equal(readFileSync(victim, "utf8"), "IMPORTANT\n");
    assert.equal(readFileSync(path, "utf8"), `${process.pid}\n`);
  } finally {
    dir.remove();
  }
});

Deno.test("a symlink at the pidfile's path is replaced, not followed; no temporary file is left", () => {
  const dir = tempDir();
  try {
    const victim = join(dir.path, "victim");
    writeFileSync(victim, "IMPORTANT\n");
    const path = join(dir.path, "app.pid");
    symlinkSync(victim, path);
    new Pidfile(path).create(process.pid);
    assert.equal(readFileSync(victim, "utf8"), "IMPORTANT\n");
    assert.equal(readFileSync(path, "utf8"), `${process.pid}\n`);
    assert.deepEqual(readdirSync(dir.path).sort(), ["app.pid", "victim"]);
    new Pidfile(path).unlink(process.pid);
    assert.ok(!existsSync(path));
  } finally {
    dir.remove();
  }
});

Deno.test("unlink with a successor (a USR2 child running on) makes the file name it instead", () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, "app.pid");
    const pidfile = new Pidfile(path);
    pidfile.create(process.pid);
    // Not this process's file any more: left as it is.
    writeFileSync(path, "1\n");
    pidfile.unlink(process.pid, 4242);
    assert.equal(readFileSync(path, "utf8"), "1\n");
    writeFileSync(path, `${process.pid}\n`);
    pidfile.unlink(process.pid, 4242);
    assert.equal(readFileSync(path, "utf8"), "4242\n");
    assert.deepEqual(readdirSync(dir.path), ["app.pid"]);
  } finally {
    dir.remove();
  }
});
