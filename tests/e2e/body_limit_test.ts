// limit_request_body: a declared or streamed body larger than the limit gets 413 and a WARNING
// line, and the same worker keeps serving.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";
import { rawConnect, rawExchange, readAll } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "pid_app.ts");

e2e("limit_request_body: 413 for a large Content-Length and a growing chunked body", async (t) => {
  const server = start(t, ["-b", "127.0.0.1:0", "--limit-request-body", "16", APP]);
  try {
    const url = await server.ready(1);
    const port = Number(new URL(url).port);
    const [worker] = childPids(server.pid);

    // At the limit: the app gets the whole body.
    const ok = await get(`${url}/echo`, { method: "POST", body: "0123456789abcdef" });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).body, "0123456789abcdef");

    // Declared too large: refused before any body byte is sent.
    const declared = await rawExchange(
      port,
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n",
    );
    assert.equal(declared.status, 413, declared.text);
    assert.match(declared.text, /connection: close/i);

    // Chunked, growing past the limit while the app is already reading it.
    const socket = await rawConnect(port);
    const answer = readAll(socket);
    socket.write("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    socket.write("a\r\n0123456789\r\n");
    await sleep(300);
    socket.write("a\r\n0123456789\r\n0\r\n\r\n");
    const streamed = await answer;
    assert.equal(streamed.status, 413, streamed.text);
    assert.doesNotMatch(streamed.text, /0123456789/);

    await server.waitFor(/\[WARNING\] .*\(413\)[^]*\[WARNING\] .*\(413\)/);
    // The same worker still serves.
    const after = await get(url);
    assert.equal(after.status, 200);
    assert.deepEqual(childPids(server.pid), [worker]);
  } finally {
    const result = await server.stop();
    assert.equal(result.code, 0);
  }
});

e2e("limit_request_body rejects a negative value", async (t) => {
  const server = start(t, ["-b", "127.0.0.1:0", "--limit-request-body=-1", APP]);
  const result = await server.exited;
  assert.equal(result.code, 1);
  assert.match(result.stderr.trim(), /^Error: --limit-request-body: .*$/);
});

e2e("limit_request_body in --reuse-port mode (the runtime's native server)", async (t) => {
  const port = await freePort();
  const server = start(t, [
    "-b",
    `127.0.0.1:${port}`,
    "--reuse-port",
    "--limit-request-body",
    "16",
    APP,
  ]);
  try {
    const url = await server.ready(1);
    const ok = await get(`${url}/echo`, { method: "POST", body: "0123456789abcdef" });
    assert.equal(JSON.parse(ok.body).body, "0123456789abcdef");
    const declared = await get(`${url}/echo`, { method: "POST", body: "0123456789abcdefg" });
    assert.equal(declared.status, 413);
    const chunked = await rawExchange(
      port,
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
    );
    assert.equal(chunked.status, 413, chunked.text);
    await server.waitFor(/\[WARNING\] .*\(413\)[^]*\[WARNING\] .*\(413\)/);
    assert.equal((await get(url)).status, 200);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

// A body refused on its declared length (or whole in the head's packet) is refused before the
// app runs; it is still a request answered, and gets its access line as one refused while the
// app read it does.
e2e("limit_request_body: a body refused before the app runs gets its access line", async (t) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  const server = start(t, [
    ...["-b", "127.0.0.1:0", "--limit-request-body", "16", "--access-logfile", file],
    ...["--access-logformat", "%(r)s %(s)s %(b)s %({content-length}i)s", APP],
  ]);
  try {
    const url = await server.ready(1);
    const port = Number(new URL(url).port);
    const declared = await rawExchange(
      port,
      "POST /echo?declared HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n",
    );
    assert.equal(declared.status, 413, declared.text);
    const length = /content-length: (\d+)/i.exec(declared.text)![1];
    // Chunked, the whole body (over the limit) in the same packet as the head.
    const chunked = await rawExchange(
      port,
      "POST /echo?chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "14\r\n01234567890123456789\r\n0\r\n\r\n",
    );
    assert.equal(chunked.status, 413, chunked.text);
    await eventually(
      () => readFileSync(file, "utf8").includes("?chunked"),
      "the access lines",
    );
    const lines = readFileSync(file, "utf8");
    assert.match(lines, new RegExp(`^POST /echo\\?declared HTTP/1\\.1 413 ${length} 17$`, "m"));
    assert.match(lines, new RegExp(`^POST /echo\\?chunked HTTP/1\\.1 413 ${length} -$`, "m"));
    assert.equal((await get(url)).status, 200);
  } finally {
    assert.equal((await server.stop()).code, 0);
    dir.remove();
  }
});

// Behind a proxy, the limit's warning names the client the proxy named (trusted forwarding
// headers, or a PROXY header), and the proxy it came through.
e2e("limit_request_body behind a trusted proxy: the warning names the client", async (t) => {
  const dir = tempDir();
  const socketPath = join(dir.path, "app.sock");
  const server = start(t, [
    ...["-b", `unix:${socketPath}`, "--forwarded-allow-ips", "unix"],
    ...["--limit-request-body", "16", APP],
  ]);
  try {
    await server.waitFor(/Listening at: unix:/);
    const declared = await rawExchange(
      socketPath,
      "POST /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nContent-Length: 17\r\n\r\n",
    );
    assert.equal(declared.status, 413, declared.text);
    await server.waitFor(
      /\[WARNING\] Invalid request from ip=203\.0\.113\.7 \(via unix\): request body larger .*\(413\)/,
    );
    // Chunked, growing past the limit while the app reads it.
    const socket = await rawConnect(socketPath);
    const answer = readAll(socket);
    socket.write(
      "POST /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.8\r\n" +
        "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    );
    await sleep(300);
    socket.write("a\r\n0123456789\r\n0\r\n\r\n");
    assert.equal((await answer).status, 413);
    await server.waitFor(
      /\[WARNING\] Invalid request from ip=203\.0\.113\.8 \(via unix\): request body larger .*\(413\)/,
    );
  } finally {
    assert.equal((await server.stop()).code, 0);
    dir.remove();
  }
});

e2e("limit_request_body behind a PROXY header: the warning names the client", async (t) => {
  const server = start(t, [
    ...["-b", "127.0.0.1:0", "--proxy-protocol", "v1", "--proxy-allow-from", "127.0.0.1"],
    ...["--limit-request-body", "16", APP],
  ]);
  try {
    const url = await server.ready(1);
    const declared = await rawExchange(
      Number(new URL(url).port),
      "PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n" +
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n",
    );
    assert.equal(declared.status, 413, declared.text);
    await server.waitFor(
      /\[WARNING\] Invalid request from ip=198\.51\.100\.9 \(via 127\.0\.0\.1\): request body .*\(413\)/,
    );
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
