// A stop (TERM) that finds a worker the master does not count as booted yet: the master sends
// it the stop signal as to any other worker. One that serves already (a gthread thread listens
// before its siblings do, and the worker says "ready" only once all of them do) finishes its
// requests; one still loading the app exits at once, cleanly. The fixture holds a thread back
// (tests/fixtures/apps/late_sibling_app.ts).

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  e2e,
  eventually,
  existsSync,
  FIXTURES,
  get,
  hasStackTrace,
  type RunResult,
  type Server,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const APP = join(FIXTURES, "apps", "late_sibling_app.ts");

function startLate(target: Target, dir: string, args: string[], env: Record<string, string>) {
  return start(target, ["-b", "127.0.0.1:0", ...args, APP], {
    env: { LATE_SIBLING_DIR: dir, ...env },
  });
}

/** Exit 0 with nothing said worse than INFO, and the worker ended by itself, not by SIGKILL. */
function assertCleanStop(result: RunResult): void {
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stderr, /\[(WARNING|ERROR|CRITICAL)\]/);
  assert.ok(!hasStackTrace(result.stderr), result.stderr);
  assert.match(result.stderr, /\[INFO\] Worker exiting \(pid: \d+\)/);
  assert.match(result.stderr, /\[INFO\] Shutting down: Master/);
}

/** Stops `server` with TERM; a worker that ignored it would hold the master past `ms`. */
function stopWithin(server: Server, ms = 30_000): Promise<RunResult> {
  return server.stop(ms);
}

e2e(
  "TERM while a gthread thread serves and its sibling does not listen yet: the request finishes",
  async (target) => {
    const dir = tempDir();
    try {
      const server = startLate(
        target,
        dir.path,
        ["-k", "gthread", "-w", "1", "--threads", "2", "--access-logfile", "-"],
        { LATE_SIBLING_MODE: "listen", LATE_SIBLING_MS: "6000" },
      );
      const url = await server.url();
      const answer = get(`${url}/slow?ms=1500`);
      await eventually(() => existsSync(join(dir.path, "started")), "the slow request began");
      server.signal("SIGTERM");
      const reply = await answer;
      assert.equal(reply.status, 200);
      assert.match(reply.body, /^done pid \d+\n$/);
      const result = await stopWithin(server);
      assertCleanStop(result);
      assert.match(result.stdout, /"GET \/slow\?ms=1500 HTTP\/1\.1" 200 /);
    } finally {
      dir.remove();
    }
  },
);

e2e("TERM while a gthread thread still loads the app: the worker exits at once", async (target) => {
  const dir = tempDir();
  try {
    const server = startLate(
      target,
      dir.path,
      ["-k", "gthread", "-w", "1", "--threads", "2", "--graceful-timeout", "120"],
      { LATE_SIBLING_MODE: "load", LATE_SIBLING_MS: "120000" },
    );
    await eventually(() => existsSync(join(dir.path, "first")), "a thread imported the app");
    assertCleanStop(await stopWithin(server));
  } finally {
    dir.remove();
  }
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  const name = signal.slice(3);
  e2e(
    `${name} while a sync worker still loads the app: the worker exits at once`,
    async (target) => {
      const dir = tempDir();
      try {
        const server = startLate(target, dir.path, ["-w", "1", "--graceful-timeout", "120"], {
          LATE_SIBLING_MODE: "load",
          LATE_SIBLING_MS: "120000",
          LATE_SIBLING_ALL: "1",
        });
        await eventually(() => existsSync(join(dir.path, "first")), "the worker imported the app");
        // INT is a quick stop: the worker gets SIGQUIT; TERM's is the graceful one.
        server.signal(signal);
        assertCleanStop(await stopWithin(server));
      } finally {
        dir.remove();
      }
    },
  );
}
