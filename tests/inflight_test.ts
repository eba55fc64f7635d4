import assert from "node:assert/strict";
import {
  describeInflight,
  INFLIGHT_BYTES,
  INFLIGHT_ENTRIES,
  InflightTable,
} from "../src/ipc/inflight.ts";

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

Deno.test("InflightTable.at() names the request of one entry, if it holds one", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.put(5, "GET", "/five", "10.0.0.5:80", 1500);
  assert.deepEqual(table.at(5), {
    method: "GET",
    target: "/five",
    client: "10.0.0.5:80",
    start: 1500,
    entry: 5,
  });
  assert.deepEqual(table.read().requests, [table.at(5)]);
  assert.equal(table.at(4), undefined);
  // An entry the table does not have (a request only counted): none.
  assert.equal(table.at(-1), undefined);
  assert.equal(table.at(INFLIGHT_ENTRIES), undefined);
  table.free(5);
  assert.equal(table.at(5), undefined);
});

Deno.test("InflightTable.put() cuts a long target and writes other than printable ASCII as ?", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.put(1, "GET", `/é\n${"y".repeat(500)}`, "", 5);
  const [request] = table.read().requests;
  assert.ok(request.target.startsWith("/??yyy"));
  assert.ok(request.target.length < 200);
  assert.equal(request.client, "-");
});

Deno.test("InflightTable.request() names each request whatever it repeats of the entry's last", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  const named = () => table.read().requests.map((r) => [r.method, r.target, r.client, r.start]);
  table.request(0, "GET", "http://h:1/a?x=1", "127.0.0.1", 5000, 1);
  assert.deepEqual(named(), [["GET", "/a?x=1", "127.0.0.1:5000", 1]]);
  table.free(0);
  // The same but the port; then the same but the host; then all of it again.
  table.request(0, "GET", "http://h:1/a?x=1", "127.0.0.1", 5001, 2);
  assert.deepEqual(named(), [["GET", "/a?x=1", "127.0.0.1:5001", 2]]);
  table.request(0, "GET", "http://h:1/a?x=1", "10.0.0.1", 5001, 3);
  assert.deepEqual(named(), [["GET", "/a?x=1", "10.0.0.1:5001", 3]]);
  table.request(0, "GET", "http://h:1/a?x=1", "10.0.0.1", 5001, 4);
  assert.deepEqual(named(), [["GET", "/a?x=1", "10.0.0.1:5001", 4]]);
  table.request(0, "POST", "https://h/b", "::1", 5001, 5);
  assert.deepEqual(named(), [["POST", "/b", "[::1]:5001", 5]]);
  // put() writes over what request() left; the next request() writes all of its own again.
  table.put(0, "DELETE", "/raw", "unix", 6);
  assert.deepEqual(named(), [["DELETE", "/raw", "unix", 6]]);
  table.request(0, "POST", "https://h/b", "::1", 5001, 7);
  assert.deepEqual(named(), [["POST", "/b", "[::1]:5001", 7]]);
  // clear() zeroes the bytes: the same request then is written whole.
  table.clear();
  table.request(0, "POST", "https://h/b", "::1", 5001, 8);
  assert.deepEqual(named(), [["POST", "/b", "[::1]:5001", 8]]);
  table.request(1, "GET", "http://h", "unix", -1, 9);
  assert.deepEqual(named()[1], ["GET", "/", "unix", 9]);
});

Deno.test("describeInflight() cuts the query to 64 characters and gives seconds", () => {
  const line = describeInflight(
    { method: "GET", target: `/p?${"q".repeat(100)}`, client: "1.2.3.4:5", start: 1000, entry: 0 },
    3500,
  );
  assert.equal(line, `GET /p?${"q".repeat(64)}… from 1.2.3.4:5 for 2.5 s`);
});
