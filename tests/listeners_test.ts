import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { staleSocketAt } from "../src/net/listeners.ts";
import { unixSockaddr } from "../src/net/sockaddr.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import type { Libc } from "../src/runtime/types.ts";
import { tempDir } from "./_helpers.ts";

const libc = denoRuntime.libc();
const ENOENT = 2;
const EACCES = 13;

/** A socket file nobody listens on, as a master killed with SIGKILL leaves it. */
function staleSocket(path: string): void {
  const fd = libc.socket(1, 1, 0);
  assert.equal(libc.bind(fd, unixSockaddr(path)), 0);
  libc.close(fd);
}

/** The real libc, except that connect(2) fails with `errno`. */
const connectFails = (errno: number): Libc => ({ ...libc, connect: () => -1, errno: () => errno });

function inDir(fn: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = tempDir();
    try {
      await fn(dir.path);
    } finally {
      dir.remove();
    }
  };
}

Deno.test("staleSocketAt() finds nothing at a path that does not exist", () => {
  assert.equal(staleSocketAt(libc, "/nonexistent/app.sock"), false);
});

Deno.test(
  "staleSocketAt() finds a stale socket where nobody listens",
  inDir((dir) => {
    staleSocket(join(dir, "app.sock"));
    assert.equal(staleSocketAt(libc, join(dir, "app.sock")), true);
  }),
);

Deno.test(
  "staleSocketAt() refuses a socket another process serves",
  inDir(async (dir) => {
    const path = join(dir, "app.sock");
    const server = createServer();
    await new Promise<void>((r) => server.listen(path, r));
    try {
      assert.throws(() => staleSocketAt(libc, path), {
        message: `Cannot listen at unix:${path}: another process is serving this socket ` +
          `(is appserve already running?)`,
      });
    } finally {
      await new Promise((r) => server.close(r));
    }
  }),
);

Deno.test(
  "staleSocketAt() takes a socket file that vanishes before the probe for nothing there",
  inDir((dir) => {
    staleSocket(join(dir, "app.sock"));
    assert.equal(staleSocketAt(connectFails(ENOENT), join(dir, "app.sock")), false);
  }),
);

Deno.test(
  "staleSocketAt() gives the real reason when the probe cannot tell",
  inDir((dir) => {
    const path = join(dir, "app.sock");
    staleSocket(path);
    assert.throws(() => staleSocketAt(connectFails(EACCES), path), {
      message: `Cannot listen at unix:${path}: cannot tell whether another process serves it: ` +
        "Permission denied",
    });
  }),
);

Deno.test(
  "staleSocketAt() refuses a file that is not a socket",
  inDir((dir) => {
    writeFileSync(join(dir, "app.sock"), "");
    assert.throws(() => staleSocketAt(libc, join(dir, "app.sock")), /not a socket is in the way/);
  }),
);
