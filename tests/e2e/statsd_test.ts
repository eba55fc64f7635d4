// --statsd-host: gunicorn's metrics arrive as UDP datagrams on a local socket;
// an unresolvable host is warned about once and serving goes on.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { e2e, eventually, FIXTURES, freePort, get, run, start, tempDir } from "../_helpers.ts";
import { parsePrometheus, sampleValue } from "../_prometheus.ts";
import { childPids, whileStopped } from "../_procs.ts";
import { rawConnect, rawExchange } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

async function udpReceiver(): Promise<{ port: number; metrics: string[]; close(): void }> {
  const socket = createSocket("udp4");
  const metrics: string[] = [];
  // hot-shots puts several metrics in one datagram, one per line.
  socket.on("message", (data) => metrics.push(...String(data).split("\n").filter((m) => m)));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { port: socket.address().port, metrics, close: () => socket.close() };
}

function sendGarbage(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.end("NOT HTTP\r\n\r\n"));
    socket.on("data", () => {});
    socket.on("close", () => resolve());
    socket.on("error", () => resolve());
  });
}

e2e("--statsd-host sends gunicorn's metrics over UDP", async (target) => {
  const receiver = await udpReceiver();
  try {
    const server = start(target, [
      "--statsd-host",
      `127.0.0.1:${receiver.port}`,
      "--statsd-prefix",
      "app",
      "-w",
      "2",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready(2);
    await get(`${url}/a`);
    await get(`${url}/boom`);
    await sendGarbage(Number(new URL(url).port));
    const has = (pattern: RegExp) => receiver.metrics.some((m) => pattern.test(m));
    const expected = [
      /^app\.gunicorn\.workers:2\|g$/,
      // gunicorn's lines: counters with their sample rate, a duration in whole microseconds
      // written as Python writes a float.
      /^app\.gunicorn\.requests:1\|c\|@1\.0$/,
      /^app\.gunicorn\.request\.duration:\d+\.\d{1,3}\|ms$/,
      /^app\.gunicorn\.request\.status\.200:1\|c\|@1\.0$/,
      /^app\.gunicorn\.request\.status\.500:1\|c\|@1\.0$/,
      /^app\.gunicorn\.log\.exception:1\|c\|@1\.0$/,
      /^app\.gunicorn\.log\.warning:1\|c\|@1\.0$/,
    ];
    await eventually(() => expected.every(has), "every metric");
    await server.stop();
  } finally {
    receiver.close();
  }
});

e2e(
  "the statsd gauge gunicorn.workers is sent on every change and again every 5 s",
  async (target) => {
    const receiver = await udpReceiver();
    try {
      const server = start(target, [
        ...["--statsd-host", `127.0.0.1:${receiver.port}`, "-w", "1", "-b", "127.0.0.1:0"],
        PID_APP,
      ]);
      await server.ready(1);
      const gauges = () => receiver.metrics.filter((m) => m.startsWith("gunicorn.workers:"));
      // Sent when the workers are started (-1 -> 1 is a change), before they even serve: not
      // first by the refresh 5 s later. A listener must read every line of a datagram for it.
      await eventually(() => gauges().includes("gunicorn.workers:1|g"), "the first gauge", 2000);
      // Unchanged, it comes again at a steady interval (two more within about 10 s).
      const first = gauges().length;
      await eventually(() => gauges().length >= first + 2, "the gauge again, twice", 15_000);
      assert.ok(gauges().slice(first).every((g) => g === "gunicorn.workers:1|g"), gauges().join());
      // A change is sent at once, without waiting for the interval.
      server.signal("SIGTTIN");
      await eventually(() => gauges().includes("gunicorn.workers:2|g"), "the change", 4000);
      await server.stop();
    } finally {
      receiver.close();
    }
  },
);

e2e(
  "an unresolvable --statsd-host is warned about once per process; serving goes on",
  async (target) => {
    const server = start(target, [
      "--statsd-host",
      "no-such-host.invalid:8125",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready(1);
    for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/x${i}`)).status, 200);
    const warning = /\[(\d+)\] \[WARNING\] statsd: cannot send to no-such-host\.invalid:8125 /g;
    await eventually(() => [...server.stderr.matchAll(warning)].length >= 2, "the warnings");
    for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/y${i}`)).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    const pids = [...server.stderr.matchAll(warning)].map((m) => m[1]);
    assert.equal(new Set(pids).size, pids.length, `one warning per process: ${pids}`);
    assert.equal(pids.length, 2, "master and worker");
    await server.stop();
  },
);

e2e("--dogstatsd-tags appends its tags to every metric", async (target) => {
  const receiver = await udpReceiver();
  try {
    const server = start(target, [
      "--statsd-host",
      `127.0.0.1:${receiver.port}`,
      "--dogstatsd-tags",
      "env:test,role:web",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ], {
      // The statsd library would add these as tags of its own; gunicorn sends none of them.
      env: { DD_ENV: "prod", DD_SERVICE: "svc", DD_TAGS: "team:x", DD_ENTITY_ID: "e1" },
    });
    const url = await server.ready(1);
    await get(`${url}/a`);
    const has = (pattern: RegExp) => receiver.metrics.some((m) => pattern.test(m));
    await eventually(
      () =>
        has(/^gunicorn\.requests:1\|c\|@1\.0\|#env:test,role:web$/) &&
        has(/^gunicorn\.workers:1\|g\|#env:test,role:web$/),
      "tagged metrics",
    );
    assert.ok(
      receiver.metrics.every((m) => m.endsWith("|#env:test,role:web")),
      receiver.metrics.join("\n"),
    );
    await server.stop();
  } finally {
    receiver.close();
  }
});

e2e("a --dogstatsd-tags tag with a | in it is one line and exit 1", async (target) => {
  const result = await run(target, [
    "--statsd-host",
    "127.0.0.1:8125",
    "--dogstatsd-tags",
    "env:test,a|b",
    PID_APP,
  ]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'Error: --dogstatsd-tags: Cannot read "dogstatsd_tags": a tag cannot hold "|", "#", "@" or spaces: "a|b"\n',
  );
});

e2e(
  "--enable-backlog-metric sends gunicorn.backlog: the TCP and unix listen queues, summed",
  async (target) => {
    const receiver = await udpReceiver();
    const dir = tempDir();
    const path = join(dir.path, "app.sock");
    const statsd = ["--statsd-host", `127.0.0.1:${receiver.port}`];
    const sockets: Socket[] = [];
    const server = start(target, [
      ...[...statsd, "--enable-backlog-metric", "-w", "1"],
      ...["-b", "127.0.0.1:0", "-b", `unix:${path}`, PID_APP],
    ]);
    try {
      const url = await server.ready(1);
      const backlogs = () => receiver.metrics.filter((m) => m.startsWith("gunicorn.backlog:"));
      await eventually(() => backlogs().includes("gunicorn.backlog:0|ms"), "an idle backlog");
      const [worker] = childPids(server.pid);
      await whileStopped([worker], async () => {
        // Completed by the kernel and queued: no worker accepts while it is stopped.
        for (let i = 0; i < 3; i++) sockets.push(await rawConnect(Number(new URL(url).port)));
        for (let i = 0; i < 4; i++) sockets.push(await rawConnect(path));
        sockets.forEach((s) => s.on("error", () => {}));
        await eventually(() => backlogs().includes("gunicorn.backlog:7|ms"), "7 queued");
      });
    } finally {
      sockets.forEach((s) => s.destroy());
      await server.stop();
      receiver.close();
      dir.remove();
    }
  },
);

e2e(
  "--enable-backlog-metric --reuse-port counts a worker's socket once, two addresses on one port",
  async (target) => {
    const receiver = await udpReceiver();
    const port = await freePort();
    const sockets: Socket[] = [];
    const server = start(target, [
      ...["--statsd-host", `127.0.0.1:${receiver.port}`, "--enable-backlog-metric"],
      ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`, "-b", `127.0.0.2:${port}`],
      PID_APP,
    ]);
    try {
      await server.ready(1);
      for (const host of ["127.0.0.1", "127.0.0.2"]) {
        assert.equal((await get(`http://${host}:${port}/`)).status, 200);
      }
      const backlogs = () => receiver.metrics.filter((m) => m.startsWith("gunicorn.backlog:"));
      await eventually(() => backlogs().includes("gunicorn.backlog:0|ms"), "an idle backlog");
      const [worker] = childPids(server.pid);
      await whileStopped([worker], async () => {
        for (let i = 0; i < 3; i++) sockets.push(await rawConnect(port));
        sockets.forEach((s) => s.on("error", () => {}));
        // Bun's server defers accepting a connection until its first bytes come.
        sockets.forEach((s) => s.write("GET /q HTTP/1.1\r\nhost: x\r\n\r\n"));
        await eventually(() => backlogs().includes("gunicorn.backlog:3|ms"), "3 queued");
        // Counted under both addresses, the sum would pass 3.
        const values = backlogs().map((m) => Number(/:(\d+)\|/.exec(m)![1]));
        assert.ok(values.every((n) => n <= 3), backlogs().join());
      });
    } finally {
      sockets.forEach((s) => s.destroy());
      await server.stop();
      receiver.close();
    }
  },
);

e2e("without --enable-backlog-metric no gunicorn.backlog is sent", async (target) => {
  const receiver = await udpReceiver();
  const server = start(target, [
    ...["--statsd-host", `127.0.0.1:${receiver.port}`, "-b", "127.0.0.1:0", PID_APP],
  ]);
  try {
    await server.ready(1);
    const gauges = () => receiver.metrics.filter((m) => m.startsWith("gunicorn.workers:"));
    await eventually(() => gauges().includes("gunicorn.workers:1|g"), "the gauge");
    // Two turns of the master's loop, each sending its gauge as it changes: with the metric
    // on, the first turn would have sent gunicorn.backlog, and datagrams arrive in order.
    server.signal("SIGTTIN");
    await eventually(() => gauges().includes("gunicorn.workers:2|g"), "2 workers");
    server.signal("SIGTTOU");
    await eventually(() => gauges().lastIndexOf("gunicorn.workers:1|g") > 0, "1 worker again");
    assert.deepEqual(receiver.metrics.filter((m) => m.startsWith("gunicorn.backlog")), []);
  } finally {
    await server.stop();
    receiver.close();
  }
});

// Workers batch their metrics for 100 ms; a worker that exits sends its last batch first
// (gunicorn sends each metric as it happens: none is lost on a graceful exit).
for (
  const [how, extra] of [
    ["TERM to the master", []],
    ["HUP's new generation replacing the old", []],
    ["max-requests retiring workers", ["--max-requests", "3"]],
    ["TERM to the master, gthread", ["--threads", "2"]],
    ["QUIT to the worker (a quick stop), gthread", ["--threads", "2"]],
  ] as const
) {
  e2e(`every request is counted in statsd when workers exit: ${how}`, async (target) => {
    const receiver = await udpReceiver();
    const server = start(target, [
      ...["--statsd-host", `127.0.0.1:${receiver.port}`, "-w", "1", "-b", "127.0.0.1:0"],
      ...extra,
      PID_APP,
    ]);
    const counted = () => receiver.metrics.filter((m) => m === "gunicorn.requests:1|c|@1.0").length;
    try {
      const url = await server.ready(1);
      // ready()'s own request, sent within the worker's first 100 ms batch.
      await eventually(() => counted() >= 1, "ready()'s request counted");
      const requests = 20 + counted();
      // Paced as curl in a shell loop is: the batches of several flush intervals, the last one
      // at the exit (back to back, 20 requests fit one batch, which a lucky exit may still send).
      for (let i = counted(); i < requests; i++) {
        assert.equal((await get(`${url}/r${i}`)).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      if (how.startsWith("HUP")) {
        const [old] = childPids(server.pid);
        server.signal("SIGHUP");
        await server.waitFor(new RegExp(`Worker exiting \\(pid: ${old}\\)`));
        await eventually(() => !childPids(server.pid).includes(old), "the old worker gone");
      }
      if (how.startsWith("QUIT")) {
        // Straight to the worker: its threads' batch is the one of the last moment.
        const [worker] = childPids(server.pid);
        process.kill(worker, "SIGQUIT");
        await eventually(() => !childPids(server.pid).includes(worker), "the worker gone");
      }
      await server.stop();
      // Sent before each worker exited; read here a moment later.
      await eventually(() => counted() >= requests, `${requests} requests counted`, 2000)
        .catch(() => {});
      assert.equal(counted(), requests, `counted ${counted()} of ${requests}`);
    } finally {
      await server.stop();
      receiver.close();
    }
  });
}

// As gunicorn's reload sets statsd up again: after a HUP to a new statsd_host and statsd_prefix, the
// master's metrics (the workers gauge) and the new workers' (requests) go to the new receiver.
e2e("HUP with a changed statsd_host sends the metrics to the new one", async (target) => {
  const [first, second] = [await udpReceiver(), await udpReceiver()];
  const dir = tempDir();
  const conf = join(dir.path, "appserve.toml");
  const toml = (port: number, prefix: string) =>
    `statsd_host = "127.0.0.1:${port}"\nstatsd_prefix = "${prefix}"\nbind = ["127.0.0.1:0"]\n`;
  writeFileSync(conf, toml(first.port, "old"));
  const server = start(target, ["-c", conf, "-w", "1", PID_APP]);
  const got = (receiver: { metrics: string[] }, line: string) => receiver.metrics.includes(line);
  try {
    const url = await server.ready(1);
    await eventually(() => got(first, "old.gunicorn.workers:1|g"), "the first receiver's gauge");
    writeFileSync(conf, toml(second.port, "new"));
    server.signal("SIGHUP");
    await server.waitFor(/Hang up: Master/);
    await eventually(() => got(second, "new.gunicorn.workers:2|g"), "the master's gauge, moved");
    // The new generation alone serves once the gauge says 1 again.
    await eventually(() => got(second, "new.gunicorn.workers:1|g"), "the old worker retired");
    assert.equal((await get(url)).status, 200);
    await eventually(() => got(second, "new.gunicorn.requests:1|c|@1.0"), "a new worker's count");
    assert.ok(!second.metrics.some((m) => m.startsWith("old.")), second.metrics.join(" "));
  } finally {
    await server.stop();
    first.close();
    second.close();
    dir.remove();
  }
});

// A reload that fails keeps the old configuration, its statsd target with it.
e2e(
  "HUP with a changed statsd_host and a broken app keeps the old statsd target",
  async (target) => {
    const [first, second] = [await udpReceiver(), await udpReceiver()];
    const dir = tempDir();
    const conf = join(dir.path, "appserve.toml");
    const app = join(dir.path, "app.ts");
    copyFileSync(PID_APP, app);
    const toml = (port: number, prefix: string) =>
      `statsd_host = "127.0.0.1:${port}"\nstatsd_prefix = "${prefix}"\nbind = ["127.0.0.1:0"]\n`;
    writeFileSync(conf, toml(first.port, "old"));
    const server = start(target, ["-c", conf, "-w", "1", app]);
    const got = (metrics: string[], line: string) => metrics.includes(line);
    try {
      await server.ready(1);
      await eventually(() => got(first.metrics, "old.gunicorn.workers:1|g"), "the first gauge");
      writeFileSync(conf, toml(second.port, "new"));
      writeFileSync(app, 'throw new Error("broken on purpose");\n');
      server.signal("SIGHUP");
      await eventually(() => got(second.metrics, "new.gunicorn.workers:2|g"), "the HUP's gauge");
      const mark = first.metrics.length;
      await server.waitFor(/Reload failed, keeping the running workers/);
      // The failed worker gone, the count is the old generation's again, told to the old target.
      await eventually(
        () => got(first.metrics.slice(mark), "old.gunicorn.workers:1|g"),
        "rolled back",
      );
      assert.ok(!got(second.metrics, "new.gunicorn.workers:1|g"), second.metrics.join(" "));
    } finally {
      await server.stop();
      first.close();
      second.close();
      dir.remove();
    }
  },
);

e2e("the app's process.exit() still sends the worker's last statsd batch", async (target) => {
  const receiver = await udpReceiver();
  const server = start(target, [
    ...["--statsd-host", `127.0.0.1:${receiver.port}`, "-w", "1", "-b", "127.0.0.1:0", PID_APP],
  ]);
  const counted = () => receiver.metrics.filter((m) => m === "gunicorn.requests:1|c|@1.0").length;
  try {
    const url = await server.ready(1);
    await eventually(() => counted() >= 1, "ready()'s request counted");
    const requests = 5 + counted();
    for (let i = counted(); i < requests; i++) {
      assert.equal((await get(`${url}/r${i}`)).status, 200);
    }
    const [worker] = childPids(server.pid);
    // Within the same 100 ms batch as the requests before it; never answered itself.
    await get(`${url}/exit?code=0`).catch(() => {});
    await eventually(() => !childPids(server.pid).includes(worker), "the worker gone");
    await eventually(() => counted() >= requests, `${requests} requests counted`, 2000)
      .catch(() => {});
    assert.equal(counted(), requests, `counted ${counted()} of ${requests}`);
  } finally {
    await server.stop();
    receiver.close();
  }
});

// What appserve answers itself: a request its parser (or the native server) rejects gets a
// warning, no access line and no count (as gunicorn, which logs no access line for a request it
// could not parse); one refused after parsing (413) gets all three.
for (
  const args of [[], ["-k", "sync"], ["-k", "gthread", "--threads", "2"], ["--reuse-port"]]
) {
  e2e(
    `bad requests: the access log, statsd and Prometheus count the same ${args.join(" ")}`,
    async (target) => {
      const receiver = await udpReceiver();
      const dir = tempDir();
      const file = join(dir.path, "access.log");
      const metricsPort = await freePort();
      const port = await freePort();
      const server = start(target, [
        ...args,
        ...["--statsd-host", `127.0.0.1:${receiver.port}`],
        ...["--metrics-bind", `127.0.0.1:${metricsPort}`],
        ...["--access-logfile", file, "--access-logformat", "%(s)s %(U)s"],
        ...["--header-map", "refuse", "--limit-request-body", "10"],
        ...["-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      try {
        await server.ready(1);
        const requests = [
          "NOT HTTP\r\n\r\n",
          "GET /u HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\nConnection: close\r\n\r\n",
          "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\nConnection: close\r\n\r\n" +
          "x".repeat(20),
          "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ];
        const statuses = [];
        for (const r of requests) statuses.push((await rawExchange(port, r)).status);
        assert.deepEqual(statuses, [400, 400, 413, 200]);
        // The statuses of the access lines (the last request's written last).
        const lines = () =>
          readFileSync(file, "utf8").split("\n").filter((l) => l).map((l) => l.split(" ")[0]);
        await eventually(() => readFileSync(file, "utf8").includes("200 /ok\n"), "the lines");
        // Each status as often as it has an access line: statsd's counters...
        const byStatus = (list: string[]) =>
          list.reduce<Record<string, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {});
        const logged = byStatus(lines());
        const sent = () =>
          byStatus(receiver.metrics.flatMap((m) => {
            const status = /^gunicorn\.request\.status\.(\d+):1\|c/.exec(m);
            return status ? [status[1]] : [];
          }));
        await eventually(
          () => JSON.stringify(sent()) === JSON.stringify(logged),
          "statsd's counts",
        ).catch(() => {});
        assert.deepEqual(sent(), logged);
        const requestsSent = receiver.metrics.filter((m) => /^gunicorn\.requests:1\|c/.test(m));
        assert.equal(requestsSent.length, lines().length);
        // ...and Prometheus's, by status class.
        const classes = byStatus(lines().map((s) => `${s[0]}xx`));
        const scraped = async () => {
          const samples = parsePrometheus(
            (await get(`http://127.0.0.1:${metricsPort}/metrics`)).body,
          );
          const n: Record<string, number> = {};
          for (const c of ["1xx", "2xx", "3xx", "4xx", "5xx"]) {
            const total = ["GET", "POST"].reduce(
              (sum, method) =>
                sum + (sampleValue(samples, "appserve_requests_total", { method, status: c }) ?? 0),
              0,
            );
            if (total > 0) n[c] = total;
          }
          return n;
        };
        let counted: Record<string, number> = {};
        await eventually(async () => {
          counted = await scraped();
          return JSON.stringify(counted) === JSON.stringify(classes);
        }, "Prometheus's counts").catch(() => {});
        assert.deepEqual(counted, classes);
        await server.stop();
      } finally {
        await server.stop();
        receiver.close();
        dir.remove();
      }
    },
  );
}
