// The in-flight table as a server's exchanges keep it (src/worker/inflight_watch.ts), and what a
// gthread thread's slots hear through it: which table entry names each request, so the worker
// process can log exactly the requests it answers for a hung thread.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import type { ServeInfo } from "../src/fetch_handler.ts";
import { INFLIGHT_BYTES, INFLIGHT_ENTRIES, InflightTable } from "../src/ipc/inflight.ts";
import { InflightWatch, type InnerWatch } from "../src/worker/inflight_watch.ts";

const info = {
  remoteAddr: { transport: "tcp", hostname: "10.0.0.3", port: 4000 },
} as unknown as ServeInfo;

Deno.test({
  name: "InflightWatch tells its inner watch which table entry names each request",
  sanitizeOps: false,
  fn: () => {
    const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
    const heard: [number, number | undefined][] = [];
    let next = 100;
    const inner: InnerWatch = {
      opened: () => next++,
      started: (tag, _http10, entry) => void heard.push([tag, entry]),
      answering: () => true,
      finished: () => {},
      closed: () => {},
    };
    const watch = new InflightWatch(table, { inner });
    const handler = watch.wrap(() => new Response("x"));
    const tags = Array.from({ length: INFLIGHT_ENTRIES + 1 }, () => watch.opened({} as Socket));
    for (const [i, tag] of tags.entries()) {
      watch.started(tag);
      handler(new Request(`http://h/r${i}`), info);
    }
    // The inner watch's own tags, each with the entry that names the request; past the table's
    // entries, a request is only counted: -1.
    assert.deepEqual(heard[0], [100, tags[0]]);
    assert.deepEqual(heard[INFLIGHT_ENTRIES - 1], [100 + INFLIGHT_ENTRIES - 1, tags.at(-2)]);
    assert.deepEqual(heard[INFLIGHT_ENTRIES], [100 + INFLIGHT_ENTRIES, -1]);
    assert.equal(table.at(heard[5][1]!)?.target, "/r5");
    assert.equal(table.read().more, 1);
  },
});

Deno.test({
  name: "InflightWatch names a request on any connection while an entry is free",
  sanitizeOps: false,
  fn: () => {
    const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
    const watch = new InflightWatch(table);
    const handler = watch.wrap(() => new Response("x"));
    // More connections open than the table has entries, each between its exchanges.
    const tags = Array.from({ length: INFLIGHT_ENTRIES + 8 }, () => watch.opened({} as Socket));
    const late = tags.at(-1)!;
    watch.started(late);
    handler(new Request("http://h/late"), info);
    assert.deepEqual(table.read().requests.map((r) => r.target), ["/late"]);
    assert.equal(table.read().more, 0);
    watch.finished(late);
    assert.deepEqual(table.read(), { requests: [], more: 0 });
    // Past the table's entries in flight at once, the rest are counted until one ends; the entry
    // it frees names the next request.
    for (const [i, tag] of tags.entries()) {
      watch.started(tag);
      handler(new Request(`http://h/r${i}`), info);
    }
    assert.equal(table.read().requests.length, INFLIGHT_ENTRIES);
    assert.equal(table.read().more, 8);
    assert.equal(watch.overflow().length, 8);
    watch.finished(tags[3]);
    watch.closed(tags.at(-1)!);
    assert.equal(table.read().more, 7);
    watch.started(tags[3]);
    handler(new Request("http://h/again"), info);
    assert.equal(table.read().requests.length, INFLIGHT_ENTRIES);
    assert.ok(table.read().requests.some((r) => r.target === "/again"));
    for (const tag of tags.slice(0, -1)) watch.finished(tag);
    assert.deepEqual(table.read(), { requests: [], more: 0 });
    assert.equal(watch.overflow().length, 0);
  },
});

Deno.test({
  name: "InflightWatch.logged() keeps a request named past its close, marked as logged",
  sanitizeOps: false,
  fn: () => {
    const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
    const watch = new InflightWatch(table);
    const handler = watch.wrap(() => new Response("x"));
    // One request per entry and one past them (only counted): each is logged, then closed.
    const tags = Array.from({ length: INFLIGHT_ENTRIES + 1 }, () => watch.opened({} as Socket));
    for (const [i, tag] of tags.entries()) {
      watch.started(tag);
      handler(new Request(`http://h/r${i}`), info);
    }
    for (const tag of [tags[0], tags.at(-1)!]) {
      watch.logged(tag);
      watch.finished(tag);
      watch.closed(tag);
    }
    const logged = table.read().requests.filter((r) => r.logged);
    assert.deepEqual(logged.map((r) => r.target), ["/r0"]);
    assert.equal(table.read().more, 1);
    assert.deepEqual(watch.overflow().map((r) => [r.target, r.logged]), [[
      `/r${INFLIGHT_ENTRIES}`,
      true,
    ]]);
  },
});

Deno.test({
  name: "InflightWatch over a region of a table names requests in that region's entries only",
  sanitizeOps: false,
  fn: () => {
    const memory = new Uint8Array(INFLIGHT_BYTES);
    new InflightTable(memory).clear();
    const region = new InflightTable(memory).region(1, 4);
    const watch = new InflightWatch(region);
    const handler = watch.wrap(() => new Response("x"));
    const count = region.end - region.first;
    const tags = Array.from({ length: count + 1 }, () => watch.opened({} as Socket));
    for (const [i, tag] of tags.entries()) {
      watch.started(tag);
      handler(new Request(`http://h/r${i}`), info);
    }
    const { requests, more } = new InflightTable(memory).read();
    assert.deepEqual(
      requests.map((r) => r.entry).sort((a, b) => a - b),
      Array.from({ length: count }, (_, i) => region.first + i),
    );
    assert.equal(more, 1);
    for (const tag of tags) watch.closed(tag);
    assert.deepEqual(new InflightTable(memory).read(), { requests: [], more: 0 });
  },
});
