// gthread's per-thread slots on their own (src/worker/thread_slots.ts): the thread's writes, what
// the process reads from them, and the compare-and-swap that lets exactly one side answer a
// request. Date.now is replaced by a hand-moved clock, so ages are exact and nothing waits; what
// a claimed request's client reads is checked on a real connection.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import type { ServeInfo } from "../src/fetch_handler.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import type { Libc } from "../src/runtime/types.ts";
import { limitConcurrency } from "../src/worker/concurrency.ts";
import {
  after,
  answerClaimed,
  ENTRIES,
  newSlots,
  SlotReader,
  SlotWriter,
} from "../src/worker/thread_slots.ts";
import { rawConnect, readAll } from "./_raw.ts";

const ORIGIN = 1_700_000_000_000;

/** Runs `fn` with Date.now at ORIGIN + the clock's `ms`, which `fn` moves by hand. */
function withClock(fn: (clock: { ms: number }) => void): void {
  const real = Date.now;
  const clock = { ms: 0 };
  Date.now = () => ORIGIN + clock.ms;
  try {
    fn(clock);
  } finally {
    Date.now = real;
  }
}

/** A thread's writer and the process's reader over one fresh slot area; sockets are fds. */
function pair(): {
  writer: SlotWriter;
  reader: SlotReader;
  socket: (fd: number) => Socket;
  buffer: SharedArrayBuffer;
} {
  const buffer = newSlots();
  const fds = new WeakMap<Socket, number>();
  const writer = new SlotWriter(buffer, ORIGIN, (s) => fds.get(s)!);
  const reader = new SlotReader(buffer, ORIGIN);
  const socket = (fd: number) => {
    const s = {} as Socket;
    fds.set(s, fd);
    return s;
  };
  return { writer, reader, socket, buffer };
}

Deno.test("SlotReader claims a request the app has not begun answering, once", () => {
  withClock((clock) => {
    const { writer, reader, socket } = pair();
    const tag = writer.opened(socket(7));
    writer.started(tag, false, 3);
    clock.ms = 1500;
    // With the in-flight table's entry that names the request. No handler saw its method yet
    // (queued()): not known whether it is a HEAD.
    assert.deepEqual(reader.claimAll(), [{ fd: 7, age: 1500, entry: 3, inApp: false, head: null }]);
    assert.deepEqual(reader.claimAll(), [], "a claimed request is not claimed again");
    // The thread comes back: the process answers, so the thread must not.
    assert.equal(writer.answering(tag), false);
    writer.finished(tag);
    assert.deepEqual(reader.claimAll(), []);
    assert.equal(reader.heldInApp(), 0);
  });
});

Deno.test("SlotWriter.answering() wins a request before the process claims it", () => {
  withClock(() => {
    const { writer, reader, socket } = pair();
    const tag = writer.opened(socket(7));
    writer.started(tag);
    assert.equal(writer.answering(tag), true);
    // Half-written responses are the thread's: the process leaves them alone.
    assert.deepEqual(reader.claimAll(), []);
    writer.finished(tag);
    assert.deepEqual(reader.claimAll(), []);
  });
});

Deno.test("SlotWriter.queued() records whether each request is a HEAD, for its claimed answer", () => {
  const { writer, reader, socket } = pair();
  const handler = writer.queued(() => new Response());
  const info = {} as ServeInfo;
  const methods = ["HEAD", "GET", "POST"];
  const tags = methods.map((_, i) => writer.opened(socket(20 + i)));
  // The HTTP layer: the start, then the handler, in one go. No entry of the in-flight table
  // names them (past the thread's share): the slot alone knows which is a HEAD.
  methods.forEach((method, i) => {
    writer.started(tags[i], false, -1);
    handler(new Request("http://x/", { method, body: method === "POST" ? "x" : null }), info);
  });
  assert.deepEqual(reader.claimAll().map((c) => [c.fd, c.head]), [[20, true], [21, false], [
    22,
    false,
  ]]);
  // The connection's next request is a HEAD after a GET: not the last one's record.
  writer.finished(tags[1]);
  writer.started(tags[1], false, -1);
  handler(new Request("http://x/", { method: "HEAD" }), info);
  assert.deepEqual(reader.claimAll().map((c) => [c.fd, c.head]), [[21, true]]);
});

Deno.test("SlotReader claims only the running requests among a thread's connections", () => {
  withClock((clock) => {
    const { writer, reader, socket } = pair();
    writer.opened(socket(10)); // idle: no request yet
    const running = writer.opened(socket(11));
    const answering = writer.opened(socket(12));
    const done = writer.opened(socket(13));
    const late = writer.opened(socket(14));
    writer.started(running);
    writer.started(answering);
    writer.answering(answering);
    writer.started(done);
    writer.answering(done);
    writer.finished(done);
    clock.ms = 200;
    writer.started(late);
    clock.ms = 300;
    assert.deepEqual(reader.claimAll(), [
      { fd: 11, age: 300, entry: -1, inApp: false, head: null },
      { fd: 14, age: 100, entry: -1, inApp: false, head: null },
    ]);
  });
});

Deno.test("SlotWriter.finished() frees a request whose client left before its answer", () => {
  withClock(() => {
    const { writer, reader, socket } = pair();
    const tag = writer.opened(socket(7));
    writer.started(tag);
    writer.finished(tag);
    assert.deepEqual(reader.claimAll(), []);
    // The connection serves its next request in the same slot.
    writer.started(tag);
    assert.deepEqual(reader.claimAll(), [{ fd: 7, age: 0, entry: -1, inApp: false, head: null }]);
  });
});

Deno.test("SlotReader.heldInApp() counts from when the app got a request, not while it waited", () => {
  withClock((clock) => {
    const { writer, reader, socket } = pair();
    const info = {} as ServeInfo;
    // The thread's queue by hand: a request joins it (queued), and later gets the app (inApp).
    const waiting: Request[] = [];
    const queue = writer.queued((request) => {
      waiting.push(request);
      return new Response();
    });
    const app = writer.inApp(() => new Response());
    const next = () => app(waiting.shift()!, info);
    assert.equal(reader.heldInApp(), 0);
    const a = writer.opened(socket(1));
    const b = writer.opened(socket(2));
    clock.ms = 100;
    writer.started(a);
    queue(new Request("http://x/a"), info);
    next();
    clock.ms = 250;
    writer.started(b);
    queue(new Request("http://x/b"), info);
    clock.ms = 1000;
    assert.equal(reader.heldInApp(), 900);
    // The app answers a; b has waited 4 s behind it, which is no hang of the thread.
    clock.ms = 4250;
    writer.answering(a);
    writer.finished(a);
    assert.equal(reader.heldInApp(), 0);
    clock.ms = 4300;
    next();
    clock.ms = 5000;
    assert.equal(reader.heldInApp(), 700);
    // Once the app answers, the request no longer counts as held by it.
    writer.answering(b);
    assert.equal(reader.heldInApp(), 0);
  });
});

Deno.test("SlotReader.silence() is the time since the thread's last tick", () => {
  withClock((clock) => {
    const { writer, reader } = pair();
    clock.ms = 40;
    // A new reader counts from its own start: a thread that never ticked is silent since then.
    assert.equal(reader.silence(), 40);
    writer.tick();
    assert.equal(reader.silence(), 0);
    clock.ms = 5040;
    assert.equal(reader.silence(), 5000);
    writer.tick();
    clock.ms = 5041;
    assert.equal(reader.silence(), 1);
  });
});

Deno.test("SlotWriter counts connections new or with an exchange under way", () => {
  withClock(() => {
    const heard: number[] = [];
    const writer = new SlotWriter(newSlots(), 0, () => 3, {
      pending: (n) => heard.push(n),
      served: () => {},
    });
    const a = writer.opened({} as Socket);
    const b = writer.opened({} as Socket);
    writer.started(a);
    writer.answering(a);
    writer.finished(a); // kept alive, idle: waits for nothing
    writer.started(a);
    writer.finished(a);
    writer.closed(a);
    writer.closed(b); // closed before its first request
    writer.websockets(2); // open WebSockets count too (their upgrades finished)
    assert.deepEqual(heard, [1, 2, 1, 2, 1, 0, 2]);
  });
});

Deno.test("SlotWriter says how many connections it was told of, past its entries too", () => {
  withClock(() => {
    const heard: number[] = [];
    const writer = new SlotWriter(newSlots(), 0, () => 3, {
      pending: () => {},
      served: () => {},
      connections: (n) => heard.push(n),
    });
    const tags = Array.from({ length: ENTRIES + 1 }, () => writer.opened({} as Socket));
    assert.equal(tags[ENTRIES], -1, "one past the entries: unwatched");
    assert.equal(heard.at(-1), ENTRIES + 1, "counted all the same");
    writer.closed(tags[ENTRIES]);
    writer.closed(tags[0]);
    assert.deepEqual(heard.slice(-2), [ENTRIES, ENTRIES - 1]);
  });
});

Deno.test("SlotWriter says on each tick how many exchanges a connection opened since carried", () => {
  withClock(() => {
    const served: number[] = [];
    const writer = new SlotWriter(newSlots(), 0, () => 3, {
      pending: () => {},
      served: (n) => served.push(n),
    });
    // Connection: close clients: one exchange each.
    for (let i = 0; i < 4; i++) {
      const tag = writer.opened({} as Socket);
      writer.started(tag);
      writer.finished(tag);
      writer.closed(tag);
    }
    writer.tick();
    // Kept-alive connections opened before: many exchanges, nothing opened.
    const kept = writer.opened({} as Socket);
    writer.tick(); // opened, no exchange: says nothing
    for (let i = 0; i < 50; i++) {
      writer.started(kept);
      writer.finished(kept);
    }
    writer.tick();
    writer.tick(); // nothing happened: says nothing
    // A probe that sends nothing counts as opened.
    writer.closed(writer.opened({} as Socket));
    writer.started(kept);
    writer.tick();
    assert.deepEqual(served, [1, 50, 1]);
  });
});

Deno.test("SlotReader.adopted: the number of the last connection handed over that the thread took", () => {
  withClock(() => {
    const { writer, reader } = pair();
    assert.equal(reader.adopted, 0);
    assert.equal(writer.adopting(1), true);
    assert.equal(writer.adopting(2), true);
    assert.equal(reader.adopted, 2);
  });
});

Deno.test("SlotReader.seal(): the thread takes no handed connection after the process gave up on it", () => {
  withClock(() => {
    const { writer, reader } = pair();
    assert.equal(writer.adopting(1), true);
    assert.equal(reader.seal(), 1);
    // Connection 2 is the process's to answer: the thread leaves its fd alone.
    assert.equal(writer.adopting(2), false);
    assert.equal(reader.seal(), 1, "sealed once");
    assert.equal(reader.adopted, 1);
  });
});

Deno.test("after() orders connection numbers across the Int32 wrap", () => {
  assert.equal(after(2, 1), true);
  assert.equal(after(1, 1), false);
  assert.equal(after(1, 2), false);
  // 2^31 connections handed to one thread: the numbers wrap, the order holds.
  assert.equal(after(-0x7fffffff, 0x7fffffff), true);
  assert.equal(after(0x7fffffff, -0x7fffffff), false);
  assert.equal(after(5, -3), true);
});

Deno.test("SlotReader.cutOff(): the thread takes what is left and learns what the process answered", () => {
  withClock(() => {
    const { writer, reader, socket, buffer } = pair();
    const hung = writer.opened(socket(7));
    const behind = writer.opened(socket(8));
    const later = writer.opened(socket(9));
    const answering = writer.opened(socket(10));
    writer.started(hung, false, 0);
    writer.started(behind, false, 1);
    writer.started(answering, false, 3);
    writer.answering(answering);
    // THREAD TIMEOUT: the process answers the two running requests.
    assert.equal(reader.claimAll().length, 2);
    // A later request, then the drain's deadline on the thread's side (its own reader).
    writer.started(later, false, 2);
    const own = new SlotReader(buffer, ORIGIN);
    assert.deepEqual([...own.cutOff()].sort(), [0, 1]);
    // The later one is the thread's now, to answer with its 504: the process claims nothing more.
    assert.deepEqual(reader.claimAll(), []);
    assert.equal(writer.answering(later), true);
    // Those the process answered stay its own.
    assert.equal(writer.answering(hung), false);
  });
});

Deno.test("SlotWriter reuses a closed connection's slot and leaves the rest unwatched", () => {
  withClock(() => {
    const { writer, reader, socket } = pair();
    const tags = Array.from({ length: ENTRIES }, (_, i) => writer.opened(socket(100 + i)));
    assert.equal(new Set(tags).size, ENTRIES);
    assert.ok(tags.every((t) => t >= 0));
    // One connection more than the slots: served, but not watched.
    const unwatched = writer.opened(socket(999));
    assert.equal(unwatched, -1);
    writer.started(unwatched);
    assert.equal(writer.answering(unwatched), true);
    writer.finished(unwatched);
    writer.closed(unwatched);
    assert.deepEqual(reader.claimAll(), []);
    // Closing a watched connection frees its slot for the next one.
    writer.closed(tags[5]);
    const again = writer.opened(socket(1000));
    assert.equal(again, tags[5]);
    writer.started(again);
    assert.deepEqual(reader.claimAll(), [{
      fd: 1000,
      age: 0,
      entry: -1,
      inApp: false,
      head: null,
    }]);
  });
});

Deno.test("SlotWriter frees a claimed slot when its connection closes", () => {
  withClock(() => {
    const { writer, reader, socket } = pair();
    const tag = writer.opened(socket(7));
    writer.started(tag);
    assert.equal(reader.claimAll().length, 1);
    writer.finished(tag);
    writer.closed(tag);
    assert.equal(writer.opened(socket(8)), tag);
  });
});

Deno.test("answerClaimed() writes the plain status reply to the fd, then shuts it down", () => {
  const calls: string[] = [];
  const libc = {
    write(fd: number, bytes: Uint8Array) {
      calls.push(`write ${fd} ${new TextDecoder().decode(bytes)}`);
      return bytes.length;
    },
    shutdown(fd: number, how: number) {
      calls.push(`shutdown ${fd} ${how}`);
      return 0;
    },
  } as unknown as Libc;
  answerClaimed(libc, 9, 504);
  assert.equal(calls.length, 2);
  assert.match(calls[0], /^write 9 HTTP\/1\.1 504 Gateway Timeout\r\n/);
  assert.match(calls[0], /\r\nconnection: close\r\n/);
  assert.ok(calls[0].endsWith("\r\n\r\nGateway Timeout\n"), calls[0]);
  assert.equal(calls[1], "shutdown 9 2");
  // On a TLS connection plain bytes are garbage to the client: it is only shut down.
  calls.length = 0;
  answerClaimed(libc, 9, 504, true);
  assert.deepEqual(calls, ["shutdown 9 2"]);
});

// The process claims a request while its thread runs on (THREAD TIMEOUT of an app that holds one
// request while the thread's loop turns; a drain's deadline): the claim may come between the HTTP
// layer's start and the handler, before the slot knows the method. Its answer must still be a
// whole HTTP message, whatever the method was: a real connection, answered on its real fd.
Deno.test("a request claimed before its method is known gets a whole answer: content-length: 0", async () => {
  const libc = denoRuntime.libc();
  const buffer = newSlots();
  const origin = Date.now();
  const writer = new SlotWriter(buffer, origin, denoRuntime.socketFd);
  const reader = new SlotReader(buffer, origin);
  const accepted: Socket[] = [];
  const arrived = Promise.withResolvers<Socket>();
  const server = createServer((socket) => {
    accepted.push(socket);
    // The HTTP layer starts a request once its head is read.
    socket.once("data", () => arrived.resolve(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const client = await rawConnect(port);
    const answer = readAll(client);
    client.write("GET /?q=unknown HTTP/1.1\r\nHost: x\r\n\r\n");
    const tag = writer.opened(await arrived.promise);
    writer.started(tag, false, -1);
    // The claim, before the handler's queued() said which method it is.
    const claimed = reader.claimAll();
    assert.equal(claimed.length, 1);
    const [c] = claimed;
    // No body byte in its access line.
    assert.equal(answerClaimed(libc, c.fd, 503, false, c.head), 0);
    const { text, status } = await answer;
    assert.equal(status, 503, JSON.stringify(text));
    const end = text.indexOf("\r\n\r\n");
    const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text.slice(0, end + 2));
    assert.ok(end > 0 && length !== null, JSON.stringify(text));
    // Exactly the body its head announces, then the close: no body cut short.
    assert.equal(text.length - (end + 4), Number(length[1]), JSON.stringify(text));
    assert.equal(Number(length[1]), 0, JSON.stringify(text));
  } finally {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("SlotWriter tells the request the app has from those waiting for it (limitConcurrency)", async () => {
  const { writer, reader, socket } = pair();
  const gates: (() => void)[] = [];
  const app = writer.inApp(() =>
    new Promise<Response>((resolve) => gates.push(() => resolve(new Response())))
  );
  // The thread's handler: one request in its app at a time, the rest wait in the queue.
  const handler = writer.queued(limitConcurrency(app, 1));
  const info = {} as ServeInfo;
  const answers: Promise<Response>[] = [];
  const tags = [7, 8, 9].map((fd) => writer.opened(socket(fd)));
  for (const tag of tags) {
    // The HTTP layer: the start, then the handler, in one go.
    writer.started(tag, false, -1);
    answers.push(Promise.resolve(handler(new Request("http://x/"), info)));
  }
  await Promise.resolve();
  assert.deepEqual(reader.claimAll().map((c) => [c.fd, c.inApp]), [[7, true], [8, false], [
    9,
    false,
  ]]);
  // A claimed request's thread comes back: the next one gets the app.
  gates.shift()!();
  for (const tag of tags) writer.answering(tag);
  await answers[0];
  await new Promise((resolve) => setTimeout(resolve, 0));
  // The next request of the first connection waits: its mark is not the old one's.
  writer.finished(tags[0]);
  writer.started(tags[0], false, -1);
  answers.push(Promise.resolve(handler(new Request("http://x/"), info)));
  assert.deepEqual(reader.claimAll().map((c) => [c.fd, c.inApp]), [[7, false]]);
  while (gates.length) {
    gates.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await Promise.all(answers);
});

Deno.test("SlotReader and a racing thread answer each request exactly once", async () => {
  const count = 20_000;
  const origin = Date.now();
  const slots = newSlots();
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const seen = new Int32Array(new SharedArrayBuffer(count * 4));
  const reader = new SlotReader(slots, origin);
  const racer = new Worker(new URL("./fixtures/threads/slots_racer.ts", import.meta.url), {
    type: "module",
  });
  try {
    const messages: { ready?: boolean; answered?: number[] }[] = [];
    let wake = () => {};
    racer.onmessage = (event) => {
      messages.push(event.data);
      wake();
    };
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return messages.shift()!;
    };
    racer.postMessage({ slots, origin, flags: flags.buffer, seen: seen.buffer, count });
    assert.equal((await next()).ready, true);
    // Both sides spin from here: the claims race the thread's answering() on every request.
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    const claimed: number[] = [];
    const claim = () => {
      for (const { fd } of reader.claimAll()) {
        claimed.push(fd);
        Atomics.store(seen, fd, 1);
      }
    };
    while (Atomics.load(flags, 1) === 0) claim();
    claim();
    const { answered } = await next();
    const taken = [...answered!, ...claimed].sort((a, b) => a - b);
    assert.deepEqual(taken, Array.from({ length: count }, (_, i) => i));
  } finally {
    racer.terminate();
  }
});

Deno.test("SlotReader.claimParked() takes a parked connection once; the thread then only closes it", () => {
  const { writer, reader, socket } = pair();
  const tag = writer.parked(socket(7));
  assert.ok(tag >= 0);
  assert.deepEqual(reader.claimAll(), [], "a parked connection has no request to claim");
  const answered: number[] = [];
  reader.claimParked((fd) => answered.push(fd));
  assert.deepEqual(answered, [7]);
  reader.claimParked((fd) => answered.push(fd));
  assert.deepEqual(answered, [7], "claimed once");
  // The thread's loop turns again: the process answered it, so the thread must not serve it.
  assert.equal(writer.unparked(tag), false);
  // Its entry is free again once the process is done with the fd.
  assert.equal(writer.opened(socket(8)), tag);
});

Deno.test("SlotWriter.unparked() takes a parked connection back before the process claims it", () => {
  const { writer, reader, socket } = pair();
  const tag = writer.parked(socket(7));
  assert.equal(writer.unparked(tag), true);
  const answered: number[] = [];
  reader.claimParked((fd) => answered.push(fd));
  assert.equal(answered.length, 0, "served (or handed on) by the thread: not the process's");
  // Parked again (a sibling had no room): shown again, in the same entry.
  assert.equal(writer.parked(socket(7)), tag);
  reader.claimParked((fd) => answered.push(fd));
  assert.deepEqual(answered, [7]);
});

Deno.test("SlotReader.claimParked(): an answer that fails still gives the fd back to the thread", () => {
  const { writer, reader, socket } = pair();
  const tag = writer.parked(socket(7));
  assert.throws(() =>
    reader.claimParked(() => {
      throw new Error("EBADF");
    }), /EBADF/);
  // Answered or not, the process is done with the fd: the thread closes its socket.
  assert.equal(writer.unparked(tag), false);
});

Deno.test("SlotWriter.parked() does not show a connection without an fd", () => {
  const buffer = newSlots();
  const writer = new SlotWriter(buffer, ORIGIN, () => -1);
  const tag = writer.parked({} as Socket);
  assert.equal(tag, -1);
  assert.equal(writer.unparked(tag), true, "unwatched: the thread's own");
});

Deno.test("A thread the process gave up on refuses the requests it starts after, without its app", async () => {
  const { writer, reader, socket } = pair();
  let reached = 0;
  const handler = writer.queued(() => {
    reached++;
    return new Response("from the app");
  });
  const info = {} as ServeInfo;
  const tag = writer.opened(socket(7));
  writer.started(tag, false, -1);
  assert.equal((await handler(new Request("http://x/"), info)).status, 200);
  writer.answering(tag);
  writer.finished(tag);
  reader.seal();
  writer.started(tag, false, -1);
  const refused = await handler(new Request("http://x/"), info);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("connection"), "close");
  assert.equal(reached, 1, "the app never saw the request after the seal");
});

Deno.test("SlotReader.claimParked() and a racing thread: each parked connection has one owner", async () => {
  const count = 20_000;
  const origin = Date.now();
  const slots = newSlots();
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const seen = new Int32Array(new SharedArrayBuffer(count * 4));
  const reader = new SlotReader(slots, origin);
  const racer = new Worker(new URL("./fixtures/threads/parked_racer.ts", import.meta.url), {
    type: "module",
  });
  try {
    const messages: { ready?: boolean; kept?: number[]; early?: number[] }[] = [];
    let wake = () => {};
    racer.onmessage = (event) => {
      messages.push(event.data);
      wake();
    };
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return messages.shift()!;
    };
    racer.postMessage({ slots, origin, flags: flags.buffer, seen: seen.buffer, count });
    assert.equal((await next()).ready, true);
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    const claimed: number[] = [];
    // The answer takes a while (a write, a shutdown): the thread must wait for its end.
    const claim = () =>
      reader.claimParked((fd) => {
        Atomics.store(seen, fd, 1);
        for (let i = 0; i < 200; i++) Atomics.load(seen, fd);
        claimed.push(fd);
        Atomics.store(seen, fd, 2);
      });
    while (Atomics.load(flags, 1) === 0) claim();
    claim();
    const { kept, early } = await next();
    assert.deepEqual(early, [], "closed while the process still answered it");
    const taken = [...kept!, ...claimed].sort((a, b) => a - b);
    assert.deepEqual(taken, Array.from({ length: count }, (_, i) => i));
    assert.ok(claimed.length > 0, "the race claimed some");
  } finally {
    racer.terminate();
  }
});
