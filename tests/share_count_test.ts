// Which connections count for a worker's share (src/net/admission.ts), through a real gated
// listener and real sockets: one that closes after its response never does; one kept alive after
// a response does, as does one whose first exchange lasts (a stream); all count as open.

import assert from "node:assert/strict";
import { libcFds } from "../src/net/accept_gate.ts";
import { Admission, type ConnectionShare } from "../src/net/admission.ts";
import { inetSockaddr } from "../src/net/sockaddr.ts";
import { AF_INET } from "../src/net/socket_constants.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import { createHttpServer } from "../src/http/server.ts";
import type { ExchangeWatch } from "../src/http/types.ts";
import { delay, options, RawClient } from "./_http_server.ts";
import { freePort } from "./_procs.ts";

const libc = denoRuntime.libc();

/** A share with no siblings that keeps what the worker last told them. */
class Published implements ConnectionShare {
  share = 0;
  open = 0;
  publish(share: number, open: number): void {
    this.share = share;
    this.open = open;
  }
  excess(): number {
    return 0;
  }
  someoneHasFewer(): boolean {
    return false;
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await delay(10);
  assert.ok(check(), what);
}

Deno.test("the share counts connections kept alive after a response or with an exchange that lasts, never one-request ones", async () => {
  const port = await freePort();
  const fd = libc.socket(AF_INET, 1, 0);
  assert.equal(libc.bind(fd, inetSockaddr("127.0.0.1", port)), 0);
  assert.equal(libc.listen(fd, 16), 0);
  const published = new Published();
  const admission = new Admission(100, published);
  let release: () => void = () => {};
  const server = createHttpServer((request) => {
    if (new URL(request.url).pathname !== "/stream") return new Response("hi");
    // A first response that goes on (server-sent events, a long poll).
    return new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("data: 1\n\n"));
          release = () => {
            release = () => {};
            controller.close();
          };
        },
      }),
    );
  }, {
    ...options(),
    gate: { fds: libcFds(libc), admission, report: () => {} },
  });
  await server.listen({ fd });
  try {
    // One request, then closed: open while it lasts, never in the share.
    const once = await RawClient.connect({ port });
    await once.write("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert.equal((await once.read()).body.toString(), "hi");
    await once.closed();
    await until("the one-request connection closed", () => published.open === 0);
    assert.equal(published.share, 0);

    // Kept alive after its response: in the share.
    const kept = await RawClient.connect({ port });
    await kept.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await kept.read()).headers["connection"], "keep-alive");
    await until("the kept-alive connection counts", () => published.share === 1);
    assert.equal(published.open, 1);

    // A first exchange that lasts: open at once, in the share after two of the server's ticks.
    const stream = await RawClient.connect({ port });
    await stream.write("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    await until("the stream is open", () => published.open === 2);
    assert.equal(published.share, 1, "not yet: it may still end at once");
    await until("the lasting exchange counts", () => published.share === 2);
    release();
    stream.close();
    kept.close();
    await until("both closed", () => published.open === 0);
    assert.equal(published.share, 0);
  } finally {
    release();
    server.closeNow();
    admission.stop();
  }
});

Deno.test("a waiting connection that cannot be served once admitted gives its place back", async () => {
  const port = await freePort();
  const fd = libc.socket(AF_INET, 1, 0);
  assert.equal(libc.bind(fd, inetSockaddr("127.0.0.1", port)), 0);
  assert.equal(libc.listen(fd, 16), 0);
  const published = new Published();
  const admission = new Admission(1, published);
  const reports: string[] = [];
  let failing = false;
  // Once set, serving a connection throws (its watch's opened()), after it was counted open.
  const watch: ExchangeWatch = {
    opened: () => {
      if (failing) throw new Error("cannot serve this one");
      return 1;
    },
    started: () => {},
    answering: () => true,
    finished: () => {},
    closed: () => {},
  };
  const server = createHttpServer(() => new Response("hi"), {
    ...options(),
    watch,
    gate: { fds: libcFds(libc), admission, report: (_level, line) => reports.push(line) },
  });
  await server.listen({ fd });
  const clients: RawClient[] = [];
  try {
    // Two at once, accepted together before the gate holds at the limit of one: one waits.
    const [first, second] = await Promise.all([
      RawClient.connect({ port }),
      RawClient.connect({ port }),
    ]);
    clients.push(first, second);
    await until("one waits", () => admission.waiting === 1 && admission.open === 1);
    // The one served answers; the waiting one is not read.
    const request = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    await Promise.all([first.write(request), second.write(request)]);
    const served = await Promise.race(
      [first, second].map((c) => c.read().then(() => c, () => new Promise<never>(() => {}))),
    );
    failing = true;
    served.close();
    await until("the second was admitted and failed", () => reports.length === 1);
    assert.match(reports[0], /cannot serve this one/);
    await until("no place held", () => published.open === 0);
    assert.equal(admission.open, 0);
  } finally {
    for (const c of clients) c.close();
    server.closeNow();
    admission.stop();
  }
});
