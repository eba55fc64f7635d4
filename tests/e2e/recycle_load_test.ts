// A replacement worker that cannot load the app (the app file edited into a broken one) while
// other workers still serve: reported, the serving workers keep serving, and it is tried again
// with a growing wait; at start, or with no worker left serving, the master halts with exit 4.

import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  pidOf,
  start,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
/** What a broken deploy prepends (the field trial's): the module throws as it is imported. */
const BREAK = 'JSON.parse("{nope");\n';

const failedLine = (wait: number) =>
  new RegExp(
    String.raw`\[ERROR\] Replacement worker \(pid:\d+\) failed to load the app, keeping the ` +
      String.raw`running workers: Cannot import \S*app\.ts: .*; trying again in ${wait} s$`,
    "m",
  );

e2e(
  "a recycle whose replacement cannot load the app keeps the old worker serving and retries",
  async (target) => {
    const dir = tempDir();
    try {
      const app = join(dir.path, "app.ts");
      copyFileSync(PID_APP, app);
      const server = start(target, ["-w", "1", "--max-requests", "3", "-b", "127.0.0.1:0", app]);
      // ready() made the first request.
      const url = await server.ready(1);
      const [worker] = childPids(server.pid);
      writeFileSync(app, BREAK + Deno.readTextFileSync(PID_APP));
      assert.equal(pidOf(await get(url)), worker);
      assert.equal(pidOf(await get(url)), worker);
      await server.waitFor(/Autorestarting worker after current request/);
      await server.waitFor(failedLine(1));
      // The retiring worker serves on (the master did not halt), and the replacement is tried
      // again, after a longer wait.
      assert.equal(pidOf(await get(url)), worker);
      await server.waitFor(failedLine(2));
      assert.equal(pidOf(await get(url)), worker);
      assert.doesNotMatch(server.stderr, /Reason: App failed to load/);
      // Fixed: the next try boots, and the recycled worker leaves.
      copyFileSync(PID_APP, app);
      await eventually(() => !alive(worker), "the recycled worker is gone");
      assert.notEqual(pidOf(await get(url)), worker);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "two workers to replace while the app cannot load: one replacement is tried at a time",
  async (target) => {
    const dir = tempDir();
    try {
      const app = join(dir.path, "app.ts");
      copyFileSync(PID_APP, app);
      const server = start(target, ["-w", "3", "-b", "127.0.0.1:0", app]);
      const url = await server.allAnswering(3);
      // Fails a second after it starts: replacements started together all boot before one fails.
      const slowBreak = "await new Promise((r) => setTimeout(r, 1000));\n" + BREAK;
      writeFileSync(app, slowBreak + Deno.readTextFileSync(PID_APP));
      await get(`${url}/exit?code=1`).catch(() => {});
      await server.waitFor(failedLine(1));
      // A second worker dies during the wait: two to replace, one still serving.
      await get(`${url}/exit?code=1`).catch(() => {});
      await server.waitFor(failedLine(4));
      // Each try is one replacement booting, then its failure: the waits grow once per try
      // (1, 2, 4 s), not once per replacement started together.
      const tries = server.stderr.split("\n").filter((line) =>
        /Booting worker with pid|failed to load the app, keeping/.test(line)
      ).slice(3).map((line) => line.includes("Booting") ? "boot" : "fail");
      assert.deepEqual(tries.slice(0, 6), ["boot", "fail", "boot", "fail", "boot", "fail"]);
      assert.equal((await get(url)).status, 200);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "a crashed worker whose replacement cannot load the app: the others serve on; alone, exit 4",
  async (target) => {
    const dir = tempDir();
    try {
      const app = join(dir.path, "app.ts");
      copyFileSync(PID_APP, app);
      const two = start(target, ["-w", "2", "-b", "127.0.0.1:0", app]);
      const url = await two.allAnswering(2);
      writeFileSync(app, BREAK + Deno.readTextFileSync(PID_APP));
      const before = childPids(two.pid);
      await get(`${url}/exit?code=1`).catch(() => {});
      await two.waitFor(failedLine(1));
      // The one left of the two answers.
      assert.ok(before.includes(pidOf(await get(url))));
      assert.equal((await two.stop()).code, 0);

      // The only worker dies: nothing serves, so the master halts as at start.
      copyFileSync(PID_APP, app);
      const one = start(target, ["-w", "1", "-b", "127.0.0.1:0", app]);
      const url1 = await one.ready(1);
      writeFileSync(app, BREAK + Deno.readTextFileSync(PID_APP));
      await get(`${url1}/exit?code=1`).catch(() => {});
      const result = await one.exited;
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /Reason: App failed to load\./);
    } finally {
      dir.remove();
    }
  },
);
