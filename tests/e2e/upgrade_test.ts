// Which program runs after the binary is upgraded where it is installed, as gunicorn's rule has
// it: HUP and a respawn start workers of the code the master runs; only USR2 starts the program
// now installed, by the path the master was started with (a swapped symlink, a name on PATH).
// Two copies of the binary are two programs here: /proc/PID/exe tells which one a process runs.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { alive, BINARY, eventually, existsSync, get, Server, tempDir } from "../_helpers.ts";
import { childPids, spawnPiped } from "../_procs.ts";

// The app says which program path it is shown, from a worker's thread under gthread.
const APP = "export default { fetch: () => new Response(" +
  "`pid ${process.pid} ${process.execPath} ${process.argv[0]}`) };\n";

/** The running image of a process (its device and inode), whatever its path holds now. */
function image(pid: number): string {
  const s = statSync(`/proc/${pid}/exe`);
  return `${s.dev}:${s.ino}`;
}

function fileId(path: string): string {
  const s = statSync(path);
  return `${s.dev}:${s.ino}`;
}

/** A copy of the binary at `path`: another program as far as /proc/PID/exe can tell. */
function copyBinary(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  copyFileSync(BINARY, path);
  return fileId(path);
}

/** Starts `command` (a path or a name on PATH) as appserve. */
function startAs(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  return new Server(spawnPiped(command, args, { cwd, env }));
}

const BUN_WORKERS = ["--runtime", "bun", "-b", "127.0.0.1:0"];

Deno.test({
  name: "[binary] installed by rename, a respawned or HUP's worker runs the master's own code",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    const installed = join(dir.path, "opt", "appserve");
    const v1 = copyBinary(installed);
    const v2 = copyBinary(join(dir.path, "appserve.new"));
    Deno.writeTextFileSync(join(dir.path, "app.ts"), APP);
    const args = [...BUN_WORKERS, "-w", "2", "-k", "gthread", "--threads", "2", "app.ts"];
    const server = startAs(installed, args, dir.path);
    try {
      const url = await server.allAnswering(2);
      assert.equal(image(server.pid), v1);
      // As an operator installs an upgrade: the new file renamed over the old one.
      renameSync(join(dir.path, "appserve.new"), installed);
      assert.equal(fileId(installed), v2);
      const [first, second] = childPids(server.pid);
      process.kill(first, "SIGKILL");
      await eventually(() => {
        const pids = childPids(server.pid);
        return pids.length === 2 && !pids.includes(first);
      }, "a worker in the killed one's place");
      const respawned = childPids(server.pid).find((pid) => pid !== second)!;
      assert.equal(image(respawned), v1, "the respawned worker runs the master's program");
      // The app is shown the program's path, not /proc/self/exe or "... (deleted)".
      await eventually(async () => {
        const [, pid, execPath, argv0] = (await get(url)).body.split(" ");
        if (Number(pid) !== respawned) return false;
        assert.equal(execPath, installed);
        assert.equal(argv0, installed);
        return true;
      }, "an answer from the respawned worker");
      server.signal("SIGHUP");
      await eventually(() => {
        const pids = childPids(server.pid);
        return pids.length === 2 && !pids.includes(second) && !pids.includes(respawned);
      }, "two workers of the HUP");
      for (const pid of childPids(server.pid)) assert.equal(image(pid), v1, "a HUP's worker");
      assert.equal((await server.stop()).code, 0);
    } finally {
      await server.stop();
      dir.remove();
    }
  },
});

/** USR2 to `server`; returns the new master's pid once it serves (from PIDFILE.2). */
async function upgrade(server: Server, pidfile: string): Promise<number> {
  server.signal("SIGUSR2");
  await eventually(() => existsSync(`${pidfile}.2`), "the new master's pidfile");
  const pid = Number(readFileSync(`${pidfile}.2`, "utf8"));
  await eventually(() => server.bootedWorkers(pid).length === 1, "the new master's worker");
  return pid;
}

for (const started of ["a symlink's path", "a name on PATH"]) {
  Deno.test({
    name: `[binary] USR2 starts the version a swapped symlink names, started by ${started}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const dir = tempDir();
      const bin = join(dir.path, "bin");
      const link = join(bin, "appserve-x");
      const pidfile = join(dir.path, "app.pid");
      const v1 = copyBinary(join(dir.path, "v1", "appserve"));
      const v2 = copyBinary(join(dir.path, "v2", "appserve"));
      mkdirSync(bin);
      symlinkSync(join(dir.path, "v1", "appserve"), link);
      Deno.writeTextFileSync(join(dir.path, "app.ts"), APP);
      const byName = started === "a name on PATH";
      const server = startAs(
        byName ? "appserve-x" : link,
        [...BUN_WORKERS, "-w", "1", "-p", pidfile, "app.ts"],
        dir.path,
        byName ? { PATH: `${bin}:${process.env.PATH}` } : {},
      );
      let next = 0;
      try {
        await server.ready(1);
        assert.equal(image(server.pid), v1);
        // `ln -sfn`: a new link renamed over the old one.
        symlinkSync(join(dir.path, "v2", "appserve"), `${link}.new`);
        renameSync(`${link}.new`, link);
        next = await upgrade(server, pidfile);
        assert.equal(image(next), v2, "the new master runs the version now installed");
        assert.equal(image(childPids(next)[0]), v2, "and so do its workers");
        assert.equal(image(childPids(server.pid)[0]), v1, "the old master's worker runs on");
        // The new master holds the old one's stdout and stderr: its exit, not their close.
        server.signal("SIGTERM");
        await eventually(() => !alive(server.pid), "the old master stops");
        await eventually(() => !existsSync(`${pidfile}.2`), "the new master promoted");
        process.kill(next, "SIGTERM");
        await eventually(() => !alive(next), "the new master stops");
      } finally {
        next ||= existsSync(`${pidfile}.2`) ? Number(readFileSync(`${pidfile}.2`, "utf8")) : 0;
        if (next && alive(next)) process.kill(next, "SIGKILL");
        await server.stop();
        dir.remove();
      }
    },
  });
}
