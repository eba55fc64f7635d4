import assert from "node:assert/strict";
import {
  describeInflight,
  INFLIGHT_BYTES,
  INFLIGHT_ENTRIES,
  InflightTable,
} from "../src/ipc/inflight.ts";
import { accessInflightFields, inflightFields } from "../src/ipc/inflight_fields.ts";
import { Logger } from "../src/log/logger.ts";
import { DEFAULT_ACCESS_LOG_FORMAT } from "../src/log/access_format.ts";

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

Deno.test("InflightTable.logged() marks an entry's request until the entry is written again", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.put(2, "GET", "/a", "127.0.0.1:80", 1000);
  table.logged(2);
  assert.equal(table.at(2)?.logged, true);
  table.request(2, "GET", "http://h/b", "127.0.0.1", 80, 2000);
  assert.equal(table.at(2)?.logged, undefined);
  table.logged(2);
  table.put(2, "GET", "/c", "127.0.0.1:80", 3000);
  assert.equal(table.at(2)?.logged, undefined);
});

Deno.test("InflightTable.sent() keeps what a response sent until the entry is written again", () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.request(3, "GET", "http://h/a", "127.0.0.1", 80, 1000);
  assert.equal(table.at(3)?.sent, undefined);
  table.sent(3, 206, 11);
  table.sent(3, 206, 2 ** 40 + 5);
  assert.deepEqual(table.at(3)?.sent, { status: 206, bytes: 2 ** 40 + 5 });
  // A chunk after the head: the bytes alone, the status kept.
  table.sentBytes(3, 2 ** 40 + 9);
  assert.deepEqual(table.at(3)?.sent, { status: 206, bytes: 2 ** 40 + 9 });
  // Its neighbours are untouched.
  assert.equal(table.at(2), undefined);
  table.request(4, "GET", "http://h/b", "127.0.0.1", 80, 1000);
  assert.equal(table.at(4)?.sent, undefined);
  table.request(3, "GET", "http://h/a", "127.0.0.1", 80, 2000);
  assert.equal(table.at(3)?.sent, undefined);
  table.sent(3, 200, 1);
  table.put(3, "GET", "/c", "127.0.0.1:80", 3000);
  assert.equal(table.at(3)?.sent, undefined);
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

Deno.test("inflightFields() names the request-side atoms of a format, and nothing else", () => {
  assert.deepEqual(inflightFields(DEFAULT_ACCESS_LOG_FORMAT), {
    headers: ["referer", "user-agent"],
    user: true,
    protocol: true,
  });
  assert.deepEqual(inflightFields("%(h)s %(t)s %(s)s %(b)s %(m)s %(U)s %(q)s %(p)s %({x}o)s"), {
    headers: [],
    user: false,
    protocol: false,
  });
  // Names lower-case and once; Authorization itself gives the user; %(H)s needs the protocol.
  assert.deepEqual(inflightFields("%(H)s %({X-Request-Id}i)s %(a)s %({x-request-id}i)s %%(f)s"), {
    headers: ["x-request-id", "user-agent"],
    user: false,
    protocol: true,
  });
  assert.deepEqual(inflightFields("%(u)s %({Authorization}i)s %({a b}i)s %({a:b}i)s"), {
    headers: ["authorization"],
    user: false,
    protocol: false,
  });
});

Deno.test("accessInflightFields(): the format's fields with the access log on, none with it off", async () => {
  const config = {
    errorlog: "-",
    loglevel: "info" as const,
    accesslog: "",
    access_log_format: '%(a)s "%(r)s"',
    logging: {},
  };
  const off = new Logger({});
  assert.deepEqual(accessInflightFields(off, config), {
    headers: [],
    user: false,
    protocol: false,
  });
  await off.close();
  const on = new Logger({ accessLog: "-" });
  assert.deepEqual(accessInflightFields(on, { ...config, accesslog: "-" }), {
    headers: ["user-agent"],
    user: false,
    protocol: true,
  });
  await on.close();
});

Deno.test("InflightTable keeps the fields clear() named, and a reader finds them without a format", () => {
  const memory = new Uint8Array(INFLIGHT_BYTES);
  const writer = new InflightTable(memory);
  writer.clear({ headers: ["referer", "user-agent", "x-request-id"], user: true, protocol: true });
  const reader = new InflightTable(memory);
  const auth = `Basic ${btoa("bob:secret")}`;
  const headers = new Headers({ "user-agent": "ua/1", "x-request-id": "r1", authorization: auth });
  writer.request(2, "GET", "http://h/a", "127.0.0.1", 5, 1, headers, true);
  const fields = (r = reader.at(2)!) => [r.protocol, r.headers, r.user];
  // No referer: none named; the user without the password, which the table never holds.
  assert.deepEqual(fields(), ["HTTP/1.0", [["user-agent", "ua/1"], ["x-request-id", "r1"]], "bob"]);
  assert.ok(!new TextDecoder().decode(memory).includes(btoa("bob:secret").slice(4)));
  // The same request again, then one that changes some fields and drops others.
  writer.request(2, "GET", "http://h/a", "127.0.0.1", 5, 2, headers, true);
  assert.deepEqual(fields(), ["HTTP/1.0", [["user-agent", "ua/1"], ["x-request-id", "r1"]], "bob"]);
  const long = "L".repeat(1000);
  writer.request(2, "GET", "http://h/a", "127.0.0.1", 5, 3, new Headers({ referer: long }), false);
  const [protocol, kept, user] = fields();
  assert.equal(protocol, "HTTP/1.1");
  assert.equal(user, undefined);
  // A long value is cut to its share of the entry (three headers and the user: 127 bytes).
  assert.deepEqual(kept, [["referer", long.slice(0, 125)]]);
  // put() names no fields; an entry of a table without fields has none either.
  writer.put(2, "GET", "/b", "unix", 4);
  assert.deepEqual(fields(), [undefined, [], undefined]);
  writer.clear();
  writer.request(0, "GET", "http://h/a", "127.0.0.1", 5, 1, headers, true);
  assert.deepEqual(fields(reader.at(0)), [undefined, undefined, undefined]);
});

Deno.test("describeInflight() cuts the query to 64 characters and gives seconds", () => {
  const line = describeInflight(
    { method: "GET", target: `/p?${"q".repeat(100)}`, client: "1.2.3.4:5", start: 1000, entry: 0 },
    3500,
  );
  assert.equal(line, `GET /p?${"q".repeat(64)}… from 1.2.3.4:5 for 2.5 s`);
});

Deno.test("InflightTable.region(): a gthread thread's share of its worker's table, which read() of the whole names and counts", () => {
  const memory = new Uint8Array(INFLIGHT_BYTES);
  const whole = new InflightTable(memory);
  whole.clear({ headers: ["user-agent"], user: false, protocol: true });
  const regions = [0, 1, 2].map((r) => whole.region(r, 3));
  // Shares of the entries, in order, none left out.
  assert.deepEqual(regions.map((r) => [r.first, r.end]), [[0, 10], [10, 21], [21, 32]]);
  const [a, b] = regions;
  a.clear({ headers: ["user-agent"], user: false, protocol: true });
  b.clear({ headers: ["user-agent"], user: false, protocol: true });
  const headers = new Headers({ "user-agent": "ua/1" });
  a.request(0, "GET", "http://h/a", "127.0.0.1", 5, 1000, headers);
  b.request(10, "GET", "http://h/b", "127.0.0.1", 6, 2000, headers, true);
  a.overflow(1);
  b.overflow(1);
  b.overflow(1);
  // Each region reads its own, with the header the whole table's owner wrote.
  assert.deepEqual(a.read().requests.map((r) => [r.target, r.headers, r.protocol]), [
    ["/a", [["user-agent", "ua/1"]], "HTTP/1.1"],
  ]);
  assert.equal(a.read().more, 1);
  assert.deepEqual(b.read().requests.map((r) => [r.target, r.protocol]), [["/b", "HTTP/1.0"]]);
  assert.equal(b.read().more, 2);
  // The whole table (the master's read): every region's requests and counts, and its own.
  whole.overflow(1);
  const all = new InflightTable(memory).read();
  assert.deepEqual(all.requests.map((r) => r.target), ["/a", "/b"]);
  assert.equal(all.more, 4);
  // A region's clear() (a thread replaced) empties its share only, the header kept.
  b.clear();
  assert.deepEqual(new InflightTable(memory).read().requests.map((r) => r.target), ["/a"]);
  assert.equal(new InflightTable(memory).read().more, 2);
  assert.deepEqual(a.read().requests[0].headers, [["user-agent", "ua/1"]]);
  assert.throws(() => whole.region(3, 3), RangeError);
  assert.throws(() => whole.region(0, INFLIGHT_ENTRIES + 1), RangeError);
});
