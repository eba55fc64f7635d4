// A graceful stop under --reuse-port begins at once, whatever it then waits for: the listener is
// shut and every answer from then on says `Connection: close`, also one whose request began
// before the stop, and also while a Deno worker waits for its WebSockets' close handshakes; and
// the kept-alive connections get their linger from the stop, also a stream's that ends after it.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { e2e, eventually, FIXTURES, freePort, sleep, start, startOneWorker } from "../_helpers.ts";
import { e2eOn } from "../_websocket.ts";
import { closeFrame, encodeFrame, openRaw, readMessages } from "../_ws_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const NEUTRAL = join(FIXTURES, "websocket", "neutral.ts");
const BIG = join(FIXTURES, "apps", "big_body_app.ts");

interface Answer {
  head: string;
  body: string;
}

/** A client connection to `port`: each chunk goes to take(); a waiter wakes on data, end or error. */
abstract class RawClient {
  socket: Socket;
  /** Why the connection ended: "end" (FIN), an error's code (a reset), or "" while open. */
  ended = "";
  #wake = () => {};
  constructor(port: number) {
    this.socket = connect({ port, host: "127.0.0.1" });
    this.socket.on("data", (d: Buffer) => {
      this.take(d);
      this.#wake();
    });
    this.socket.on("end", () => {
      this.ended ||= "end";
      this.#wake();
    });
    this.socket.on("error", (e: NodeJS.ErrnoException) => {
      this.ended ||= e.code ?? e.message;
      this.#wake();
    });
  }

  protected abstract take(d: Buffer): void;

  /** Until the next chunk, end or error. */
  protected moved(): Promise<void> {
    return new Promise<void>((resolve) => this.#wake = resolve);
  }
}

/** A kept-alive client connection that reads one answer (with a Content-Length) per get(). */
class KeptAlive extends RawClient {
  #buf = Buffer.alloc(0);

  protected take(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
  }

  send(path: string): void {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  }

  /** The next answer; rejects if the connection ends first. */
  async answer(): Promise<Answer> {
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.#buf.toString("latin1", 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.#buf.length >= end + 4 + length) {
          const body = this.#buf.toString("latin1", end + 4, end + 4 + length);
          this.#buf = this.#buf.subarray(end + 4 + length);
          return { head, body };
        }
      }
      if (this.ended) throw new Error(`connection ended (${this.ended}) before an answer`);
      await this.moved();
    }
  }

  /** Reads through `text` (a chunked answer's end); rejects if the connection ends first. */
  async through(text: string): Promise<void> {
    for (;;) {
      const at = this.#buf.indexOf(text);
      if (at >= 0) {
        this.#buf = this.#buf.subarray(at + text.length);
        return;
      }
      if (this.ended) {
        throw new Error(`connection ended (${this.ended}) before ${JSON.stringify(text)}`);
      }
      await this.moved();
    }
  }

  async get(path: string): Promise<Answer> {
    this.send(path);
    return await this.answer();
  }

  /** Resolves with how the connection ended. */
  async closed(): Promise<string> {
    while (!this.ended) await this.moved();
    return this.ended;
  }
}

const saysClose = (a: Answer) => /\r\nconnection: *close/i.test(a.head);
const pidIn = (a: Answer) => Number(/pid (\d+)/.exec(a.body)?.[1]);

/** A fresh connection's answer to GET / (Connection: close): the body names the worker. */
async function freshPid(port: number): Promise<number> {
  const c = new KeptAlive(port);
  c.socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const a = await c.answer();
  c.socket.destroy();
  return pidIn(a);
}

// The stop waited for the WebSockets' close handshakes first, with its listener open (new
// connections still landed on the stopping worker) and its answers keeping connections alive.
e2eOn(
  "deno",
  "--reuse-port on Deno workers: while a stopping worker waits for a WebSocket's close " +
    "handshake, new connections go to the other worker and its answers say Connection: close",
  async (target) => {
    const port = await freePort();
    const server = start(target, [
      ...["-w", "2", "--reuse-port", "-b", `127.0.0.1:${port}`, "--graceful-timeout", "30"],
      NEUTRAL,
    ]);
    await server.allAnswering(2);
    const clients: KeptAlive[] = [];
    try {
      // A kept-alive connection on each worker (the kernel picks which).
      const byPid = new Map<number, KeptAlive>();
      await eventually(async () => {
        const c = new KeptAlive(port);
        clients.push(c);
        byPid.set(pidIn(await c.get("/")), c);
        return byPid.size === 2;
      }, "a kept-alive connection on each worker");
      const o = await openRaw(port, "/report-close");
      assert.equal(o.status, 101);
      o.socket.on("error", () => {});
      o.socket.write(encodeFrame({ op: 1, payload: "pid" }, 0));
      const stopping = Number((await readMessages(o, 1))[0]);
      const kept = byPid.get(stopping);
      assert.ok(kept, `session on ${stopping}, not among ${[...byPid.keys()]}`);
      const closing = closeFrame(o);
      process.kill(stopping, "SIGTERM");
      // The worker told the session 1001; it waits for the close frame, which does not come yet.
      assert.equal(await closing, 1001);
      const during = await kept.get("/");
      assert.equal(pidIn(during), stopping, during.body);
      assert.ok(saysClose(during), `a kept-alive answer during the wait:\n${during.head}`);
      const served: number[] = [];
      for (let i = 0; i < 12; i++) served.push(await freshPid(port));
      assert.ok(!served.includes(stopping), `new connections served by ${served} (${stopping})`);
      // Its close frame, at last: the worker ends.
      o.socket.write(encodeFrame({ op: 8, hex: "03e8" }, 0));
      await eventually(() => !server.bootedWorkers().includes(stopping), "the worker gone");
      o.socket.destroy();
    } finally {
      for (const c of clients) c.socket.destroy();
      await server.stop();
    }
  },
);

// A stop lingers from its start (not from the last answer handed over) for the kept-alive
// connections: a stream handed over well before the stop and ending after its start leaves its
// client to send the next request then, which is answered (close), not met by the connection's end.
e2e(
  "--reuse-port: a kept-alive stream that ends after the stop's start lets its client send one more request",
  async (target) => {
    const server = await startOneWorker(target, PID_APP, [
      ...["--reuse-port", "--graceful-timeout", "30", "--keep-alive", "30"],
    ]);
    const port = Number(new URL(await server.ready(1)).port);
    const c = new KeptAlive(port);
    try {
      c.send("/drip?ms=1500&tell");
      await server.waitFor(/drip pulled/);
      // Handed over longer before the stop than the linger lasts; it ends well inside the linger.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      server.signal("SIGTERM");
      await c.through("last line");
      await c.through("0\r\n\r\n");
      const next = await c.get("/");
      assert.ok(saysClose(next), next.head);
      assert.equal(await c.closed(), "end");
      assert.equal((await server.exited).code, 0, server.output);
    } finally {
      c.socket.destroy();
      await server.stop();
    }
  },
);

// Deno decided `Connection: close` as a request began: one begun before the stop and answered
// after it kept its connection alive, which shutdown() then closed under the client's next request.
e2e(
  "--reuse-port: an answer given after the stop's start to a request begun before it says " +
    "Connection: close, and the connection then ends cleanly",
  async (target) => {
    const server = await startOneWorker(target, PID_APP, [
      ...["--reuse-port", "--graceful-timeout", "30", "--keep-alive", "30"],
    ]);
    const port = Number(new URL(await server.ready(1)).port);
    const c = new KeptAlive(port);
    try {
      c.send("/slow?ms=1500&tell");
      await server.waitFor(/slow began/);
      server.signal("SIGTERM");
      const first = await c.answer();
      // As a client does: the next request at once, unless the answer said close.
      const next = saysClose(first) ? "not sent" : await c.get("/").then(
        (a) => a.head.split("\r\n")[0],
        (e: Error) => e.message,
      );
      assert.ok(saysClose(first), `the first answer:\n${first.head}\nthe next: ${next}`);
      assert.equal(await c.closed(), "end");
      assert.equal((await server.exited).code, 0, server.output);
    } finally {
      c.socket.destroy();
      await server.stop();
    }
  },
);

// A chunked body's end (Bun.serve sends a stream chunked whatever its Content-Length).
const LAST_CHUNK = "\r\n0\r\n\r\n";

/**
 * A client that reads a long answer slowly: the head and a first part, then nothing until
 * resume(); counts the body's bytes (framed by Content-Length or chunked) instead of keeping them.
 */
class SlowReader extends RawClient {
  head = "";
  #length = -1;
  #got = 0;
  #done = false;
  #tail: Buffer = Buffer.alloc(0);
  #buf: Buffer = Buffer.alloc(0);
  constructor(port: number, path: string) {
    super(port);
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  }

  protected take(d: Buffer): void {
    if (!this.head) {
      this.#buf = Buffer.concat([this.#buf, d]);
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.#buf.toString("latin1", 0, end);
      this.#length = Number(/\r\ncontent-length: *(\d+)/i.exec(this.head)?.[1] ?? -1);
      d = this.#buf.subarray(end + 4);
      this.#buf = Buffer.alloc(0);
    }
    // Past the first answer's body: the next answer's bytes.
    if (this.#done) this.#buf = Buffer.concat([this.#buf, d]);
    else if (this.#length >= 0) {
      const body = Math.min(d.length, this.#length - this.#got);
      this.#got += body;
      this.#done = this.#got === this.#length;
      this.#buf = d.subarray(body);
    } else {
      const seen = Buffer.concat([this.#tail, d]);
      const at = seen.indexOf(LAST_CHUNK);
      this.#got += d.length;
      if (at < 0) this.#tail = seen.subarray(-LAST_CHUNK.length);
      else {
        this.#done = true;
        this.#buf = seen.subarray(at + LAST_CHUNK.length);
      }
    }
  }

  async #until(done: () => boolean, what: string): Promise<void> {
    while (!done()) {
      if (this.ended) throw new Error(`connection ended (${this.ended}) before ${what}`);
      await this.moved();
    }
  }

  /** Once the head and a first part of the body have come, reads nothing more until resume(). */
  async pauseInBody(): Promise<void> {
    await this.#until(() => this.#got > 0, "the first body bytes");
    this.socket.pause();
  }

  /** Reads the rest of the body; says how many of its bytes had come before, of how many. */
  async rest(): Promise<{ before: number; all: number }> {
    const before = this.#got;
    this.socket.resume();
    await this.#until(() => this.#done, "the body's end");
    return { before, all: this.#got };
  }

  /** The status line of the answer to the next request on this connection, or how it ended. */
  async next(): Promise<string> {
    this.socket.write("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    try {
      await this.#until(() => this.#buf.includes("\r\n\r\n"), "the next answer");
    } catch (error) {
      return (error as Error).message;
    }
    return this.#buf.toString("latin1", 0, this.#buf.indexOf("\r\n"));
  }
}

// The linger ran from the stop's start only: an answer whose head went out kept-alive before the
// stop and whose body its client was still reading after the linger ended was followed by the
// connection's close, under the client's next request (lost: an empty reply).
e2e(
  "--reuse-port: a kept-alive answer still being read after the linger lets its client send one more request",
  async (target) => {
    // The 10 MB as bytes (Deno.serve's static body, Bun.serve's own), as a string (which Bun
    // workers remember whole, whatever its length) and as a stream.
    for (const path of ["/", "/?string", "/?stream"]) {
      const server = await startOneWorker(target, BIG, [
        ...["--reuse-port", "--graceful-timeout", "30", "--keep-alive", "30"],
      ]);
      const port = Number(new URL(await server.ready(1)).port);
      const c = new SlowReader(port, path);
      try {
        await c.pauseInBody();
        server.signal("SIGTERM");
        // Past the linger (1 s) with most of the body unread: no timing is asserted.
        await sleep(2500);
        const { before, all } = await c.rest();
        assert.ok(before < all / 2, `${path}: ${before} of ${all} bytes read at the stop`);
        if (!saysClose({ head: c.head, body: "" })) {
          const next = await c.next();
          assert.match(next, /^HTTP\/1\.1 200 /, `${path}: the next request: ${next}`);
        }
        assert.equal((await server.exited).code, 0, server.output);
      } finally {
        c.socket.destroy();
        await server.stop();
      }
    }
  },
);
