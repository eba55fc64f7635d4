// unixListenQueues() against real sockets of this process: the kernel's own count through
// sock_diag, nothing for what is not a listening unix socket, and nothing (never a throw) when
// netlink fails.

import assert from "node:assert/strict";
import { openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { unixListenQueues } from "../src/net/listen_backlog.ts";
import { inetSockaddr, unixSockaddr } from "../src/net/sockaddr.ts";
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
