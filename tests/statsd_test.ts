import assert from "node:assert/strict";
import { durationMs, type Metrics, MetricsSwitch, statsdPrefix } from "../src/log/statsd.ts";

Deno.test("durationMs() writes a duration as gunicorn's timer does: whole µs, a Python float", () => {
  assert.equal(durationMs(2.3822849999996834), "2.382");
  assert.equal(durationMs(12), "12.0");
  assert.equal(durationMs(0.0004), "0.0");
  assert.equal(durationMs(1500.0005), "1500.001");
  assert.equal(durationMs(0.1), "0.1");
});

Deno.test("statsdPrefix() appends gunicorn's dot", () => {
  assert.equal(statsdPrefix(""), "");
  assert.equal(statsdPrefix("app"), "app.");
  assert.equal(statsdPrefix("app."), "app.");
});

/** A Metrics that writes down what it is sent, and whether it was closed. */
function recorder(): Metrics & { lines: string[]; closed: boolean } {
  const lines: string[] = [];
  const self = {
    lines,
    closed: false,
    increment: (name: string) => void lines.push(`${name}:1|c`),
    timing: (name: string, ms: number | string) => void lines.push(`${name}:${ms}|ms`),
    gauge: (name: string, value: number) => void lines.push(`${name}:${value}|g`),
    close: () => {
      self.closed = true;
      return Promise.resolve();
    },
    flush: () => Promise.resolve(),
  };
  return self;
}

Deno.test("MetricsSwitch: what is sent while the new target is made goes to it; the old is closed", async () => {
  const [old, next] = [recorder(), recorder()];
  const metrics = new MetricsSwitch(old, "a");
  metrics.gauge("workers", 1);
  let opened!: () => void;
  const made = new Promise<void>((resolve) => opened = resolve);
  const switched = metrics.use("b", async () => {
    await made;
    return next;
  });
  metrics.gauge("workers", 2);
  opened();
  await switched;
  metrics.increment("requests");
  assert.deepEqual(old.lines, ["workers:1|g"]);
  assert.deepEqual(next.lines, ["workers:2|g", "requests:1|c"]);
  assert.ok(old.closed && !next.closed);
  // The same key again: kept, nothing made. "": none.
  await metrics.use("b", () => Promise.reject(new Error("not made again")));
  await metrics.use("", () => Promise.reject(new Error("not made for none")));
  metrics.gauge("workers", 3);
  assert.deepEqual(next.lines, ["workers:2|g", "requests:1|c"]);
  assert.ok(next.closed);
});

Deno.test("MetricsSwitch: a target that cannot be made leaves the old one, and is tried again", async () => {
  const [old, next] = [recorder(), recorder()];
  const metrics = new MetricsSwitch(old, "a");
  await assert.rejects(metrics.use("b", () => Promise.reject(new Error("no"))), /no/);
  metrics.gauge("workers", 1);
  assert.deepEqual(old.lines, ["workers:1|g"]);
  assert.ok(!old.closed);
  await metrics.use("b", () => Promise.resolve(next));
  metrics.gauge("workers", 2);
  assert.deepEqual(next.lines, ["workers:2|g"]);
});
