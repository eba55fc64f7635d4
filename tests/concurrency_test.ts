// limitConcurrency (src/worker/concurrency.ts) on its own: requests past the cap wait in order, and
// `held` hears how long each one held its place, not how long it waited for it.
// performance.now is replaced by a hand-moved clock, so the times are exact and nothing waits.

import assert from "node:assert/strict";
import type { ServeInfo } from "../src/fetch_handler.ts";
import { ConcurrencyLimit, limitConcurrency } from "../src/worker/concurrency.ts";

const INFO = {} as ServeInfo;

Deno.test("limitConcurrency runs one at a time, in order, and says how long each held its place", async () => {
  const clock = { ms: 100 };
  performance.now = () => clock.ms;
  try {
    const held: number[] = [];
    const answers: (() => void)[] = [];
    const ran: string[] = [];
    const limited = limitConcurrency(
      async (request) => {
        ran.push(new URL(request.url).pathname);
        await new Promise<void>((resolve) => answers.push(resolve));
        return new Response("ok");
      },
      1,
      (ms) => held.push(ms),
    );
    const a = limited(new Request("http://h/a"), INFO);
    const b = limited(new Request("http://h/b"), INFO); // waits for a
    clock.ms = 105;
    answers.shift()!();
    await a;
    await new Promise((resolve) => setTimeout(resolve, 0)); // b takes the place
    clock.ms = 107;
    answers.shift()!();
    await b;
    // A request answered at once holds it for no time at all.
    const quick = limitConcurrency(() => new Response("now"), 1, (ms) => held.push(ms));
    assert.equal((quick(new Request("http://h/"), INFO) as Response).status, 200);
    assert.deepEqual(ran, ["/a", "/b"]);
    assert.deepEqual(held, [5, 2, 0], "b waited 5 ms and held its place for 2");
  } finally {
    // deno-lint-ignore no-explicit-any
    delete (performance as any).now;
  }
});

Deno.test("ConcurrencyLimit: a lasting answer keeps its place until it ends, for every handler of the cap", async () => {
  const limit = new ConcurrencyLimit(1);
  let end!: () => void;
  const session = new Promise<void>((resolve) => end = resolve);
  const upgrade = limit.wrap(() => new Response(null, { status: 200 }), () => session);
  const plain = limit.wrap(() => new Response("plain"));
  assert.equal((upgrade(new Request("http://h/ws"), INFO) as Response).status, 200);
  let answered = false;
  const next = Promise.resolve(plain(new Request("http://h/"), INFO)).then((r) => {
    answered = true;
    return r;
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(answered, false, "waits while the first one's session lasts");
  end();
  assert.equal(await (await next).text(), "plain");
});
