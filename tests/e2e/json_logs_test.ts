// --log-format json: every error-log and access-log line is one JSON object
// with the documented fields, parsed here field by field; syslog carries the
// same objects; a --logger-class that overrides a format still decides it.

import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, get, pidOf, ROOT, run, start, tempDir } from "../_helpers.ts";
import { udpReceiver } from "../_syslog.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// deno-lint-ignore no-explicit-any
type Fields = Record<string, any>;
const jsonLines = (text: string): Fields[] =>
  text.split("\n").filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });

e2e(
  "--log-format json writes both logs as JSON lines with the documented fields",
  async (target) => {
    const server = start(target, [
      "--log-format",
      "json",
      "--access-logfile",
      "-",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    // The Listening line is JSON too: wait for the object, not the text format.
    const m = await server.waitFor(/"message":"Listening at: (http:\/\/[^ ,"]+)/);
    const url = m[1];
    await eventually(async () => (await get(url).catch(() => null))?.status === 200, "an answer");
    const answer = await get(`${url}/a?b=1`, {
      headers: { "user-agent": 'ua "quoted" \\', referer: "http://ref/" },
    });
    const worker = pidOf(answer);
    assert.equal((await get(`${url}/boom`)).status, 500);
    await eventually(() => /"GET \/boom /.test(server.stdout), "the access lines");

    const access = jsonLines(server.stdout).find((l) => l.r === "GET /a?b=1 HTTP/1.1")!;
    assert.ok(access, server.stdout);
    assert.deepEqual(Object.keys(access), [
      "time",
      "log",
      "h",
      "l",
      "u",
      "t",
      "r",
      "s",
      "b",
      "f",
      "a",
    ]);
    assert.match(access.time, ISO);
    assert.equal(access.log, "access");
    assert.equal(access.h, "127.0.0.1");
    assert.equal(access.l, "-");
    assert.equal(access.u, "-");
    assert.match(access.t, /^\[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]$/);
    assert.equal(access.s, 200);
    assert.equal(access.b, String(answer.body.length));
    assert.equal(access.f, "http://ref/");
    assert.equal(access.a, 'ua "quoted" \\');
    assert.equal(jsonLines(server.stdout).find((l) => l.r === "GET /boom HTTP/1.1")!.s, 500);

    const errors = jsonLines(server.stderr);
    for (const line of errors) {
      assert.deepEqual(
        Object.keys(line),
        ["time", "log", "level", "pid", "message"],
        JSON.stringify(line),
      );
      assert.match(line.time, ISO);
      assert.equal(line.log, "error");
    }
    assert.ok(
      errors.some((l) =>
        l.pid === server.pid && l.level === "info" && /^Starting appserve /.test(l.message)
      ),
    );
    assert.ok(
      errors.some((l) => l.pid === worker && l.message === `Booting worker with pid: ${worker}`),
    );
    const failure = errors.find((l) => /^Error handling request GET \/boom\n/.test(l.message))!;
    assert.equal(failure.level, "error");
    assert.equal(failure.pid, worker);
    assert.match(failure.message, /\nError: boom from the app\n\s+at /);

    assert.equal((await server.stop()).code, 0);
    assert.ok(jsonLines(server.stderr).some((l) => l.message === "Shutting down: Master"));
  },
);

e2e(
  "--log-format json: access_log_format picks the fields; syslog carries the same objects",
  async (target) => {
    const receiver = udpReceiver();
    try {
      const server = start(target, [
        "--log-format",
        "json",
        "--access-logformat",
        '%(h)s "%(r)s" %(s)s %(D)s %({x-request-id}i)s %({content-type}o)s',
        "--log-syslog",
        "--log-syslog-to",
        receiver.addr,
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = (await server.waitFor(/"message":"Listening at: (http:\/\/[^ ,"]+)/))[1];
      await eventually(
        async () => (await get(`${url}/x`).catch(() => null))?.status === 200,
        "an answer",
      );
      await get(`${url}/id`, { headers: { "x-request-id": "r-42" } });
      const prefix = /^<14>gunicorn\.pid_app\.access: /;
      await eventually(
        () => receiver.messages.some((m) => prefix.test(m) && m.includes('"GET /id HTTP/1.1"')),
        `the access line in ${JSON.stringify(receiver.messages)}`,
      );
      const line = JSON.parse(
        receiver.messages.find((m) => prefix.test(m) && m.includes('"GET /id HTTP/1.1"'))!
          .replace(prefix, ""),
      );
      assert.deepEqual(Object.keys(line), [
        "time",
        "log",
        "h",
        "r",
        "s",
        "D",
        "{x-request-id}i",
        "{content-type}o",
      ]);
      assert.equal(line["{x-request-id}i"], "r-42");
      // Bun's Response of a string carries no content-type header: "-" there.
      assert.equal(typeof line["{content-type}o"], "string");
      assert.equal(typeof line.D, "number");
      const starting = receiver.messages.find((m) =>
        m.startsWith("<14>gunicorn.pid_app.error: {")
      )!;
      assert.equal(JSON.parse(starting.replace(/^[^{]+/, "")).log, "error");
      await server.stop();
    } finally {
      receiver.close();
    }
  },
);

e2e(
  "a --logger-class that overrides the formats still decides its lines under --log-format json",
  async (target) => {
    const dir = tempDir();
    try {
      // Outside the repo, where only the running program can resolve "appserve".
      const logger = join(dir.path, "json_logger.ts");
      copyFileSync(join(ROOT, "examples", "json_logger.ts"), logger);
      const server = start(target, [
        "--log-format",
        "json",
        "--logger-class",
        logger,
        "--access-logfile",
        "-",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = (await server.waitFor(/"message":"Listening at: (http:\/\/[^ ,"]+)/))[1];
      await eventually(
        async () => (await get(`${url}/c`).catch(() => null))?.status === 200,
        "an answer",
      );
      await eventually(() => server.stdout.includes('"/c"'), "the access line");
      // The class's own fields, not --log-format json's.
      const line = jsonLines(server.stdout).find((l) => l.target === "/c")!;
      assert.deepEqual(Object.keys(line), ["time", "method", "target", "status", "peer", "ms"]);
      assert.ok(jsonLines(server.stderr).every((l) => !("log" in l)));
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

e2e("an unknown --log-format is one line and exit 1", async (target) => {
  const result = await run(target, ["--log-format", "xml", PID_APP]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'Error: --log-format: Cannot read "log_format": expected one of "text", "json", got "xml"\n',
  );
});
