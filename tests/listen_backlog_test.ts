// unixListenQueues() and tcpListeners() against real sockets of this process: the kernel's own
// count through sock_diag, nothing for what is not a listening socket, and nothing (never a
// throw, never a hang) when netlink fails or answers with bytes that do not parse.

import assert from "node:assert/strict";
import { openSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { tcpListeners, unixListenQueues } from "../src/net/listen_backlog.ts";
import { decodeSockaddr, inetSockaddr, unixSockaddr } from "../src/net/sockaddr.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import type { Libc } from "../src/runtime/types.ts";
import { tempDir } from "./_helpers.ts";

const libc = denoRuntime.libc();
const AF_UNIX = 1;
const AF_INET = 2;
const SOCK_STREAM = 1;

/** Runs `fn` with fds it opens closed afterwards, in a temporary directory. */
function withFds(fn: (dir: string, open: (fd: number) => number) => void) {
  return () => {
    const dir = tempDir();
    const fds: number[] = [];
    try {
      fn(dir.path, (fd) => {
        assert.ok(fd >= 0, libc.strerror(libc.errno()));
        fds.push(fd);
        return fd;
      });
    } finally {
      fds.forEach((fd) => libc.close(fd));
      dir.remove();
    }
  };
}

function unixListener(path: string, open: (fd: number) => number): number {
  const fd = open(libc.socket(AF_UNIX, SOCK_STREAM, 0));
  assert.equal(libc.bind(fd, unixSockaddr(path)), 0);
  assert.equal(libc.listen(fd, 16), 0);
  return fd;
}

function unixClient(path: string, open: (fd: number) => number): number {
  const fd = open(libc.socket(AF_UNIX, SOCK_STREAM, 0));
  assert.equal(libc.connect(fd, unixSockaddr(path)), 0);
  return fd;
}

const openFds = () => readdirSync("/proc/self/fd").length;

Deno.test(
  "unixListenQueues() counts the connections waiting on each listening unix socket",
  withFds((dir, open) => {
    const busy = unixListener(join(dir, "busy.sock"), open);
    const idle = unixListener(join(dir, "idle.sock"), open);
    for (let i = 0; i < 3; i++) unixClient(join(dir, "busy.sock"), open);
    const before = openFds();
    assert.deepEqual(unixListenQueues(libc, [busy, idle]), new Map([[busy, 3], [idle, 0]]));
    // The netlink socket is closed again.
    assert.equal(openFds(), before);
  }),
);

Deno.test(
  "unixListenQueues() gives nothing for a connected unix socket, a TCP listener or a file",
  withFds((dir, open) => {
    const listener = unixListener(join(dir, "app.sock"), open);
    const client = unixClient(join(dir, "app.sock"), open);
    const tcp = open(libc.socket(AF_INET, SOCK_STREAM, 0));
    assert.equal(libc.bind(tcp, inetSockaddr("127.0.0.1", 0)), 0);
    assert.equal(libc.listen(tcp, 16), 0);
    const file = open(openSync(join(dir, "file"), "w"));
    const queues = unixListenQueues(libc, [client, tcp, file, 9999, listener]);
    assert.deepEqual(queues, new Map([[listener, 1]]));
  }),
);

Deno.test(
  "unixListenQueues() gives nothing, without throwing, when netlink refuses or fails",
  withFds((dir, open) => {
    const listener = unixListener(join(dir, "app.sock"), open);
    const failing: Partial<Libc>[] = [
      { socket: () => -1 },
      { write: () => -1 },
      { recv: () => -1 },
    ];
    for (const calls of failing) {
      const before = openFds();
      assert.deepEqual(unixListenQueues({ ...libc, ...calls }, [listener]), new Map());
      assert.equal(openFds(), before);
    }
  }),
);

/** A TCP listener on 127.0.0.1 and its port. */
function tcpListener(open: (fd: number) => number): { fd: number; port: number } {
  const fd = open(libc.socket(AF_INET, SOCK_STREAM, 0));
  assert.equal(libc.bind(fd, inetSockaddr("127.0.0.1", 0)), 0);
  assert.equal(libc.listen(fd, 16), 0);
  const address = new Uint8Array(128);
  const length = new Uint8Array(new Uint32Array([128]).buffer);
  assert.equal(libc.getsockname(fd, address, length), 0);
  return { fd, port: decodeSockaddr(address, 128).port };
}

const inodeOf = (fd: number) => Number(/\d+/.exec(readlinkSync(`/proc/self/fd/${fd}`))![0]);

Deno.test(
  "tcpListeners() finds a listening TCP socket with its address, port, inode and queue",
  withFds((_dir, open) => {
    const { fd, port } = tcpListener(open);
    for (let i = 0; i < 2; i++) {
      const client = open(libc.socket(AF_INET, SOCK_STREAM, 0));
      assert.equal(libc.connect(client, inetSockaddr("127.0.0.1", port)), 0);
    }
    const before = openFds();
    const mine = tcpListeners(libc)?.filter((l) => l.inode === inodeOf(fd));
    assert.deepEqual(mine, [
      {
        family: AF_INET,
        address: new Uint8Array([127, 0, 0, 1]),
        port,
        inode: inodeOf(fd),
        queued: 2,
      },
    ]);
    assert.equal(openFds(), before);
  }),
);

// struct nlmsghdr with `body` after it; `length` overrides nlmsg_len.
function nlmsg(type: number, seq: number, body: Uint8Array, length?: number): Uint8Array {
  const bytes = new Uint8Array(16 + body.length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, length ?? bytes.length, true);
  v.setUint16(4, type, true);
  v.setUint32(8, seq, true);
  bytes.set(body, 16);
  return bytes;
}

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_DIAG_BY_FAMILY = 20;
const TCP_LISTEN = 10;

// struct unix_diag_msg of a listening socket, then a UNIX_DIAG_RQLEN attribute: rqueue 5.
function unixBody(inode: number): Uint8Array {
  const bytes = new Uint8Array(16 + 12);
  const v = new DataView(bytes.buffer);
  v.setUint8(0, AF_UNIX);
  v.setUint8(2, TCP_LISTEN);
  v.setUint32(4, inode, true);
  v.setUint16(16, 12, true);
  v.setUint16(18, 4, true);
  v.setUint32(20, 5, true);
  return bytes;
}

// struct inet_diag_msg of a listener on 127.0.0.1:8000, inode 77, rqueue 5.
function inetBody(): Uint8Array {
  const bytes = new Uint8Array(72);
  const v = new DataView(bytes.buffer);
  v.setUint8(0, AF_INET);
  v.setUint8(1, TCP_LISTEN);
  v.setUint16(4, 8000, false);
  bytes.set([127, 0, 0, 1], 8);
  v.setUint32(56, 5, true);
  v.setUint32(68, 77, true);
  return bytes;
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

/** What a fake recv answers a request with: the unix request's, and the inet dump's. */
type Reply = (seq: number, inode: number | undefined) => Uint8Array;
const body = (inode: number | undefined) => (inode === undefined ? inetBody() : unixBody(inode));
const done = (seq: number) => nlmsg(NLMSG_DONE, seq, new Uint8Array(4));

/** Answers every request with `reply(seq, inode)`; inode is the unix request's. */
function answering(reply: Reply): Partial<Libc> {
  let seq = 0;
  let inode: number | undefined;
  return {
    write: (fd, bytes) => {
      const v = new DataView(bytes.buffer, bytes.byteOffset);
      seq = v.getUint32(8, true);
      inode = v.getUint8(16) === AF_UNIX ? v.getUint32(24, true) : undefined;
      return libc.write(fd, bytes);
    },
    recv: (_fd, buffer) => {
      const bytes = reply(seq, inode);
      buffer.set(bytes);
      return bytes.length;
    },
  };
}

Deno.test(
  "unixListenQueues() and tcpListeners() read a well-formed reply (the fake answers below)",
  withFds((dir, open) => {
    const listener = unixListener(join(dir, "app.sock"), open);
    const fake = {
      ...libc,
      ...answering((seq, inode) => concat(nlmsg(SOCK_DIAG_BY_FAMILY, seq, body(inode)), done(seq))),
    };
    assert.deepEqual(unixListenQueues(fake, [listener]), new Map([[listener, 5]]));
    const one = { family: AF_INET, address: new Uint8Array([127, 0, 0, 1]), port: 8000 };
    // One per dump, IPv4's and IPv6's.
    assert.deepEqual(tcpListeners(fake), [1, 2].map(() => ({ ...one, inode: 77, queued: 5 })));
  }),
);

const malformed: Record<string, Reply> = {
  "junk": () => new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff),
  "a too-short nlmsg_len": (seq, inode) => nlmsg(SOCK_DIAG_BY_FAMILY, seq, body(inode), 8),
  "an nlmsg_len past the datagram": (seq, inode) =>
    nlmsg(SOCK_DIAG_BY_FAMILY, seq, body(inode), 4096),
  "a message shorter than its struct": (seq, inode) =>
    nlmsg(SOCK_DIAG_BY_FAMILY, seq, body(inode).subarray(0, 20)),
  "NLMSG_ERROR": (seq) => nlmsg(NLMSG_ERROR, seq, new Uint8Array(20)),
  "a dump that never ends (another sequence number)": (seq, inode) =>
    nlmsg(SOCK_DIAG_BY_FAMILY, seq + 1000, body(inode)),
};

for (const [name, reply] of Object.entries(malformed)) {
  Deno.test(
    `unixListenQueues() and tcpListeners() give nothing for a reply with ${name}`,
    withFds((dir, open) => {
      const listener = unixListener(join(dir, "app.sock"), open);
      tcpListener(open);
      const before = openFds();
      const fake = { ...libc, ...answering(reply) };
      assert.deepEqual(unixListenQueues(fake, [listener]), new Map());
      assert.deepEqual(tcpListeners(fake), []);
      assert.equal(openFds(), before);
    }),
  );
}

Deno.test(
  "tcpListeners() gives nothing, without throwing, when netlink refuses or fails",
  withFds((_dir, open) => {
    tcpListener(open);
    assert.equal(tcpListeners({ ...libc, socket: () => -1 }), undefined);
    for (const calls of [{ write: () => -1 }, { recv: () => -1 }] as Partial<Libc>[]) {
      const before = openFds();
      assert.deepEqual(tcpListeners({ ...libc, ...calls }), []);
      assert.equal(openFds(), before);
    }
  }),
);
