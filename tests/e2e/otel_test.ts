// OpenTelemetry request spans on the shared socket, under Deno workers with
// OTEL_DENO=true: a local OTLP/HTTP receiver sees each request's server span,
// continuing the caller's traceparent, with the app's own span and its fetch
// nested under it; a malformed traceparent starts a new trace; a collector that
// refuses connections costs no request.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  load,
  run,
  start,
  type Target,
  TARGETS,
  tempDir,
} from "../_helpers.ts";
import { type LogRecord, otlpReceiver, type Span } from "../_otlp.ts";
import { rawExchange } from "../_raw.ts";

const OTEL_APP = join(FIXTURES, "apps", "otel_app.ts");
const DENO_TARGETS = TARGETS.filter((t) => t.workers === "deno");
const SERVER = 2;

function otelEnv(endpoint: string): Record<string, string> {
  return {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_DENO_CONSOLE: "ignore",
    OTEL_SERVICE_NAME: "appserve-test",
    // Spans go out every 200 ms, not every 5 s.
    OTEL_BSP_SCHEDULE_DELAY: "200",
  };
}

function test(name: string, fn: (target: Target) => Promise<void>): void {
  for (const target of DENO_TARGETS) {
    Deno.test({
      name: `[${target.name}] ${name}`,
      fn: () => fn(target),
      sanitizeOps: false,
      sanitizeResources: false,
    });
  }
}

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

test("OTEL_DENO=true: each request's server span continues the traceparent, the app's spans nest under it", async (target) => {
  const receiver = otlpReceiver();
  try {
    const server = start(target, ["-b", "127.0.0.1:0", OTEL_APP], {
      env: otelEnv(receiver.endpoint),
    });
    const url = await server.ready(1);
    const answer = await get(`${url}/work?x=1`, {
      headers: { traceparent: `00-${TRACE}-${PARENT}-01`, "user-agent": "otel-test/1" },
    });
    assert.equal(answer.status, 200);
    // The app saw the span active, in the caller's trace; so did the request it sent itself.
    assert.equal(answer.body, `work trace ${TRACE}; /downstream trace ${TRACE}\n`);

    const find = (p: (s: Span) => boolean) => receiver.spans.find(p);
    const isWork = (s: Span) => s.kind === SERVER && s.attributes["url.path"] === "/work";
    await eventually(
      () =>
        !!find(isWork) && !!find((s) => s.name === "app-work") &&
        !!find((s) => s.kind === SERVER && s.attributes["url.path"] === "/downstream"),
      `the spans, got ${JSON.stringify(receiver.spans.map((s) => s.name))}`,
    );
    const work = find(isWork)!;
    assert.equal(work.name, "GET");
    assert.equal(work.traceId, TRACE);
    assert.equal(work.parentSpanId, PARENT);
    assert.equal(work.attributes["http.request.method"], "GET");
    assert.equal(work.attributes["url.query"], "x=1");
    assert.equal(work.attributes["url.scheme"], "http");
    assert.equal(work.attributes["http.response.status_code"], 200);
    assert.equal(work.attributes["client.address"], "127.0.0.1");
    assert.equal(work.attributes["server.address"], "127.0.0.1");
    assert.equal(work.attributes["server.port"], Number(new URL(url).port));
    assert.equal(work.attributes["user_agent.original"], "otel-test/1");
    assert.equal(work.attributes["network.protocol.version"], "1.1");
    const app = find((s) => s.name === "app-work")!;
    assert.equal(app.traceId, TRACE);
    assert.equal(app.parentSpanId, work.spanId);
    // The app's fetch is a client span under "app-work"; the downstream server span under it.
    const client = find((s) => s.traceId === TRACE && s.parentSpanId === app.spanId)!;
    assert.ok(client, JSON.stringify(receiver.spans));
    const down = find((s) => s.kind === SERVER && s.attributes["url.path"] === "/downstream")!;
    assert.equal(down.traceId, TRACE);
    assert.equal(down.parentSpanId, client.spanId);
    await server.stop();
  } finally {
    await receiver.close();
  }
});

test("OTEL_DENO=true: a malformed traceparent starts a new trace; the request is served", async (target) => {
  const receiver = otlpReceiver();
  try {
    const server = start(target, ["-b", "127.0.0.1:0", OTEL_APP], {
      env: otelEnv(receiver.endpoint),
    });
    const url = await server.ready(1);
    const answer = await get(`${url}/plain`, { headers: { traceparent: "00-nonsense-01" } });
    assert.equal(answer.status, 200);
    const traceId = /trace ([0-9a-f]{32})/.exec(answer.body)?.[1];
    assert.ok(traceId && traceId !== TRACE, answer.body);
    await eventually(
      () => receiver.spans.some((s) => s.attributes["url.path"] === "/plain"),
      "the span",
    );
    const span = receiver.spans.find((s) => s.attributes["url.path"] === "/plain")!;
    assert.equal(span.traceId, traceId);
    assert.equal(span.parentSpanId, "");
    await server.stop();
  } finally {
    await receiver.close();
  }
});

test("OTEL_DENO=true and --log-otel with a collector that refuses connections: no failed request", async (target) => {
  const port = await freePort();
  const server = start(target, ["--log-otel", "-w", "2", "-b", "127.0.0.1:0", OTEL_APP], {
    env: otelEnv(`http://127.0.0.1:${port}`),
  });
  const url = await server.ready(2);
  const result = await load(`${url}/plain`, 3, { connections: 8 }).done;
  assert.ok(result.requests > 100, result.report);
  assert.equal(result.failed, 0, result.report);
  assert.equal((await get(`${url}/after`)).status, 200);
  // One warning per process (master and two workers), however many records were dropped.
  const warning = new RegExp(
    `\\[(\\d+)\\] \\[WARNING\\] OpenTelemetry logs: cannot send to http://127\\.0\\.0\\.1:${port}/v1/logs \\(.+\\); records are dropped until it answers`,
    "g",
  );
  await eventually(() => server.all(warning).length === 3, `3 warnings in\n${server.stderr}`);
  assert.equal((await server.stop()).code, 0);
  assert.equal(server.all(warning).length, 3, server.stderr);
});

test("--log-otel: access records carry their request's span ids; error records their level", async (target) => {
  const receiver = otlpReceiver();
  try {
    const server = start(target, ["--log-otel", "-b", "127.0.0.1:0", OTEL_APP], {
      env: otelEnv(receiver.endpoint),
    });
    const url = await server.ready(1);
    await get(`${url}/logged`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } });
    const isAccess = (r: LogRecord) =>
      r.attributes["log.type"] === "access" && r.body.includes('"GET /logged HTTP/1.1" 200');
    await eventually(
      () => receiver.logs.some(isAccess) && receiver.spans.some((s) => s.traceId === TRACE),
      `the record and span, got ${JSON.stringify(receiver.logs.map((r) => r.body))}`,
    );
    const access = receiver.logs.find(isAccess)!;
    const span = receiver.spans.find((s) => s.traceId === TRACE && s.kind === SERVER)!;
    assert.equal(access.traceId, TRACE);
    assert.equal(access.spanId, span.spanId);
    assert.equal(access.severityNumber, 9);
    assert.equal(access.resource["service.name"], "appserve-test");
    const booting = receiver.logs.find((r) => /^Booting worker with pid: \d+$/.test(r.body))!;
    assert.ok(booting, JSON.stringify(receiver.logs.map((r) => r.body)));
    assert.equal(booting.attributes["log.type"], "error");
    assert.equal(booting.severityText, "INFO");
    assert.equal(booting.traceId, "");
    await server.stop();
    await eventually(
      () => receiver.logs.some((r) => r.body === "Shutting down: Master"),
      "the master's last record",
    );
  } finally {
    await receiver.close();
  }
});

for (const mode of [["-k", "gthread", "--threads", "2"], ["--reuse-port"]]) {
  test(`OTEL_DENO=true with ${mode.join(" ")}: one server span per request`, async (target) => {
    const receiver = otlpReceiver();
    try {
      // Each reuse-port worker binds the port itself: it must be known beforehand.
      const bind = `127.0.0.1:${await freePort()}`;
      const server = start(target, [...mode, "-b", bind, OTEL_APP], {
        env: otelEnv(receiver.endpoint),
      });
      const url = await server.ready(1);
      const answer = await get(`${url}/one`, {
        headers: { traceparent: `00-${TRACE}-${PARENT}-01` },
      });
      assert.equal(answer.body, `/one trace ${TRACE}\n`);
      const isOne = (s: Span) => s.kind === SERVER && s.traceId === TRACE;
      await eventually(() => receiver.spans.some(isOne), "the span");
      await server.stop();
      // Under --reuse-port Deno.serve's own span is the server span; appserve adds none.
      const spans = receiver.spans.filter(isOne);
      assert.equal(spans.length, 1, JSON.stringify(spans));
      assert.equal(spans[0].parentSpanId, PARENT);
    } finally {
      await receiver.close();
    }
  });
}

const OTEL_SDK_APP = join(FIXTURES, "apps", "otel_sdk_app.ts");
const BUN_WORKERS = TARGETS.filter((t) => t.workers === "bun");

for (const target of BUN_WORKERS) {
  Deno.test({
    name:
      `[${target.name}] an SDK the app registers: each request's server span continues the traceparent; --log-otel records carry its ids`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const receiver = otlpReceiver();
      try {
        const server = start(target, ["--log-otel", "-b", "127.0.0.1:0", OTEL_SDK_APP], {
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: "200" },
        });
        const url = await server.ready(1);
        const answer = await get(`${url}/work?x=1`, {
          headers: { traceparent: `00-${TRACE}-${PARENT}-01` },
        });
        // Bun's fetch injects no traceparent: the downstream request starts its own trace.
        assert.match(
          answer.body,
          new RegExp(`^work trace ${TRACE}; /downstream trace [0-9a-f]{32}\n$`),
        );
        const isWork = (s: Span) => s.kind === SERVER && s.attributes["url.path"] === "/work";
        await eventually(
          () => receiver.spans.some(isWork) && receiver.spans.some((s) => s.name === "app-work"),
          `the spans, got ${JSON.stringify(receiver.spans.map((s) => s.name))}`,
        );
        const work = receiver.spans.find(isWork)!;
        assert.equal(work.name, "GET");
        assert.equal(work.traceId, TRACE);
        assert.equal(work.parentSpanId, PARENT);
        assert.equal(work.attributes["http.response.status_code"], 200);
        assert.equal(work.attributes["client.address"], "127.0.0.1");
        const app = receiver.spans.find((s) => s.name === "app-work")!;
        assert.equal(app.traceId, TRACE);
        assert.equal(app.parentSpanId, work.spanId);
        // --log-otel: the access record carries the SDK's span ids.
        const isAccess = (r: LogRecord) => r.body.includes('"GET /work?x=1 HTTP/1.1" 200');
        await eventually(() => receiver.logs.some(isAccess), "the access record");
        const access = receiver.logs.find(isAccess)!;
        assert.equal(access.traceId, TRACE);
        assert.equal(access.spanId, work.spanId);
        await server.stop();
      } finally {
        await receiver.close();
      }
    },
  });
}

e2e(
  "--log-otel with an OTEL_EXPORTER_OTLP_ENDPOINT that is no http(s) URL is one line and exit 1",
  async (target) => {
    const result = await run(target, ["--log-otel", OTEL_APP], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://collector:4318" },
    });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      "Error: --log-otel: Cannot send OpenTelemetry logs: expected an http:// or https:// URL, " +
        'got "ftp://collector:4318/v1/logs"\n',
    );
  },
);

test("OTEL_DENO=true: the span's network.protocol.version is the request's HTTP version", async (target) => {
  const receiver = otlpReceiver();
  try {
    const server = start(target, ["-b", "127.0.0.1:0", OTEL_APP], {
      env: otelEnv(receiver.endpoint),
    });
    const url = await server.ready(1);
    const port = Number(new URL(url).port);
    const old = await rawExchange(port, "GET /plain?v=10 HTTP/1.0\r\nHost: x\r\n\r\n");
    assert.equal(old.status, 200, old.text);
    const keep = await rawExchange(
      port,
      "GET /plain?v=11 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.equal(keep.status, 200, keep.text);
    const span = (query: string) =>
      receiver.spans.find((s) => s.kind === SERVER && s.attributes["url.query"] === query);
    await eventually(() => !!span("v=10") && !!span("v=11"), "both spans");
    assert.equal(span("v=10")!.attributes["network.protocol.version"], "1.0");
    assert.equal(span("v=11")!.attributes["network.protocol.version"], "1.1");
    await server.stop();
  } finally {
    await receiver.close();
  }
});

const BURST_HOOKS = join(FIXTURES, "hooks", "burst_hooks.ts");
const BURST = 20_000;

/** A worker logging BURST lines at once, more than --log-otel queues (4096), to `receiver`. */
async function burst(target: Target, receiver: { endpoint: string }) {
  const dir = tempDir();
  const logfile = join(dir.path, "error.log");
  const server = start(
    target,
    [
      "--log-otel",
      "--hooks",
      BURST_HOOKS,
      "--error-logfile",
      logfile,
      "-b",
      "127.0.0.1:0",
      OTEL_APP,
    ],
    { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, BURST_LINES: String(BURST) } },
  );
  // Its lines go to the file, "Listening at" too.
  const log = () => {
    try {
      return readFileSync(logfile, "utf8");
    } catch {
      return "";
    }
  };
  await eventually(() => log().includes("burst done"), "the burst logged");
  return { server, log, remove: dir.remove };
}

e2e(
  "--log-otel with a healthy collector: a burst of records beyond the queue all arrive",
  async (target) => {
    const receiver = otlpReceiver();
    try {
      const { server, log, remove } = await burst(target, receiver);
      try {
        const count = () => receiver.logs.filter((r) => r.body.startsWith("burst ")).length;
        // A full batch goes out at once, not only once a second: nothing is dropped.
        await eventually(() => count() === BURST + 1, `${BURST + 1} burst records`, 30_000)
          .catch((error) => {
            throw new Error(`${error.message}, got ${count()}`);
          });
        assert.equal((await server.stop()).code, 0);
        assert.doesNotMatch(log(), /OpenTelemetry logs/);
      } finally {
        remove();
      }
    } finally {
      await receiver.close();
    }
  },
);

e2e(
  "--log-otel with a slow collector: dropping is one WARNING when it starts, one line with the count when it stops",
  async (target) => {
    const receiver = otlpReceiver({ delayMs: 3000 });
    try {
      const { server, log, remove } = await burst(target, receiver);
      try {
        const url = receiver.endpoint.replaceAll(".", "\\.");
        const started = new RegExp(
          `\\[WARNING\\] OpenTelemetry logs: ${url}/v1/logs is not keeping up \\(4096 records queued\\); records are dropped while it is behind`,
          "g",
        );
        const stopped = new RegExp(
          `\\[INFO\\] OpenTelemetry logs: ${url}/v1/logs is keeping up again; (\\d+) records dropped while it was behind`,
        );
        await eventually(
          () => stopped.test(log()),
          `the "keeping up" line in\n${log().slice(-1000)}`,
        );
        const own = () => log().split("\n").filter((l) => !l.includes("] burst ")).join("\n");
        assert.equal(log().match(started)?.length, 1, own());
        assert.equal(log().match(new RegExp(stopped, "g"))?.length, 1, own());
        const dropped = Number(log().match(stopped)![1]);
        assert.ok(dropped > 0 && dropped <= BURST, `${dropped}`);
        await server.stop();
      } finally {
        remove();
      }
    } finally {
      await receiver.close();
    }
  },
);

e2e(
  "--log-otel with a collector that never answers: a stop ends within the graceful timeout",
  async (target) => {
    // It takes the connection and the request, and says nothing.
    const held: import("node:net").Socket[] = [];
    const silent = createServer((socket) => held.push(socket.on("error", () => {})));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const server = start(
        target,
        ["--log-otel", "--graceful-timeout", "4", "-w", "1", "-b", "127.0.0.1:0", OTEL_APP],
        { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } },
      );
      const url = await server.ready(1);
      for (let i = 0; i < 20; i++) assert.equal((await get(`${url}/plain`)).status, 200);
      // The 1 s export timer has sent them: an export is out when the stop comes.
      await eventually(() => held.length >= 2, "the workers' and master's exports");
      const result = await server.stop();
      assert.equal(result.code, 0, server.stderr);
      // Waiting on the collector kept the worker until its graceful timeout killed it.
      assert.doesNotMatch(server.stderr, /did not exit within the graceful timeout/);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  },
);
