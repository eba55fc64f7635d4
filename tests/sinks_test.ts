// openSink() on a small tmpfs of its own (mounted here: needs root) that fills up: what the
// recovery line says was lost.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { openSink } from "../src/log/sinks.ts";
import { tempDir } from "./_helpers.ts";

const PAGE = 4096;

Deno.test("a write that fails whole is lost, though the file ends with the same line", () => {
  const dir = tempDir();
  const disk = join(dir.path, "disk");
  mkdirSync(disk);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${4 * PAGE}`, "tmpfs", disk]);
  try {
    const file = join(disk, "access.log");
    const said: string[] = [];
    const sink = openSink(file, {
      what: "access log",
      stream: "stdout",
      failed: (m) => said.push(m),
      recovered: (m) => said.push(m),
    });
    // Two requests alike in the same second have the same access line.
    const line = new TextEncoder().encode(
      '127.0.0.1 - - [06/Dec/2026:19:30:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl"\n',
    );
    sink.write(line);
    // The file's page full, ending with that line; the other pages taken by a filler.
    const pad = PAGE - 2 * line.length;
    appendFileSync(file, "p".repeat(pad - 1) + "\n");
    appendFileSync(file, line);
    assert.equal(statSync(file).size, PAGE);
    try {
      appendFileSync(join(disk, "filler"), new Uint8Array(4 * PAGE));
    } catch { /* ENOSPC: full */ }
    sink.write(line);
    assert.equal(statSync(file).size, PAGE, "nothing of it landed");
    rmSync(join(disk, "filler"));
    sink.write(new TextEncoder().encode("after\n"));
    sink.close();
    assert.match(said[0], /^Cannot write access log ".*": .*(ENOSPC|No space)/);
    assert.match(said[1], /^Can write access log ".*" again; 1 line lost while it failed$/);
    assert.ok(readFileSync(file, "utf8").endsWith(`${new TextDecoder().decode(line)}after\n`));
  } finally {
    execFileSync("umount", [disk]);
    dir.remove();
  }
});
