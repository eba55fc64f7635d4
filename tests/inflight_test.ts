import assert from "node:assert/strict";
import { describeInflight, INFLIGHT_BYTES, InflightTable } from "../src/ipc/inflight.ts";

Deno.test("InflightTable.read() returns named requests oldest first, and counts the rest", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.put(3, "POST", "/b", "[::1]:9", 2000);
  table.put(0, "GET", "/a?x=1", "127.0.0.1:80", 1000);
  table.overflow(1);
  table.overflow(1);
  table.overflow(-1);
  const { requests, more } = table.read();
  assert.deepEqual(requests.map((r) => [r.method, r.target, r.client, r.start]), [
    ["GET", "/a?x=1", "127.0.0.1:80", 1000],
    ["POST", "/b", "[::1]:9", 2000],
  ]);
  assert.equal(more, 1);
  table.free(0);
  assert.deepEqual(table.read().requests.map((r) => r.target), ["/b"]);
});

Deno.test("InflightTable.put() cuts a long target and writes other than printable ASCII as ?", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.put(1, "GET", `/é\n${"y".repeat(500)}`, "", 5);
  const [request] = table.read().requests;
  assert.ok(request.target.startsWith("/??yyy"));
  assert.ok(request.target.length < 200);
  assert.equal(request.client, "-");
});

Deno.test("describeInflight() cuts the query to 64 characters and gives seconds", () => {
  const line = describeInflight(
    { method: "GET", target: `/p?${"q".repeat(100)}`, client: "1.2.3.4:5", start: 1000 },
    3500,
  );
  assert.equal(line, `GET /p?${"q".repeat(64)}… from 1.2.3.4:5 for 2.5 s`);
});
