// --log-syslog: gunicorn's syslog lines reach real receivers (UDP, unix datagram,
// TCP, unix stream, and rsyslogd) with their framing, facility, severity and
// prefix; a receiver that is down, goes away or comes back is one line each and
// never costs a request.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  load,
  pidOf,
  run,
  start,
  tempDir,
} from "../_helpers.ts";
import { startRsyslog, streamReceiver, udpReceiver, unixDatagramReceiver } from "../_syslog.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

const has = (messages: string[], pattern: RegExp) => messages.some((m) => pattern.test(m));

e2e(
  "--log-syslog sends the error and access logs over UDP with facility and prefix",
  async (target) => {
    const receiver = udpReceiver();
    try {
      const server = start(target, [
        "--log-syslog",
        "--log-syslog-to",
        receiver.addr,
        "--log-syslog-facility",
        "LOCAL3",
        "--log-syslog-prefix",
        "web:api",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = await server.ready(1);
      const worker = pidOf(await get(`${url}/a?b=1`, { headers: { "user-agent": "t/1" } }));
      assert.equal((await get(`${url}/boom`)).status, 500);
      const master = server.pid;
      // local3 = 19: info is <158>, error <155>; the prefix's ":" becomes ".", as gunicorn's.
      const expected = [
        new RegExp(`^<158>gunicorn\\.web\\.api\\.error: \\[${master}\\] Starting appserve \\S+$`),
        new RegExp(
          `^<158>gunicorn\\.web\\.api\\.error: \\[${worker}\\] Booting worker with pid: ${worker}$`,
        ),
        new RegExp(
          `^<158>gunicorn\\.web\\.api\\.access: \\[${worker}\\] 127\\.0\\.0\\.1 - - \\[[^\\]]+\\] ` +
            `"GET /a\\?b=1 HTTP/1\\.1" 200 \\d+ "-" "t/1"$`,
        ),
        // A datagram carries a multi-line message whole.
        new RegExp(
          `^<155>gunicorn\\.web\\.api\\.error: \\[${worker}\\] Error handling request GET /boom\\n` +
            `Error: boom from the app\\n\\s+at `,
        ),
      ];
      await eventually(
        () => expected.every((p) => has(receiver.messages, p)),
        `every line in ${JSON.stringify(receiver.messages, null, 1)}`,
      );
      // The streams still get the error log; the access log goes only to syslog (accesslog unset).
      assert.match(server.stderr, /\[INFO\] Booting worker with pid/);
      assert.doesNotMatch(server.stdout, /GET \/a/);
      const result = await server.stop();
      assert.equal(result.code, 0);
      await eventually(
        () =>
          has(
            receiver.messages,
            new RegExp(
              `^<158>gunicorn\\.web\\.api\\.error: \\[${master}\\] Shutting down: Master$`,
            ),
          ),
        "the master's last line",
      );
      assert.ok(!/WARNING\] syslog/.test(server.stderr), server.stderr);
    } finally {
      receiver.close();
    }
  },
);

e2e("gthread's threads send their access lines to syslog", async (target) => {
  const receiver = udpReceiver();
  try {
    const server = start(target, [
      "--log-syslog",
      "--log-syslog-to",
      receiver.addr,
      "-k",
      "gthread",
      "--threads",
      "2",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready(1);
    for (let i = 0; i < 4; i++) await get(`${url}/g${i}`);
    await eventually(
      () =>
        [0, 1, 2, 3].every((i) =>
          has(receiver.messages, new RegExp(`\\.access: \\[\\d+\\] .*"GET /g${i} HTTP`))
        ),
      `the access lines in ${JSON.stringify(receiver.messages)}`,
    );
    await server.stop();
  } finally {
    receiver.close();
  }
});

e2e(
  "unix://PATH#dgram and a bare unix://PATH send datagrams; the prefix defaults to the app's name",
  async (target) => {
    const dir = tempDir();
    const bare = unixDatagramReceiver(join(dir.path, "bare.sock"), "");
    const dgram = unixDatagramReceiver(join(dir.path, "dgram.sock"));
    try {
      for (const receiver of [bare, dgram]) {
        const server = start(target, [
          "--log-syslog",
          "--log-syslog-to",
          receiver.addr,
          "--access-logfile",
          "-",
          "-b",
          "127.0.0.1:0",
          PID_APP,
        ]);
        const url = await server.ready(1);
        const worker = pidOf(await get(`${url}/u`));
        // user = 1: info is <14>.
        await eventually(
          () =>
            has(receiver.messages, /^<14>gunicorn\.pid_app\.error: \[\d+\] Listening at: /) &&
            has(
              receiver.messages,
              new RegExp(
                `^<14>gunicorn\\.pid_app\\.access: \\[${worker}\\] .*"GET /u HTTP/1\\.1" 200 `,
              ),
            ),
          `lines at ${receiver.addr}: ${JSON.stringify(receiver.messages)}`,
        );
        // With accesslog set, the line goes to both.
        await eventually(() => /"GET \/u HTTP\/1\.1" 200/.test(server.stdout), "the stdout line");
        await server.stop();
      }
    } finally {
      bare.close();
      dgram.close();
      dir.remove();
    }
  },
);

e2e(
  "tcp:// and unix://PATH#stream send newline-framed lines; --disable-redirect-access-to-syslog keeps access out",
  async (target) => {
    const dir = tempDir();
    const tcp = await streamReceiver({ port: 0 });
    const unix = await streamReceiver({ path: join(dir.path, "stream.sock") });
    try {
      const server = start(target, [
        "--log-syslog",
        "--log-syslog-to",
        tcp.addr,
        "--disable-redirect-access-to-syslog",
        "--log-syslog-facility",
        "daemon",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = await server.ready(1);
      const worker = pidOf(await get(`${url}/t`));
      assert.equal((await get(`${url}/boom`)).status, 500);
      // daemon = 3: info <30>, error <27>; the stack's newlines are #012 inside one line.
      await eventually(
        () =>
          has(
            tcp.messages,
            new RegExp(`^<30>gunicorn\\.pid_app\\.error: \\[${worker}\\] Booting worker`),
          ) &&
          has(
            tcp.messages,
            new RegExp(
              `^<27>gunicorn\\.pid_app\\.error: \\[${worker}\\] Error handling request GET /boom#012` +
                `Error: boom from the app#012\\s+at `,
            ),
          ),
        `lines over TCP: ${JSON.stringify(tcp.messages)}`,
      );
      await server.stop();
      assert.ok(!tcp.messages.some((m) => m.includes(".access:")), tcp.messages.join("\n"));

      // A bare unix:// path finds the stream socket when a datagram cannot connect to it.
      for (const addr of [unix.addr, unix.addr.replace(/#stream$/, "")]) {
        const second = start(target, [
          "--log-syslog",
          "--log-syslog-to",
          addr,
          "-b",
          "127.0.0.1:0",
          PID_APP,
        ]);
        const url2 = await second.ready(1);
        const path = `/s${addr.length}`;
        await get(`${url2}${path}`);
        await eventually(
          () =>
            has(
              unix.messages,
              new RegExp(
                `^<14>gunicorn\\.pid_app\\.access: \\[\\d+\\] .*"GET ${path} HTTP/1\\.1" 200 `,
              ),
            ),
          `lines over the unix stream: ${JSON.stringify(unix.messages)}`,
        );
        await second.stop();
        assert.doesNotMatch(second.stderr, /WARNING\] syslog/);
      }
    } finally {
      tcp.close();
      unix.close();
      dir.remove();
    }
  },
);

e2e(
  "a syslog receiver down at start, back, then gone under load: one line each, no failed request",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      "--log-syslog",
      "--log-syslog-to",
      `tcp://127.0.0.1:${port}`,
      "-w",
      "2",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const down = new RegExp(
      `\\[(\\d+)\\] \\[WARNING\\] syslog: cannot send to tcp://127\\.0\\.0\\.1:${port} \\((.+)\\); lines are dropped until it answers`,
      "g",
    );
    let receiver: Awaited<ReturnType<typeof streamReceiver>> | undefined;
    try {
      const url = await server.ready(2);
      // Master and both workers found it down: one warning each.
      await eventually(() => server.all(down).length === 3, `3 warnings in\n${server.stderr}`);
      assert.ok(server.all(down).every((m) => /ECONNREFUSED/.test(m[2])), server.stderr);
      for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/d${i}`)).status, 200);

      receiver = await streamReceiver({ port });
      const back =
        /\[(\d+)\] \[INFO\] syslog: sending to tcp:\/\/127\.0\.0\.1:\d+ again; (\d+) lines dropped so far/g;
      await eventually(() => server.all(back).length === 3, `3 "again" lines in\n${server.stderr}`);
      // The workers dropped their access lines of /d0../d4 while it was down.
      const dropped = server.all(back).map((m) => Number(m[2]));
      assert.ok(dropped.reduce((a, b) => a + b) >= 5 + 3, `dropped: ${dropped}`);
      await get(`${url}/after`);
      await eventually(
        () => has(receiver!.messages, /"GET \/after HTTP\/1\.1" 200/),
        "a line after it came back",
      );

      // Gone again, for good, while requests come in: every request is answered.
      receiver.close();
      const result = await load(url, 3, { connections: 8 }).done;
      assert.ok(result.requests > 100, result.report);
      assert.equal(result.failed, 0, result.report);
      await eventually(
        () => server.all(down).length >= 5,
        `the workers' second warnings in\n${server.stderr}`,
      );
      // One warning per process per outage, however many lines were dropped.
      const perPid = new Map<string, number>();
      for (const m of server.all(down)) perPid.set(m[1], (perPid.get(m[1]) ?? 0) + 1);
      assert.ok([...perPid.values()].every((n) => n <= 2), JSON.stringify([...perPid]));
      const stopped = await server.stop();
      assert.equal(stopped.code, 0);
    } finally {
      receiver?.close();
      if (!server.ended) await server.stop();
    }
  },
);

e2e("nobody on the UDP port: one warning per process, every request served", async (target) => {
  const port = await freePort();
  const server = start(target, [
    "--log-syslog",
    "--log-syslog-to",
    `udp://127.0.0.1:${port}`,
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  const url = await server.ready(1);
  for (let i = 0; i < 20; i++) assert.equal((await get(`${url}/u${i}`)).status, 200);
  const lost = new RegExp(
    `\\[(\\d+)\\] \\[WARNING\\] syslog: cannot send to udp://127\\.0\\.0\\.1:${port} \\(Connection refused\\); lines are lost`,
    "g",
  );
  await eventually(
    () => server.all(lost).length === 2,
    `master's and worker's warning in\n${server.stderr}`,
  );
  for (let i = 0; i < 20; i++) assert.equal((await get(`${url}/v${i}`)).status, 200);
  assert.equal(server.all(lost).length, 2, server.stderr);
  assert.equal((await server.stop()).code, 0);
});

e2e("an unresolvable syslog host is one warning per process; serving goes on", async (target) => {
  const server = start(target, [
    "--log-syslog",
    "--log-syslog-to",
    "udp://no-such-host.invalid:514",
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  const url = await server.ready(1);
  for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/n${i}`)).status, 200);
  const warning =
    /\[(\d+)\] \[WARNING\] syslog: cannot send to udp:\/\/no-such-host\.invalid:514 \(.+\); lines are dropped until it answers/g;
  await eventually(() => server.all(warning).length === 2, `two warnings in\n${server.stderr}`);
  assert.equal((await server.stop()).code, 0);
  assert.equal(server.all(warning).length, 2, server.stderr);
});

e2e(
  "a receiver that reads nothing: one 'not keeping up' warning, no failed request",
  async (target) => {
    const dir = tempDir();
    // Never read: its queue fills, and further datagrams would block a blocking socket.
    const conn = Deno.listenDatagram({
      transport: "unixpacket",
      path: join(dir.path, "full.sock"),
    });
    try {
      const server = start(target, [
        "--log-syslog",
        "--log-syslog-to",
        `unix://${join(dir.path, "full.sock")}#dgram`,
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = await server.ready(1);
      const result = await load(url, 2, { connections: 4 }).done;
      assert.equal(result.failed, 0, result.report);
      assert.ok(result.requests > 1000, result.report);
      const behind =
        /\[(\d+)\] \[WARNING\] syslog: unix:\/\/\S+ is not keeping up; lines are dropped while it is behind/g;
      await eventually(() => server.all(behind).length === 1, `the warning in\n${server.stderr}`);
      assert.equal((await server.stop()).code, 0);
    } finally {
      conn.close();
      dir.remove();
    }
  },
);

e2e(
  "a receiver that falls behind and catches up: its warning, then one line with the count dropped",
  async (target) => {
    const dir = tempDir();
    const path = join(dir.path, "slow.sock");
    const conn = Deno.listenDatagram({ transport: "unixpacket", path });
    const messages: string[] = [];
    try {
      const server = start(target, [
        "--log-syslog",
        "--log-syslog-to",
        `unix://${path}#dgram`,
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = await server.ready(1);
      // Nothing is read while the load runs: the queue fills and lines are dropped.
      const result = await load(url, 2, { connections: 4 }).done;
      assert.equal(result.failed, 0, result.report);
      const behind = /\[WARNING\] syslog: unix:\/\/\S+ is not keeping up; lines are dropped/g;
      await eventually(() => server.all(behind).length === 1, `the warning in\n${server.stderr}`);
      // Then it reads everything, and keeps reading.
      (async () => {
        try {
          for await (const [data] of conn) messages.push(new TextDecoder().decode(data));
        } catch { /* closed */ }
      })();
      const back =
        /\[INFO\] syslog: unix:\/\/\S+ is keeping up again; (\d+) lines dropped while it was behind/g;
      await eventually(async () => {
        await get(`${url}/after`);
        return server.all(back).length > 0;
      }, `the line saying it is back, in\n${server.stderr.slice(-2000)}`);
      const said = server.all(back);
      assert.equal(said.length, 1, server.stderr.slice(-2000));
      assert.ok(Number(said[0][1]) > 0, said[0][0]);
      // The line goes to syslog too, now that the receiver takes lines.
      await eventually(
        () => messages.some((m) => m.includes("is keeping up again")),
        "the line at the receiver",
      );
      assert.equal((await server.stop()).code, 0);
    } finally {
      conn.close();
      dir.remove();
    }
  },
);

e2e(
  "a line too long for a datagram is dropped with one warning; the lines after it go out",
  async (target) => {
    const receiver = udpReceiver();
    try {
      const server = start(target, [
        "--log-syslog",
        "--log-syslog-to",
        receiver.addr,
        "-b",
        "127.0.0.1:0",
        join(FIXTURES, "apps", "big_error_app.ts"),
      ]);
      const url = await server.ready(1);
      for (let i = 0; i < 2; i++) assert.equal((await get(`${url}/big`)).status, 500);
      await get(`${url}/after`);
      await eventually(
        () => has(receiver.messages, /\.access: \[\d+\] .*"GET \/after HTTP\/1\.1" 200/),
        `the line after, in ${JSON.stringify(receiver.messages.map((m) => m.slice(0, 80)))}`,
      );
      const warning =
        /\[WARNING\] syslog: a message of \d+ bytes is too long for a datagram to udp:\/\/127\.0\.0\.1:\d+; such lines are dropped/g;
      assert.equal(server.all(warning).length, 1, server.stderr.slice(-2000));
      assert.ok(!receiver.messages.some((m) => m.includes("Error handling request GET /big")));
      assert.doesNotMatch(server.stderr, /syslog: cannot send|again/);
      assert.equal((await server.stop()).code, 0);
    } finally {
      receiver.close();
    }
  },
);

e2e("bad syslog settings are one line and exit 1", async (target) => {
  const cases: [string[], string][] = [
    [
      ["--log-syslog-facility", "local9"],
      'Error: --log-syslog-facility: Cannot read "syslog_facility": expected one of "kern", ',
    ],
    [
      ["--log-syslog-to", "http://logs:514"],
      'Error: --log-syslog-to: Cannot read "syslog_addr": expected udp://HOST:PORT, tcp://HOST:PORT or unix://PATH, got "http://logs:514"',
    ],
    [
      ["--log-syslog-to", "udp://logs:99999"],
      'Error: --log-syslog-to: Cannot read "syslog_addr": "99999" is not a valid port number in "udp://logs:99999"',
    ],
    [
      ["--log-syslog-to", "unix:///dev/log#seqpacket"],
      'Error: --log-syslog-to: Cannot read "syslog_addr": expected #dgram or #stream after the path, got "#seqpacket"',
    ],
  ];
  for (const [args, line] of cases) {
    const result = await run(target, ["--log-syslog", ...args, PID_APP]);
    assert.equal(result.code, 1, result.stderr);
    assert.ok(result.stderr.startsWith(line), result.stderr);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  }
});

e2e("rsyslogd reads appserve's lines over UDP, TCP and its unix socket", async (target) => {
  const dir = tempDir();
  const udp = await freePort();
  const tcp = await freePort();
  const rsyslog = startRsyslog(dir.path, udp, tcp);
  const out = join(dir.path, "out.log");
  const read = () => (existsSync(out) ? readFileSync(out, "utf8") : "");
  try {
    await eventually(() => existsSync(join(dir.path, "log.sock")), "rsyslogd's socket");
    const addrs = [
      [`udp://127.0.0.1:${udp}`, "udp"],
      [`tcp://127.0.0.1:${tcp}`, "tcp"],
      [`unix://${join(dir.path, "log.sock")}`, "unix"],
    ];
    for (const [addr, prefix] of addrs) {
      // rsyslog's imtcp takes a moment to listen; the retry covers that.
      const server = start(target, [
        "--log-syslog",
        "--log-syslog-to",
        addr,
        "--log-syslog-prefix",
        prefix,
        "--log-syslog-facility",
        "local5",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      const url = await server.ready(1);
      await get(`${url}/via-${prefix}`);
      await eventually(
        () =>
          read().includes(
            `local5|info|gunicorn.${prefix}.error| [${server.pid}] Starting appserve`,
          ) &&
          new RegExp(
            `local5\\|info\\|gunicorn\\.${prefix}\\.access\\| \\[\\d+\\] 127\\.0\\.0\\.1 .*"GET /via-${prefix} HTTP/1\\.1" 200`,
          )
            .test(read()),
        `${prefix} lines in rsyslog's file:\n${read()}\n${rsyslog.stderr}`,
      );
      await server.stop();
    }
  } finally {
    rsyslog.signal("SIGTERM");
    await rsyslog.exited;
    dir.remove();
  }
});
