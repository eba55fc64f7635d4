// HUPs sent faster than workers boot (a config reloader's bursts): each one supersedes the
// generation still booting, so the master's workers stay at the serving generation plus one
// booting generation (gunicorn's count stays bounded too), the newest configuration serves once
// they stop, and a client meanwhile loses nothing.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2eUnderLoad,
  eventually,
  FIXTURES,
  get,
  load,
  type Server,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";

const SLOW_BOOT_APP = join(FIXTURES, "apps", "slow_boot_app.ts");
const WORKERS = 2;
const HUPS = 6;

/** What a process runs, for a failure's message. */
function commandLine(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`;
  } catch {
    return `${pid} (gone)`;
  }
}

e2eUnderLoad(
  "HUPs faster than workers boot keep the workers bounded, then the newest serves",
  async (target, mode) => {
    const dir = tempDir();
    const config = join(dir.path, "appserve.toml");
    const slow = join(dir.path, "slow-boot");
    const write = (mark: number) =>
      writeFileSync(
        config,
        `bind = "127.0.0.1:0"\nworkers = ${WORKERS}\napp = "${SLOW_BOOT_APP}"\n` +
          `raw_env = ["MARK=${mark}"]\n`,
      );
    let most = 0;
    let seen = "";
    let sampler: ReturnType<typeof setInterval> | undefined;
    let server: Server | undefined;
    try {
      write(0);
      server = start(target, [], { cwd: dir.path, env: { SLOW_BOOT_FILE: slow } });
      const url = await server.ready(WORKERS);
      const master = server.pid;
      // From here on a worker takes 3 s to load the app: far longer than between two HUPs.
      writeFileSync(slow, "3000");
      sampler = setInterval(() => {
        const now = childPids(master);
        if (now.length > most) {
          most = now.length;
          seen = now.map(commandLine).join("\n");
        }
      }, 20);
      const running = load(url, 4, { mode });
      await sleep(500);
      for (let mark = 1; mark <= HUPS; mark++) {
        write(mark);
        server.signal("SIGHUP");
        await sleep(400);
      }
      const result = await running.done;
      assert.ok(result.requests > 0, result.report);
      assert.equal(result.failed, 0, result.report);
      await eventually(
        async () =>
          childPids(master).length === WORKERS &&
          (await get(url)).body.includes(`mark ${HUPS}\n`),
        "the newest generation alone",
        30_000,
      );
      clearInterval(sampler);
      assert.ok(most <= 2 * WORKERS, `${most} workers at once:\n${seen}\n${server.stderr}`);
      for (let i = 0; i < 4; i++) assert.match((await get(url)).body, new RegExp(`mark ${HUPS}\n`));
      assert.equal((await server.stop()).code, 0);
    } finally {
      clearInterval(sampler);
      await server?.stop();
      dir.remove();
    }
  },
);
