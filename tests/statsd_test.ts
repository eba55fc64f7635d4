import assert from "node:assert/strict";
import { durationMs, statsdPrefix } from "../src/log/statsd.ts";

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
