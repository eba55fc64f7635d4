// The README's upgrade claim behind nginx: USR2 then TERM to the old master, cycle after cycle,
// under POST load through an upstream that keeps connections alive. nginx retries a GET that
// failed on a cached connection but not a POST (non-idempotent): a connection closed as nginx
// sends on it is a 502 to the client, so wrk's count and nginx's error log both must stay clean.
// A HUP's reload stops the old workers the same way, and is checked the same way.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  getWhenReady,
  type Server,
  start,
  tempDir,
} from "../_helpers.ts";
import { errorCount, parseWrk, startWrk, wrkArgs } from "../_procs.ts";
import { startNginx } from "../_nginx.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const CYCLES = 5;

// wrk's POSTs: a body nginx forwards on a cached upstream connection, and will not retry.
const POST_LUA = `wrk.method = "POST"
wrk.body = "field=value&other=1234567890"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
`;

/** nginx (workers as nobody) → appserve's unix socket, keeping upstream connections alive. */
function keepaliveUpstream(socket: string): (port: number) => string {
  return (port) => `
http {
  access_log off;
  upstream app {
    server unix:${socket};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}`;
}

/** USR2 to `master`, then TERM once the new master's workers booted; returns the new master. */
async function upgrade(server: Server, master: number): Promise<number> {
  const started = new RegExp(`\\[${master}\\] \\[INFO\\] Started new master with pid: (\\d+)`, "g");
  process.kill(master, "SIGUSR2");
  await eventually(() => server.all(started).length === 1, "the new master");
  const next = Number(server.all(started)[0][1]);
  await eventually(() => server.bootedWorkers(next).length === 2, "the new master's workers");
  process.kill(master, "SIGTERM");
  await eventually(() => !alive(master), "the old master exits");
  await eventually(
    () => server.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
    "promotion",
  );
  return next;
}

/** HUP to `master`; resolves once its old workers are gone and two new ones booted. */
async function reload(server: Server, master: number): Promise<number> {
  const before = childPids(master);
  process.kill(master, "SIGHUP");
  await eventually(
    () =>
      before.every((pid) => !alive(pid)) &&
      server.bootedWorkers(master).filter((pid) => !before.includes(pid)).length === 2,
    "the reload",
  );
  return master;
}

for (const [name, cycle] of [["USR2 then TERM", upgrade], ["HUP", reload]] as const) {
  e2e(
    `${name} ${CYCLES} times behind nginx with upstream keepalive fails no POST`,
    async (target) => {
      const dir = tempDir();
      const socket = join(dir.path, "app.sock");
      const lua = join(dir.path, "post.lua");
      writeFileSync(lua, POST_LUA);
      const server = start(target, [
        "-w",
        "2",
        "-p",
        join(dir.path, "app.pid"),
        "-b",
        `unix:${socket}`,
        PID_APP,
      ]);
      let master = server.pid;
      // Every master started, for the clean-up after a cycle that failed half-way.
      const masters = [master];
      const nginx = await startNginx(dir.path, keepaliveUpstream(socket));
      try {
        await server.waitFor(/Listening at: unix:/);
        const url = `http://127.0.0.1:${nginx.port}/`;
        await getWhenReady(url, {}, 20_000);
        // Long enough for every cycle; stopped once they are done.
        const wrk = startWrk(["-s", lua, ...wrkArgs(url, { connections: 64, seconds: 120 })], 120);
        for (let i = 0; i < CYCLES; i++) {
          master = await cycle(server, master);
          masters.push(master);
        }
        wrk.child.kill("SIGINT");
        const { report } = await wrk.done;
        const result = parseWrk(report);
        const said = () => readFileSync(join(dir.path, "nginx-error.log"), "utf8");
        assert.ok(result !== null && result.requests > 0, report);
        assert.equal(errorCount(result), 0, `${report}\nnginx error log:\n${said()}`);
        const errors = said()
          .split("\n").filter((line) => /\[(error|crit|alert)\].*upstream/.test(line));
        assert.deepEqual(errors, [], "nginx logged upstream errors");
      } finally {
        await nginx.stop();
        for (const pid of masters) if (alive(pid)) process.kill(pid, "SIGTERM");
        await eventually(() => masters.every((pid) => !alive(pid)), "the masters stop");
        await server.stop();
        dir.remove();
      }
    },
  );
}
