// Which connections count for a worker's share (src/net/admission.ts), through a real gated
// listener and real sockets: one that closes after its response never does; one kept alive after
// a response does, as does one whose first exchange lasts (a stream); all count as open.

import assert from "node:assert/strict";
import { libcFds } from "../src/net/accept_gate.ts";
import { Admission, type ConnectionShare } from "../src/net/admission.ts";
import { AF_INET, inetSockaddr } from "../src/net/sockaddr.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import { createHttpServer } from "../src/http/server.ts";
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
