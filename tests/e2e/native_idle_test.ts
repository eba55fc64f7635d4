// Under --reuse-port the runtime's native server keeps appserve's settings, not its own defaults:
// an app that answers late or a stream that goes quiet is not cut (Bun.serve's idle timer is 10 s
// by default), an idle kept-alive connection closes after --keep-alive (Bun workers; Deno.serve
// has no such timer), and a body may be as large as --limit-request-body says (Bun.serve refuses
// more than 128 MiB by default).

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Socket } from "node:net";
import {
  e2e,
  eventually,
  FIXTURES,
  get,
  load,
  type Server,
  startOneWorker,
  type Target,
} from "../_helpers.ts";
import { rawConnect } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "slow_reply_app.ts");

const startOne = (target: Target, args: string[]): Promise<Server> =>
  startOneWorker(target, APP, ["--reuse-port", ...args]);

/** Whether the server closes `socket` within `ms`, after what it sent; the text it sent. */
function closedWithin(socket: Socket, ms: number): Promise<{ closed: boolean; text: string }> {
  return new Promise((resolve) => {
    let text = "";
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ closed, text });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => text += d);
    socket.on("close", () => done(true));
    socket.on("error", () => {});
  });
}

// Past Bun.serve's default idle timeout (10 s, fired on a 4 s tick): no faster way to show it.
e2e(
  "--reuse-port: an answer after 13 s and a stream silent for 13 s are not cut",
  async (target) => {
    const server = await startOne(target, []);
    try {
      const url = await server.ready(1);
      const [slow, silent] = await Promise.all([
        get(`${url}/slow?ms=13000`),
        get(`${url}/silent?ms=13000`),
      ]);
      assert.equal(slow.body, "late\n");
      assert.equal(silent.body, "first\nlast\n");
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  },
);

// Bun.serve's timer, set per request: none while the app works (its 3 s are longer than
// --keep-alive), --keep-alive's once the answer went out. Deno.serve closes no idle connection.
e2e(
  "--reuse-port --keep-alive 1: an idle kept-alive connection is closed, a slow answer is not cut",
  async (target) => {
    const server = await startOne(target, ["--keep-alive", "1"]);
    try {
      const url = new URL(await server.ready(1));
      const socket = await rawConnect(Number(url.port));
      // The answer's 3 s, then --keep-alive's 1 s on Bun's 4 s tick, a tick later: 7 to 11 s.
      const closing = closedWithin(socket, 12_000);
      socket.write("GET /slow?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n");
      const { closed, text } = await closing;
      assert.match(text, /^HTTP\/1\.1 200 [^]*\r\n\r\nlate\n$/);
      // Without the timer set after the answer it would stay open (none while the app works).
      assert.equal(closed, target.name === "binary", text);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  },
);

// Bun's timer fires on a 4 s tick: a --keep-alive of 2 s set after each answer was due at the next
// tick, which then closed every connection whose next request was on its way (wrk counted one
// read error per connection every 4 s).
e2e("--reuse-port: keep-alive load across Bun's timer ticks loses no request", async (target) => {
  const server = await startOne(target, []);
  try {
    const url = await server.ready(1);
    const result = await load(`${url}/`, 9, { connections: 8 }).done;
    assert.ok(result.requests > 0, result.report);
    assert.equal(result.failed, 0, result.report);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

const LARGE = 150_000_000;

e2e(
  "--reuse-port: a body over 128 MiB, with a --limit-request-body above it and with none",
  async (target) => {
    for (const limit of [["--limit-request-body", "300000000"], []]) {
      const server = await startOne(target, limit);
      try {
        const url = await server.ready(1);
        const answer = await fetch(`${url}/upload`, {
          method: "POST",
          body: new Uint8Array(LARGE),
        });
        assert.equal(answer.status, 200, limit.join(" "));
        assert.equal(await answer.text(), `${LARGE}\n`);
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    }
  },
);

// Deno.serve has no keep-alive setting: Deno workers kept every connection alive under
// --keep-alive 0, which the shared socket (and Bun.serve) answers `Connection: close`.
e2e("--reuse-port --keep-alive 0: each answer says Connection: close", async (target) => {
  const server = await startOne(target, ["--keep-alive", "0"]);
  try {
    const url = new URL(await server.ready(1));
    const socket = await rawConnect(Number(url.port));
    socket.on("error", () => {});
    socket.setEncoding("latin1");
    let text = "";
    socket.on("data", (d: string) => text += d);
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(() => text.endsWith("\r\n\r\nok\n"), "the answer");
    socket.destroy();
    assert.match(text, /\r\nconnection: close\r\n/i, text);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
