import assert from "node:assert/strict";
import { countRequest, countWebSockets, METRIC_COUNTERS } from "../src/ipc/request_metrics.ts";
import { renderMetrics } from "../src/master/prometheus_text.ts";
import { parsePrometheus, sampleValue } from "./_prometheus.ts";

Deno.test("renderMetrics() writes what the format's rules accept, buckets cumulative", () => {
  const counters = new Float64Array(METRIC_COUNTERS);
  countRequest(counters, "GET", 200, 0.002);
  countRequest(counters, "BREW", 418, 0.3);
  countRequest(counters, "GET", 503, 60);
  countWebSockets(counters, { opened: 5, closed: 2 }, { opened: 0, closed: 0 });
  const samples = parsePrometheus(renderMetrics({
    version: '1"\\x',
    runtime: "bun 1.4.4",
    workerRuntime: "deno 2.9.6",
    configured: 2,
    workers: [
      { pid: 7, ageSeconds: 1.5, rss: 1000, connections: 3, requests: 2 },
      { pid: 8, ageSeconds: 2, rss: undefined, connections: undefined, requests: undefined },
    ],
    counters,
    inFlight: 1,
    websockets: 3,
    restarts: { exit: 1, timeout: 0 },
    backlog: [
      { listener: 'unix:/tmp/a"b', queued: 0 },
      { listener: "http://127.0.0.1:80", pid: 7, queued: 4 },
      { listener: "http://127.0.0.1:80", pid: 8, queued: 1 },
      // A second socket of worker 8 under the same address: one sample, summed.
      { listener: "http://127.0.0.1:80", pid: 8, queued: 2 },
    ],
    dropped: { syslog: 5, otel: 0 },
  }));
  assert.equal(
    sampleValue(samples, "appserve_requests_total", { method: "other", status: "4xx" }),
    1,
  );
  assert.equal(
    sampleValue(samples, "appserve_request_duration_seconds_bucket", { le: "0.005" }),
    1,
  );
  assert.equal(sampleValue(samples, "appserve_request_duration_seconds_bucket", { le: "0.5" }), 2);
  assert.equal(sampleValue(samples, "appserve_request_duration_seconds_count"), 3);
  assert.equal(samples.find((s) => s.name === "appserve_build_info")?.labels.version, '1"\\x');
  assert.equal(samples.filter((s) => s.name === "appserve_worker_rss_bytes").length, 1);
  assert.equal(sampleValue(samples, "appserve_connections"), 3);
  assert.equal(sampleValue(samples, "appserve_worker_connections", { pid: "7" }), 3);
  assert.equal(samples.filter((s) => s.name === "appserve_worker_connections").length, 1);
  assert.equal(sampleValue(samples, "appserve_worker_requests_total", { pid: "7" }), 2);
  const listener = { listener: "http://127.0.0.1:80" };
  assert.equal(sampleValue(samples, "appserve_listen_backlog", listener), 7);
  assert.equal(sampleValue(samples, "appserve_listen_backlog", { listener: 'unix:/tmp/a"b' }), 0);
  assert.equal(
    sampleValue(samples, "appserve_worker_listen_backlog", { ...listener, pid: "8" }),
    3,
  );
  assert.equal(sampleValue(samples, "appserve_log_dropped_total", { sender: "syslog" }), 5);
  assert.equal(sampleValue(samples, "appserve_log_dropped_total", { sender: "otel" }), 0);
  assert.equal(sampleValue(samples, "appserve_websockets_open"), 3);
  assert.equal(sampleValue(samples, "appserve_websocket_upgrades_total"), 5);
});

Deno.test("parsePrometheus() refuses what a Prometheus server would", () => {
  assert.throws(() => parsePrometheus("x 1\n"), /before its TYPE/);
  assert.throws(() => parsePrometheus('# TYPE x gauge\nx{a="1} 1\n'), /bad labels/);
  assert.throws(() => parsePrometheus("# TYPE x gauge\nx one\n"), /bad value/);
  assert.throws(() => parsePrometheus("# TYPE x gauge\nx 1"), /newline/);
  assert.throws(
    () => parsePrometheus('# TYPE x gauge\nx{a="1",b="2"} 1\nx{b="2",a="1"} 2\n'),
    /duplicate sample/,
  );
  const histogram = "# TYPE h histogram\n" +
    'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n';
  assert.throws(() => parsePrometheus(histogram), /buckets go down/);
});
