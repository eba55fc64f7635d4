// tapBody (src/body_tap.ts): a tap that throws in its `end` neither cuts the reply the server
// reads nor keeps a cancel from reaching the source stream; one that throws in its `chunk`
// refuses the chunk (limit_request_body under --reuse-port, native_body_read.ts); a second
// layer joins a tap (joinTap) rather than tapping the tapped stream again.

import assert from "node:assert/strict";
import { joinTap, tapBody } from "../src/body_tap.ts";

const encoder = new TextEncoder();

function twoChunks(onCancel: (reason: unknown) => void = () => {}): Response {
  const chunks = ["one,", "two"];
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(encoder.encode(next));
      },
      cancel: onCancel,
    }, { highWaterMark: 0 }),
  );
}

const throwingEnd = {
  end: () => {
    throw new Error("tap end failed");
  },
};

Deno.test("a tap whose end throws: the stream still reads to its end", async () => {
  const tapped = tapBody(twoChunks(), throwingEnd);
  assert.equal(await tapped.text(), "one,two");
});

Deno.test("a tap whose end throws: cancel still cancels the source", async () => {
  let cancelled: unknown = null;
  const tapped = tapBody(twoChunks((reason) => cancelled = reason), throwingEnd);
  const reader = tapped.body!.getReader();
  await reader.read();
  await reader.cancel("gone");
  assert.equal(cancelled, "gone");
});

Deno.test("a tap `without` header fields: the tapped Response leaves them out, keeps the rest", async () => {
  const source = new Response(twoChunks().body, {
    headers: { "content-encoding": "gzip", "content-length": "9", "content-type": "text/plain" },
  });
  const tapped = tapBody(source, { without: ["content-encoding", "content-length"] });
  assert.deepEqual([...tapped.headers], [["content-type", "text/plain"]]);
  assert.equal(await tapped.text(), "one,two");
});

Deno.test("a tap that refuses a chunk: the read fails with it, the source is cancelled, end told", async () => {
  const refusal = new TypeError("too large");
  let cancelled: unknown = null;
  let ends = 0;
  const seen: string[] = [];
  const tapped = tapBody(twoChunks((reason) => cancelled = reason), {
    chunk(value) {
      seen.push(new TextDecoder().decode(value as Uint8Array));
      if (seen.length === 2) throw refusal;
    },
    end: () => ends++,
  });
  const reader = tapped.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "one,");
  await assert.rejects(reader.read(), (error) => error === refusal);
  assert.equal(cancelled, refusal);
  assert.equal(ends, 1);
});

Deno.test("a joined tap hears each chunk after the first tap; its refusal ends the stream so", async () => {
  const refusal = new TypeError("too large");
  let cancelled: unknown = null;
  let ends = 0;
  const seen: string[] = [];
  const body = tapBody(twoChunks((reason) => cancelled = reason), {
    chunk: (value) => void seen.push(`first ${new TextDecoder().decode(value as Uint8Array)}`),
    end: () => ends++,
  }).body!;
  const joined = joinTap(body, {
    chunk(value) {
      seen.push(`joined ${new TextDecoder().decode(value as Uint8Array)}`);
      if (seen.length === 4) throw refusal;
    },
  });
  assert.equal(joined, true);
  // One tap each: a second join is refused.
  assert.equal(joinTap(body, {}), false);
  const reader = body.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "one,");
  await assert.rejects(reader.read(), (error) => error === refusal);
  assert.deepEqual(seen, ["first one,", "joined one,", "first two", "joined two"]);
  assert.equal(cancelled, refusal);
  assert.equal(ends, 1);
});

Deno.test("a joined tap's failed is given what the first tap's gave", async () => {
  const source = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.error(new Error("reset")),
  }, { highWaterMark: 0 });
  const body = tapBody(new Response(source), {
    failed: (error) => new Error(`first: ${(error as Error).message}`),
  }).body!;
  assert.equal(
    joinTap(body, { failed: (error) => new Error(`joined: ${(error as Error).message}`) }),
    true,
  );
  await assert.rejects(body.getReader().read(), /joined: first: reset/);
});

Deno.test("a tap joins only a tapped stream not yet read", async () => {
  const plain = twoChunks().body!;
  assert.equal(joinTap(plain, {}), false);
  const body = tapBody(twoChunks(), {}).body!;
  const reader = body.getReader();
  await reader.read();
  assert.equal(joinTap(body, {}), false);
});
