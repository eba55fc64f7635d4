// An access log on a disk that fills up, on a small tmpfs of its own (mounted here: needs root):
// the write the disk took only part of leaves no torn line behind for the next line to be glued
// to once there is room again; each outage is said, and so is its end, with the lines it lost.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  get,
  type Server,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const PAGE = 4096;
const DISK_PAGES = 16;

/**
 * Runs `body` against a server (`-w 1`) whose `flag` log is `name` on a tmpfs of DISK_PAGES pages
 * of its own, with the path of a file that fills it; then stops the server and unmounts the disk.
 */
async function onSmallDisk(
  target: Target,
  flag: string,
  name: string,
  body: (server: Server, file: string, filler: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const disk = join(dir.path, "disk");
  mkdirSync(disk);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${DISK_PAGES * PAGE}`, "tmpfs", disk]);
  const server = start(target, ["-w", "1", flag, join(disk, name), "-b", "127.0.0.1:0", PID_APP]);
  try {
    await body(server, join(disk, name), join(disk, "filler"));
  } finally {
    await server.stop();
    execFileSync("umount", [disk]);
    dir.remove();
  }
}

e2e(
  "a full disk leaves no torn access line; each outage and its end are said",
  (target) =>
    onSmallDisk(target, "--access-logfile", "access.log", async (server, file, filler) => {
      const url = await server.ready(1);
      // The readiness request's line first: written after the size is taken, it would take the
      // room meant for the torn line (access lines go out in batches, not at once).
      await eventually(
        () => existsSync(file) && readFileSync(file, "utf8").includes('"GET / HTTP/1.1" 200 '),
        "the readiness request's line",
      );
      // The disk is full but for the rest of the log's last page (a tmpfs counts whole pages).
      const size = statSync(file).size;
      const pages = Math.ceil(size / PAGE) || 1;
      let room = pages * PAGE - size;
      writeFileSync(filler, new Uint8Array((DISK_PAGES - pages - (room ? 0 : 1)) * PAGE));
      room ||= PAGE;
      // A line longer than the room: the write takes `room` bytes of it, then fails.
      const torn = await get(`${url}/torn`, { headers: { "user-agent": "u".repeat(room + 100) } });
      assert.equal(torn.status, 200);
      await server.waitFor(
        /\[ERROR\] Cannot write access log ".*access\.log": .*(ENOSPC|No space)/,
      );
      assert.ok(readFileSync(file, "utf8").endsWith("\n"), "the log ends in a whole line");
      rmSync(filler);
      assert.equal((await get(`${url}/after`)).status, 200);
      await server.waitFor(
        /\[INFO\] Can write access log ".*access\.log" again; 1 line lost while it failed/,
      );
      // Full again (but for part of a page): the new outage is reported too.
      try {
        appendFileSync(filler, new Uint8Array(DISK_PAGES * PAGE));
      } catch { /* ENOSPC: full */ }
      await get(`${url}/lost`, { headers: { "user-agent": "u".repeat(PAGE + 100) } });
      await eventually(
        () => server.stderr.split("Cannot write access log").length === 3,
        "a second report",
      );
      rmSync(filler);
      await get(`${url}/again`);
      await eventually(
        () => server.stderr.split("Can write access log").length === 3,
        "a second recovery",
      );
      const lines = readFileSync(file, "utf8").split("\n");
      assert.equal(lines.pop(), "", "the log ends in a whole line");
      for (const line of lines) assert.match(line, /^127\.0\.0\.1 - - \[[^\]]+\] "GET [^"]+" 200 /);
      const ours = lines.map((l) => / "GET (\/\S*) /.exec(l)?.[1]).filter((p) => p !== "/");
      assert.deepEqual(ours, ["/after", "/again"]);
    }),
);

e2e(
  "an error log on a full disk: no torn line, and its end is said in it",
  (target) =>
    onSmallDisk(target, "--error-logfile", "error.log", async (server, file, filler) => {
      const log = () => existsSync(file) ? readFileSync(file, "utf8") : "";
      await eventually(() => /Listening at: http/.test(log()), "the master listens");
      const url = /Listening at: (http:\/\/\S+)/.exec(log())![1];
      await get(url);
      try {
        appendFileSync(filler, new Uint8Array(DISK_PAGES * PAGE));
      } catch { /* ENOSPC: full but for part of the log's last page */ }
      // An ERROR line with the request line and the app's stack, longer than a page: torn.
      assert.equal((await get(`${url}/boom?${"x".repeat(3900)}`)).status, 500);
      await server.waitFor(/\[ERROR\] Cannot write error log ".*error\.log": .*(ENOSPC|No space)/);
      assert.ok(log().endsWith("\n"), "the log ends in a whole line");
      rmSync(filler);
      await get(`${url}/boom`);
      await eventually(
        () => /\[INFO\] Can write error log ".*error\.log" again; \d+ lines? lost/.test(log()),
        "the end of the outage, in the log",
      );
    }),
);
