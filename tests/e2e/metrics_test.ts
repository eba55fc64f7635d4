// --metrics-bind: Prometheus metrics and /healthz from the master, aggregated across workers from
// the scoreboard; each scrape is read by a parser that holds it to the format's rules.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  hasStackTrace,
  run,
  start,
} from "../_helpers.ts";
import { parsePrometheus, type Sample, sampleValue } from "../_prometheus.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

async function scrape(base: string): Promise<Sample[]> {
  const answer = await get(`${base}/metrics`);
  assert.equal(answer.status, 200);
  assert.match(String(answer.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(answer.body);
}

e2e(
  "--metrics-bind serves the workers' requests, latency, workers and RSS, checked by a parser",
  async (target) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = start(target, [
      ...["-w", "2", "--metrics-bind", `127.0.0.1:${port}`, "-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.allAnswering(2);
    await server.waitFor(new RegExp(`Serving metrics at: ${base}/metrics`));
    const before = await scrape(base);
    const count = (s: Sample[], labels: Record<string, string>) =>
      sampleValue(s, "appserve_requests_total", labels) ?? 0;
    for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/a${i}`)).status, 200);
    for (let i = 0; i < 2; i++) {
      assert.equal(
        (await get(`${url}/boom`, { method: "POST" })).status,
        500,
      );
    }
    const after = await scrape(base);
    assert.equal(
      count(after, { method: "GET", status: "2xx" }) -
        count(before, { method: "GET", status: "2xx" }),
      5,
    );
    assert.equal(
      count(after, { method: "POST", status: "5xx" }) -
        count(before, { method: "POST", status: "5xx" }),
      2,
    );
    const total = (s: Sample[]) => sampleValue(s, "appserve_request_duration_seconds_count") ?? 0;
    assert.equal(total(after) - total(before), 7);
    assert.equal(sampleValue(after, "appserve_workers"), 2);
    assert.equal(sampleValue(after, "appserve_workers_configured"), 2);
    assert.equal(sampleValue(after, "appserve_requests_in_flight"), 0);
    const pids = childPids(server.pid).sort();
    const rss = after.filter((s) => s.name === "appserve_worker_rss_bytes");
    assert.deepEqual(rss.map((s) => Number(s.labels.pid)).sort(), pids);
    assert.ok(rss.every((s) => s.value > 10e6), JSON.stringify(rss));
    assert.ok(
      after.filter((s) => s.name === "appserve_worker_age_seconds").every((s) => s.value > 0),
    );
    assert.equal(after.find((s) => s.name === "appserve_build_info")?.labels.version, "0.1.0");
    // Counters survive their worker: a worker killed is replaced, and its requests still count.
    process.kill(pids[0], "SIGKILL");
    await eventually(
      async () =>
        sampleValue(await scrape(base), "appserve_worker_restarts_total", { reason: "exit" }) === 1,
      "the restart counted",
    );
    const later = await scrape(base);
    assert.ok(total(later) >= total(after), `${total(later)} < ${total(after)}`);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "/healthz is 503 while workers boot or a worker is stuck, 200 when all serve",
  async (target) => {
    const port = await freePort();
    const health = `http://127.0.0.1:${port}/healthz`;
    const server = start(target, [
      ...[
        "-w",
        "2",
        "-t",
        "4",
        "--metrics-bind",
        `127.0.0.1:${port}`,
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ],
    ]);
    // The metrics listener opens before any worker is started.
    await server.waitFor(/Serving metrics at/);
    const early = await get(health);
    assert.equal(early.status, 503, `${early.body}\n${server.stderr}`);
    const url = await server.allAnswering(2);
    await eventually(async () => (await get(health)).status === 200, "healthz 200");
    get(`${url}/spin?ms=600000`).catch(() => {});
    // Two missed heartbeats make it 503, before --timeout kills the stuck worker.
    await eventually(async () => (await get(health)).status === 503, "healthz 503 (stuck worker)");
    await server.waitFor(/WORKER TIMEOUT/);
    await eventually(async () => (await get(health)).status === 200, "healthz 200 again");
    const samples = parsePrometheus((await get(`http://127.0.0.1:${port}/metrics`)).body);
    assert.equal(sampleValue(samples, "appserve_worker_restarts_total", { reason: "timeout" }), 1);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e("a --metrics-bind address that is taken or invalid is one line and exit 1", async (target) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  try {
    const port = (taken.address() as { port: number }).port;
    const result = await run(target, [
      "--metrics-bind",
      `127.0.0.1:${port}`,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `--metrics-bind: Cannot listen on "127\\.0\\.0\\.1:${port}": address already in use`,
      ),
    );
    assert.doesNotMatch(result.stderr, /Listening at/);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    const invalid = await run(target, ["--metrics-bind", "fd://3", PID_APP]);
    assert.equal(invalid.code, 1, invalid.stderr);
    assert.match(
      invalid.stderr,
      /metrics.bind.*Invalid metrics bind "fd:\/\/3": use HOST:PORT or unix:PATH/,
    );
    assert.equal(invalid.stderr.trim().split("\n").length, 1, invalid.stderr);
  } finally {
    taken.close();
  }
});

e2e(
  "--metrics-bind counts gthread threads' requests (summed by the worker on its heartbeat)",
  async (target) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = start(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "2", "--metrics-bind", `127.0.0.1:${port}`],
      ...["-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.ready(1);
    const gets = async () =>
      sampleValue(await scrape(base), "appserve_requests_total", {
        method: "GET",
        status: "2xx",
      }) ?? 0;
    await eventually(async () => (await gets()) > 0, "the readiness probe counted");
    const before = await gets();
    for (let i = 0; i < 4; i++) assert.equal((await get(`${url}/t${i}`)).status, 200);
    await eventually(async () => (await gets()) === before + 4, "4 more GETs counted");
    assert.equal((await server.stop()).code, 0);
  },
);
