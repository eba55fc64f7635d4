// The access lines a worker keeps in its scoreboard slot (src/ipc/pending_access.ts) while they
// wait for their batch: what the master reads of them, and that Logger writes them out as before.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Logger } from "../mod.ts";
import {
  PENDING_ACCESS_BYTES,
  PENDING_ACCESS_LINES,
  PendingAccess,
} from "../src/ipc/pending_access.ts";
import { tempDir } from "./_helpers.ts";
import { accessEntry } from "./_access_entry.ts";

const area = () => new PendingAccess(new Uint8Array(new SharedArrayBuffer(PENDING_ACCESS_BYTES)));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("Logger.shareAccessLines: lines wait formatted in the area until their batch is written", async () => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const shared = area();
    const log = new Logger({ accessLog: file });
    log.shareAccessLines(shared);
    log.access(accessEntry("/one"));
    log.access(accessEntry("/two", 404));
    // What a master reads after the worker died here: both lines, whole, none written yet.
    const waiting = text(shared.read());
    assert.match(waiting, /^10\.0\.0\.7 - - \[.+\] "GET \/one HTTP\/1\.1" 200 12 "-" "t\/1"\n/);
    assert.match(waiting, /"GET \/two HTTP\/1\.1" 404 12 "-" "t\/1"\n$/);
    assert.equal(readFileSync(file, "utf8"), "");
    await log.close();
    // Written by the worker: nothing left for the master.
    assert.equal(readFileSync(file, "utf8"), waiting);
    assert.equal(shared.read().length, 0);
  } finally {
    dir.remove();
  }
});

Deno.test("Logger.writeFormattedAccess writes a dead worker's waiting lines after its own", async () => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const worker = new Logger({ accessLog: join(dir.path, "unused.log"), format: "json" });
    const shared = area();
    worker.shareAccessLines(shared);
    worker.access(accessEntry("/left"));
    const master = new Logger({ accessLog: file, format: "json" });
    master.access(accessEntry("/own"));
    master.writeFormattedAccess(shared.read(), 4242);
    await master.close();
    await worker.close();
    const lines = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.r), ["GET /own HTTP/1.1", "GET /left HTTP/1.1"]);
  } finally {
    dir.remove();
  }
});

Deno.test("A line longer than the shared area is written at once, and the area stays usable", async () => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const shared = area();
    const log = new Logger({ accessLog: file });
    log.shareAccessLines(shared);
    log.access(accessEntry("/short"));
    const long = `/long?q=${"x".repeat(PENDING_ACCESS_LINES)}`;
    log.access(accessEntry(long));
    // Both out before access() returned: the copy that held them is not where the master reads.
    assert.equal(shared.read().length, 0);
    const written = readFileSync(file, "utf8").split("\n").filter(Boolean);
    assert.equal(written.length, 2);
    assert.ok(written[1].includes(long));
    log.access(accessEntry("/after"));
    assert.match(text(shared.read()), /"GET \/after HTTP\/1\.1" 200 /);
    await log.close();
    assert.equal(readFileSync(file, "utf8").split("\n").filter(Boolean).length, 3);
  } finally {
    dir.remove();
  }
});

Deno.test("PendingAccess.read() of a cleared or nonsense length is empty", () => {
  const memory = new Uint8Array(new SharedArrayBuffer(PENDING_ACCESS_BYTES));
  const shared = new PendingAccess(memory);
  shared.publish(PENDING_ACCESS_LINES + 1);
  assert.equal(shared.read().length, 0);
  shared.publish(3);
  shared.bytes.set([0x61, 0x62, 0x0a]);
  assert.equal(text(shared.read()), "ab\n");
  shared.clear();
  assert.equal(shared.read().length, 0);
  assert.throws(() => new PendingAccess(new Uint8Array(8)), RangeError);
});

Deno.test("A logger without shared memory keeps batching after a batch outgrew its buffer", async () => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const log = new Logger({ accessLog: file });
    // Past the batch's 64 KiB: written, and the buffer grew.
    for (let i = 0; i < 800; i++) log.access(accessEntry(`/fill/${i}?${"x".repeat(80)}`));
    const written = readFileSync(file, "utf8").length;
    assert.ok(written > 0);
    log.access(accessEntry("/next"));
    // Waits for its batch, as before the buffer grew.
    assert.equal(readFileSync(file, "utf8").length, written);
    await log.close();
    assert.match(readFileSync(file, "utf8"), /"GET \/next HTTP\/1\.1" 200 .*\n$/);
  } finally {
    dir.remove();
  }
});
