// The stricter HTTP rules where the raw corpus cannot reach: --reuse-port (the runtime's native
// server, wrapped by appserve), header_map from TOML, and the log line of a method the runtime's
// Request cannot carry. The corpus (tests/corpus/) covers the shared-socket parser itself.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  FIXTURES,
  freePort,
  hasStackTrace,
  run,
  type Server,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { rawExchange } from "../_raw.ts";

const ECHO_APP = join(FIXTURES, "apps", "echo_app.ts");

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** Starts one worker on a fresh port, sharing the master's socket or with --reuse-port. */
async function serve(
  t: Target,
  reusePort: boolean,
  args: string[] = [],
): Promise<{ server: Server; port: number }> {
  const port = await freePort();
  const server = start(t, [
    "-w",
    "1",
    "-b",
    `127.0.0.1:${port}`,
    ...(reusePort ? ["--reuse-port"] : []),
    ...args,
    ECHO_APP,
  ]);
  await server.ready(1);
  return { server, port };
}

async function send(port: number, head: string): Promise<{ status: number; seen: Seen | null }> {
  const answer = await rawExchange(port, head + "Connection: close\r\n\r\n");
  const body = answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4);
  return { status: answer.status, seen: answer.status === 200 ? JSON.parse(body) : null };
}

for (const reusePort of [false, true]) {
  const mode = reusePort ? "--reuse-port" : "the shared socket";

  e2e(`an absolute-form target's https does not reach request.url (${mode})`, async (t) => {
    // The case: the client is no trusted proxy, so nothing it sends sets the scheme.
    const { server, port } = await serve(t, reusePort, ["--forwarded-allow-ips", "10.9.9.9"]);
    try {
      const { status, seen } = await send(
        port,
        "GET https://good.example/x HTTP/1.1\r\nHost: good.example\r\nX-Forwarded-Proto: https\r\n",
      );
      assert.equal(status, 200);
      assert.equal(seen!.url, "http://good.example/x");
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  e2e(`header_map drops fields named with _ by default (${mode})`, async (t) => {
    const { server, port } = await serve(t, reusePort);
    try {
      const { status, seen } = await send(
        port,
        "GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 6.6.6.6\r\nX-Kept: k\r\n",
      );
      assert.equal(status, 200);
      assert.equal(seen!.headers["x_forwarded_for"], undefined);
      assert.equal(seen!.headers["x-kept"], "k");
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  e2e(`--header-map refuse answers 400 with one WARNING line (${mode})`, async (t) => {
    const { server, port } = await serve(t, reusePort, ["--header-map", "refuse"]);
    try {
      assert.equal((await send(port, "GET / HTTP/1.1\r\nHost: x\r\nX_Y: 1\r\n")).status, 400);
      await server.waitFor(
        /\[WARNING\] Invalid request from ip=127\.0\.0\.1: underscore in header name \(header_map is refuse\) \(400\)/,
      );
      assert.equal((await send(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Y: 1\r\n")).status, 200);
      assert.ok(!hasStackTrace(server.stderr), server.stderr);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
}

e2e("a GET or HEAD body never reaches the app but is skipped on the wire", async (t) => {
  const { server, port } = await serve(t, false);
  try {
    const answer = await rawExchange(
      port,
      "HEAD /h HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
        "GET /g HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nGET\r\n0\r\n\r\n" +
        "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    // HEAD: a head only; then one JSON body per GET, with nothing taken from the bodies.
    const statuses = [...answer.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "200", "200"], answer.text);
    const seen = [...answer.text.matchAll(/\{"pid".*?"body":"(.*?)"\}/g)];
    assert.equal(seen.length, 2, answer.text);
    assert.match(seen[0][0], /"method":"GET","url":"http:\/\/x\/g"/);
    assert.equal(seen[0][1], "", "the GET body stays off the app");
    assert.match(seen[1][0], /"url":"http:\/\/x\/next"/);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

e2e('header_map = "dangerous" in appserve.toml passes fields named with _ on', async (t) => {
  const dir = tempDir();
  try {
    const config = join(dir.path, "appserve.toml");
    writeFileSync(config, 'header_map = "dangerous"\n');
    for (const reusePort of [false, true]) {
      const { server, port } = await serve(t, reusePort, ["-c", config]);
      try {
        const { seen } = await send(port, "GET / HTTP/1.1\r\nHost: x\r\nX_Y: 1\r\n");
        assert.equal(seen!.headers["x_y"], "1", reusePort ? "--reuse-port" : "shared socket");
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
    }
  } finally {
    dir.remove();
  }
});

e2e("an unknown --header-map mode is a one-line start-up error", async (t) => {
  const result = await run(t, ["--header-map", "merge", "-b", "127.0.0.1:0", ECHO_APP]);
  assert.equal(result.code, 1, result.stderr);
  assert.ok(!hasStackTrace(result.stderr), result.stderr);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /expected one of "drop", "refuse", "dangerous", got "merge"/);
});

e2e("an extension method reaches the app as sent, or gets 501 and one WARNING line", async (t) => {
  const { server, port } = await serve(t, false);
  try {
    const { status, seen } = await send(port, "FOO / HTTP/1.1\r\nHost: x\r\n");
    if (t.workers === "deno") {
      assert.equal(status, 200);
      assert.equal(seen!.method, "FOO");
    } else {
      // Bun's Request would have turned FOO into GET.
      assert.equal(status, 501);
      await server.waitFor(
        /\[WARNING\] Invalid request from ip=127\.0\.0\.1: method "FOO" cannot be passed on unchanged by this runtime \(501\)/,
      );
    }
    const known = await send(port, "PURGE / HTTP/1.1\r\nHost: x\r\n");
    assert.equal(known.seen?.method, "PURGE");
    assert.ok(!hasStackTrace(server.stderr), server.stderr);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
