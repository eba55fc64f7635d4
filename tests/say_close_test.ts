// sayClose (src/runtime/_say_close.ts): a native server's answer during a stop says
// `connection: close`, its own headers changed when they can, else on a copy with the same
// status, headers and body; an upgrade's answer is left as it is.

import assert from "node:assert/strict";
import { sayClose } from "../src/runtime/_say_close.ts";

/** A Deno.serve on a free port answering with `answer`'s result; stopped by `close`. */
function upstream(answer: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, answer);
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test("mutable headers are changed in place", () => {
  const response = new Response("hi", { status: 201, headers: { "x-app": "1" } });
  assert.equal(sayClose(response), response);
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(response.headers.get("x-app"), "1");
});

Deno.test("a streaming body with mutable headers keeps its stream", async () => {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("a"));
      controller.enqueue(new TextEncoder().encode("b"));
      controller.close();
    },
  });
  const response = new Response(stream);
  assert.equal(sayClose(response), response);
  assert.equal(response.body, stream);
  assert.equal(await response.text(), "ab");
});

Deno.test("Response.redirect's immutable headers: a copy says close", () => {
  const redirect = Response.redirect("http://127.0.0.1/elsewhere", 307);
  const answer = sayClose(redirect);
  assert.notEqual(answer, redirect);
  assert.equal(answer.status, 307);
  assert.equal(answer.headers.get("location"), "http://127.0.0.1/elsewhere");
  assert.equal(answer.headers.get("connection"), "close");
  assert.equal(answer.body, null);
  assert.equal(redirect.headers.get("connection"), null);
});

Deno.test("fetch()'s immutable headers: a copy with its status, headers and stream", async () => {
  const up = upstream(() => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // A body still coming when sayClose runs: the copy hands it on unread.
        controller.enqueue(encoder.encode("first\n"));
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.enqueue(encoder.encode("second\n"));
        controller.close();
      },
    });
    const headers = new Headers({ "content-type": "text/plain" });
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    return new Response(body, { status: 203, headers });
  });
  try {
    const fetched = await fetch(up.url);
    assert.throws(() => fetched.headers.set("x", "y"), TypeError);
    const { body: stream, statusText } = fetched;
    const answer = sayClose(fetched);
    assert.notEqual(answer, fetched);
    assert.equal(answer.body, stream);
    assert.equal(answer.status, 203);
    assert.equal(answer.statusText, statusText);
    assert.notEqual(statusText, "");
    assert.equal(answer.headers.get("connection"), "close");
    assert.equal(answer.headers.get("content-type"), "text/plain");
    assert.deepEqual(answer.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(await answer.text(), "first\nsecond\n");
  } finally {
    await up.close();
  }
});

Deno.test("fetch()'s 204 and 304: a copy with no body", async () => {
  const up = upstream((request) =>
    new Response(null, { status: new URL(request.url).pathname === "/304" ? 304 : 204 })
  );
  try {
    for (const status of [204, 304]) {
      const answer = sayClose(await fetch(`${up.url}/${status}`));
      assert.equal(answer.status, status);
      assert.equal(answer.body, null);
      assert.equal(answer.headers.get("connection"), "close");
    }
  } finally {
    await up.close();
  }
});

Deno.test("a used body and Response.error() are left as they are", async () => {
  const up = upstream(() => new Response("read\n"));
  try {
    const fetched = await fetch(up.url);
    await fetched.text();
    assert.equal(sayClose(fetched), fetched);
  } finally {
    await up.close();
  }
  const error = Response.error();
  assert.equal(sayClose(error), error);
});

// A 101 cannot be made with new Response: Deno.upgradeWebSocket's is the one a server sees.
Deno.test("an upgrade's answer is untouched and the WebSocket opens", async () => {
  let seen: { same: boolean; connection: string | null } | null = null;
  const up = upstream((request) => {
    const { response, socket } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    const answer = sayClose(response);
    seen = { same: answer === response, connection: answer.headers.get("connection") };
    return answer;
  });
  try {
    const client = new WebSocket(up.url.replace("http", "ws"));
    const echoed = await new Promise<string>((resolve, reject) => {
      client.onopen = () => client.send("ping");
      client.onmessage = (event) => resolve(String(event.data));
      client.onerror = () => reject(new Error("the WebSocket failed"));
    });
    const closed = new Promise((resolve) => (client.onclose = resolve));
    client.close();
    await closed;
    assert.equal(echoed, "ping");
    assert.deepEqual(seen, { same: true, connection: "Upgrade" });
  } finally {
    await up.close();
  }
});
