// The Request handed to the app (src/http/app_request.ts): a signal made at its first read that
// aborts when the exchange says so, followed by clones, by Requests made from it and by fetch().

import assert from "node:assert/strict";
import net from "node:net";
import { abortRequestSignal, AppRequest } from "../src/http/app_request.ts";

function posted(): AppRequest {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("hello"));
      c.close();
    },
  });
  return new AppRequest("http://h/p", { method: "POST", body, duplex: "half" } as RequestInit);
}

Deno.test("AppRequest is a Request as the native servers' are, with a signal that stays quiet", () => {
  const request = new AppRequest("http://h/p");
  assert.ok(request instanceof Request);
  assert.equal(request.constructor.name, "Request");
  assert.equal(Object.prototype.toString.call(request), "[object Request]");
  assert.equal(request.signal, request.signal);
  assert.equal(request.signal.aborted, false);
});

Deno.test("abortRequestSignal() aborts a signal read before with an AbortError, once", () => {
  const request = new AppRequest("http://h/p");
  const signal = request.signal;
  const events: unknown[] = [];
  signal.addEventListener("abort", () => events.push(signal.reason));
  abortRequestSignal(request, "The connection was closed.");
  abortRequestSignal(request, "again");
  assert.equal(events.length, 1);
  const reason = events[0];
  assert.ok(reason instanceof DOMException);
  assert.equal(reason.name, "AbortError");
  assert.equal(reason.message, "The connection was closed.");
});

Deno.test("abortRequestSignal() before the first read: the signal is aborted when read", () => {
  const request = new AppRequest("http://h/p");
  abortRequestSignal(request, "gone");
  assert.equal(request.signal.aborted, true);
  assert.equal((request.signal.reason as DOMException).message, "gone");
});

Deno.test("abortRequestSignal() leaves a Request of another kind alone", () => {
  const request = new Request("http://h/p");
  abortRequestSignal(request, "gone");
  assert.equal(request.signal.aborted, false);
});

Deno.test("AppRequest's clone() and new Request(request) follow its signal and keep the body", async () => {
  const request = posted();
  const clone = request.clone();
  const copy = new Request(request, { headers: { "x-copy": "1" } });
  assert.equal(clone.signal.aborted, false);
  abortRequestSignal(request, "gone");
  assert.equal(clone.signal.aborted, true);
  assert.equal(copy.signal.aborted, true);
  assert.equal(await clone.text(), "hello");
  assert.equal(await copy.text(), "hello");
  assert.equal(copy.headers.get("x-copy"), "1");
});

Deno.test("fetch(request) and fetch(url, { signal: request.signal }) stop when it aborts", async () => {
  // An upstream that never answers.
  const upstream = net.createServer((socket) => socket.on("error", () => {}));
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as net.AddressInfo).port;
  try {
    const request = new AppRequest(`http://127.0.0.1:${port}/`);
    const direct = fetch(request);
    const bySignal = fetch(`http://127.0.0.1:${port}/`, { signal: request.signal });
    abortRequestSignal(request, "gone");
    for (const pending of [direct, bySignal]) {
      await assert.rejects(pending, (error: Error) => error.name === "AbortError");
    }
  } finally {
    upstream.close();
  }
});
