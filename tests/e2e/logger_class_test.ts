// --logger-class: a user module outside the repo that imports { Logger } from
// "appserve", in both runtimes; bad classes and throwing methods.

import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  get,
  hasStackTrace,
  pidOf,
  ROOT,
  run,
  start,
  tempDir,
} from "../_helpers.ts";
import { connect, wsUrl } from "../_ws_client.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const LOGGERS = join(FIXTURES, "loggers");

/** Copies a logger module out of the repo, where only the runtime can resolve "appserve". */
function outside(dir: string, source: string): string {
  const file = join(dir, source.split("/").at(-1)!);
  copyFileSync(source, file);
  return file;
}

const jsonLines = (text: string) =>
  text.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));

e2e("examples/json_logger.ts writes JSON lines for both logs", async (target) => {
  const dir = tempDir();
  const access = join(dir.path, "access.log");
  const errors = join(dir.path, "error.log");
  try {
    const logger = outside(dir.path, join(ROOT, "examples", "json_logger.ts"));
    const server = start(target, [
      "--logger-class",
      logger,
      "--access-logfile",
      access,
      "--error-logfile",
      errors,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    await eventually(
      () => existsSync(errors) && readFileSync(errors, "utf8").includes("Listening at"),
      "the master's line",
    );
    const url = /Listening at: (http:\/\/\S+)/.exec(readFileSync(errors, "utf8"))![1];
    await eventually(
      async () => (await get(`${url}/hi?x=1`).catch(() => null))?.status === 200,
      "an answer",
    );
    await eventually(() => readFileSync(access, "utf8").includes("/hi"), "the access line");
    const line = jsonLines(readFileSync(access, "utf8")).find((l) => l.target === "/hi?x=1");
    assert.equal(line.method, "GET");
    assert.equal(line.status, 200);
    assert.equal(line.peer, "127.0.0.1");
    assert.equal(typeof line.ms, "number");
    const messages = jsonLines(readFileSync(errors, "utf8"));
    assert.ok(messages.some((m) => m.level === "info" && /^Starting appserve/.test(m.message)));
    assert.ok(messages.some((m) => /^Booting worker with pid: \d+$/.test(m.message)));
    await server.stop();
  } finally {
    dir.remove();
  }
});

e2e("a logger class method that throws falls back for that line, reported once", async (target) => {
  const dir = tempDir();
  const access = join(dir.path, "access.log");
  try {
    const logger = outside(dir.path, join(LOGGERS, "throwing_logger.ts"));
    const server = start(target, [
      "--logger-class",
      `${logger}:ThrowingLogger`,
      "--access-logfile",
      access,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready(1);
    const first = pidOf(await get(`${url}/bad/1`));
    await get(`${url}/good`);
    const last = pidOf(await get(`${url}/bad/2`));
    assert.equal(last, first, "the worker survived");
    await eventually(() => readFileSync(access, "utf8").includes("/bad/2"), "all three lines");
    const lines = readFileSync(access, "utf8").trim().split("\n").filter((l) => /bad|good/.test(l));
    assert.match(lines[0], /^127\.0\.0\.1 - - \[.+\] "GET \/bad\/1 HTTP\/1\.1" 200 \d+ "-" "-"$/);
    assert.deepEqual(JSON.parse(lines[1]), { target: "/good", status: 200 });
    assert.match(lines[2], /"GET \/bad\/2 HTTP\/1\.1" 200/);
    await eventually(() => server.stderr.includes("ThrowingLogger.formatAccess threw"), "report");
    assert.equal(server.stderr.split("ThrowingLogger.formatAccess threw").length, 2, "once");
    assert.match(
      server.stderr,
      /\[ERROR\] Logger class ThrowingLogger\.formatAccess threw \(Error: no format for \/bad\)/,
    );
    await server.stop();
  } finally {
    dir.remove();
  }
});

for (
  const [what, module, message] of [
    [
      "a class that does not extend Logger",
      "not_a_logger.ts",
      /^Error: Logger class .*not_a_logger\.ts \(default export or one Logger subclass\) does not extend appserve's Logger \(import \{ Logger \} from "appserve"\)\n$/,
    ],
    [
      "a module that fails to load",
      "broken_logger.ts",
      /^Error: Cannot load logger class ".*broken_logger\.ts": .*broken_logger\.ts:\d+:\d+: Error: logger module exploded\n$/,
    ],
    [
      "a then() method",
      "then_logger.ts:ThenLogger",
      /^Error: Logger class ThenLogger has a then\(\) method: appserve would wait on it as on a promise; rename it\n$/,
    ],
    [
      "a static then()",
      "then_logger.ts:StaticThenLogger",
      /^Error: Logger class StaticThenLogger has a then\(\) method: appserve would wait on it as on a promise; rename it\n$/,
    ],
    [
      "a module that does not exist",
      "missing_logger.ts",
      /^Error: Cannot load logger class ".*missing_logger\.ts": .*Cannot find module.*\n$/,
    ],
  ] as const
) {
  e2e(`--logger-class with ${what} is one line and exit 1`, async (target) => {
    const result = await run(target, [
      "--logger-class",
      join(LOGGERS, module),
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, message);
    assert.ok(!hasStackTrace(result.stderr));
  });
}

e2e(
  "a Logger subclass's websockets(open, opened) gets the open count and whether one opened, " +
    "on async and gthread workers",
  async (target) => {
    for (const kind of [["-k", "async"], ["-k", "gthread", "--threads", "2"]]) {
      const server = start(target, [
        ...["-w", "1", "-b", "127.0.0.1:0", ...kind],
        ...["--logger-class", `${join(LOGGERS, "websockets_logger.ts")}:WebSocketsLogger`],
        join(FIXTURES, "websocket", "neutral.ts"),
      ]);
      const url = await server.ready();
      const c = await connect("npm-ws", wsUrl(url));
      c.send("here");
      assert.equal(await c.next(), "here");
      await server.waitFor(/websockets: number 1, boolean true/);
      c.close(1000);
      await c.closed;
      await server.waitFor(/websockets: number 0, boolean false/);
      assert.equal((await server.stop()).code, 0);
    }
  },
);
