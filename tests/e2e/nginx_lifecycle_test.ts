// Graceful restarts behind a real nginx, with and without upstream keepalive: wrk through nginx
// sees no failure, and nginx itself logs no upstream error (it retries a request that failed on a
// cached keep-alive connection, so wrk alone would not see those).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  getWhenReady,
  load,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";
import { startNginx } from "../_nginx.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

/** nginx → appserve's unix socket, through an upstream block that keeps connections or not. */
function upstream(socket: string, keepalive: boolean): (port: number) => string {
  return (port) => `
http {
  access_log off;
  upstream app {
    server unix:${socket};
    ${keepalive ? "keepalive 64;" : ""}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      ${keepalive ? 'proxy_http_version 1.1;\n      proxy_set_header Connection "";' : ""}
    }
  }
}`;
}

const SCENARIOS = [
  { name: "HUP", flags: [] as string[], signal: "SIGHUP" as const },
  { name: "--max-requests", flags: ["--max-requests", "300", "--max-requests-jitter", "100"] },
  {
    // Threads hand connections to each other: one handed over as its thread drains is served.
    // Fewer recycles than async's: a gthread worker starts its threads before it serves.
    name: "gthread --max-requests",
    flags: [
      "-k",
      "gthread",
      "--threads",
      "2",
      "--max-requests",
      "500",
      "--max-requests-jitter",
      "100",
    ],
  },
];

for (const keepalive of [true, false]) {
  for (const scenario of SCENARIOS) {
    const kind = keepalive ? "with upstream keepalive" : "without upstream keepalive";
    e2e(`${scenario.name} behind nginx ${kind} fails no request`, async (target) => {
      const dir = tempDir();
      const socket = join(dir.path, "app.sock");
      const server = start(target, [
        "-w",
        "2",
        ...scenario.flags,
        "-b",
        `unix:${socket}`,
        PID_APP,
      ]);
      const nginx = await startNginx(dir.path, upstream(socket, keepalive));
      try {
        await server.waitFor(/Listening at: unix:/);
        const url = `http://127.0.0.1:${nginx.port}/`;
        await getWhenReady(url, {}, 20_000);
        const running = load(url, 4, { connections: 64 });
        if (scenario.signal) {
          await sleep(1500);
          server.signal(scenario.signal);
        }
        const result = await running.done;
        // On a failure, what nginx said about it too (a 502's cause is only in its log).
        const said = () => readFileSync(join(dir.path, "nginx-error.log"), "utf8");
        assert.ok(result.requests > 0, result.report);
        assert.equal(result.failed, 0, `${result.report}\nnginx error log:\n${said()}`);
        if (scenario.signal) await server.waitFor(/Hang up: Master/);
        else await eventually(() => /Autorestarting worker/.test(server.stderr), "a recycle");
        const errors = said()
          .split("\n").filter((line) => /\[(error|crit|alert)\].*upstream/.test(line));
        assert.deepEqual(errors, [], "nginx logged upstream errors");
      } finally {
        await nginx.stop();
        await server.stop();
        dir.remove();
      }
    });
  }
}
