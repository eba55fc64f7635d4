// Logs on a pipe that several workers write to (journald, docker, `| logger`):
// every line arrives whole even when the reader is slow and batches pass the
// pipe's PIPE_BUF (field trial: one worker's line cut by another's).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { DENO, e2e, FIXTURES, getWhenReady, Server, tempDir } from "../_helpers.ts";
import { spawnPiped, startWrk, wrkArgs } from "../_procs.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const SLOW_READER = join(FIXTURES, "readers", "slow_reader.ts");
// Lines of ~2 KB: a worker's batch of them passes 4 KiB.
const AGENT = "u".repeat(2000);

/** `sh -c` quoting of one argument. */
function quoted(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

e2e("--access-logfile - to a slow pipe: two workers' lines arrive whole", async (target) => {
  const dir = tempDir();
  const log = join(dir.path, "access.log");
  const pidFile = join(dir.path, "master.pid");
  const appserve = [target.command, ...target.prefix].map(quoted).join(" ");
  const args = [
    "-w",
    "2",
    "-b",
    "127.0.0.1:0",
    "--pid",
    pidFile,
    "--access-logfile",
    "-",
    "--access-logformat",
    '%(h)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s" %(p)s END',
    PID_APP,
  ].map(quoted).join(" ");
  const reader = [DENO, "run", "-A", SLOW_READER, log].map(quoted).join(" ");
  const server = new Server(spawnPiped("sh", ["-c", `${appserve} ${args} | ${reader}`]));
  try {
    const url = await server.url();
    await getWhenReady(url);
    const wrk = startWrk(
      wrkArgs(`${url}/`, { connections: 32, seconds: 3, headers: [`User-Agent: ${AGENT}`] }),
      3,
    );
    const run = await wrk.done;
    assert.ok(!run.error, run.report);
  } finally {
    // The master's own SIGTERM; the reader ends when the pipe's writers are gone.
    process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
    await server.exited;
  }
  const lines = readFileSync(log, "utf8").split("\n");
  assert.equal(lines.pop(), "", "ends with a line end");
  const whole = new RegExp(
    `^127\\.0\\.0\\.1 \\[[^\\]]+\\] "GET / HTTP/1\\.1" 200 \\d+ "(-|${AGENT})" <\\d+> END$`,
  );
  const broken = lines.filter((line) => !whole.test(line));
  assert.ok(lines.length > 200, `${lines.length} lines`);
  assert.deepEqual(
    broken.map((line) => line.slice(0, 80) + "…" + line.slice(-80)).slice(0, 3),
    [],
    `${broken.length} of ${lines.length} lines broken`,
  );
  const pids = new Set(lines.map((line) => line.split(" ").at(-2)));
  assert.equal(pids.size, 2, "both workers wrote");
  dir.remove();
});
