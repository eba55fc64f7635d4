// What is written for a gthread thread's requests that the thread cannot answer itself
// (src/worker/thread_answers.ts): each reply on its fd, and each request's one access line, over
// a recording libc and a real Logger.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Logger } from "../mod.ts";
import { INFLIGHT_BYTES, InflightTable } from "../src/ipc/inflight.ts";
import { inetSockaddr } from "../src/net/sockaddr.ts";
import type { Libc } from "../src/runtime/types.ts";
import {
  answerClaimedRequests,
  answerUnadopted,
  waitingRequest,
} from "../src/worker/thread_answers.ts";
import { tempDir } from "./_helpers.ts";

const encoder = new TextEncoder();

/** A libc whose fds are connections from 10.0.0.9:fd, `waiting` the bytes each has to read. */
function recordingLibc(
  waiting: Record<number, string> = {},
): { libc: Libc; calls: string[]; written: Record<number, string> } {
  const calls: string[] = [];
  // What went out on each fd, whole.
  const written: Record<number, string> = {};
  const libc = {
    write(fd: number, bytes: Uint8Array) {
      written[fd] = new TextDecoder().decode(bytes);
      calls.push(`write ${fd} ${written[fd].split("\r\n")[0]}`);
      return bytes.length;
    },
    shutdown: (fd: number) => void calls.push(`shutdown ${fd}`),
    close: (fd: number) => void calls.push(`close ${fd}`),
    recv(fd: number, buffer: Uint8Array) {
      const bytes = encoder.encode(waiting[fd] ?? "");
      buffer.set(bytes);
      return bytes.length || -1;
    },
    getpeername(fd: number, sa: Uint8Array, len: Uint8Array) {
      const peer = inetSockaddr("10.0.0.9", fd);
      sa.set(peer);
      new Uint32Array(len.buffer)[0] = peer.length;
      return 0;
    },
  } as unknown as Libc;
  return { libc, calls, written };
}

async function withAccessLog(fn: (log: Logger) => void): Promise<string[]> {
  const dir = tempDir();
  try {
    const file = join(dir.path, "access.log");
    const log = new Logger({ accessLog: file });
    fn(log);
    await log.close();
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } finally {
    dir.remove();
  }
}

Deno.test("answerClaimedRequests() answers each claimed request and logs each once, with its status", async () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  const now = Date.now();
  table.put(0, "GET", "/hang", "127.0.0.1:1000", now - 3000);
  table.put(1, "GET", "/answering", "127.0.0.1:1001", now - 2500);
  table.put(2, "GET", "/?i=1", "127.0.0.1:1002", now - 2000);
  const { libc, calls, written } = recordingLibc();
  const lines = await withAccessLog((log) =>
    answerClaimedRequests([
      // Claimed out of the table's order; the one whose response is under way is not claimed.
      { fd: 12, age: 2000, entry: 2, inApp: false, head: false },
      { fd: 10, age: 3000, entry: 0, inApp: true, head: false },
      // Past the table's entries: named by its client only.
      { fd: 13, age: 1000, entry: -1, inApp: false, head: false },
      // A HEAD past them too: its slot says so, and it gets the head alone.
      { fd: 14, age: 500, entry: -1, inApp: false, head: true },
    ], { libc, log, table, status: (c) => (c.age === 3000 ? 504 : 503), tls: false })
  );
  assert.deepEqual(calls, [
    "write 12 HTTP/1.1 503 Service Unavailable",
    "shutdown 12",
    "write 10 HTTP/1.1 504 Gateway Timeout",
    "shutdown 10",
    "write 13 HTTP/1.1 503 Service Unavailable",
    "shutdown 13",
    "write 14 HTTP/1.1 503 Service Unavailable",
    "shutdown 14",
  ]);
  assert.ok(written[13].endsWith("\r\n\r\nService Unavailable\n"), written[13]);
  assert.ok(
    written[14].endsWith("content-length: 20\r\nconnection: close\r\nserver: appserve\r\n\r\n"),
  );
  assert.equal(lines.length, 4, lines.join("\n"));
  assert.match(lines[0], /^127\.0\.0\.1 .*"GET \/hang HTTP\/1\.1" 504 16 /);
  assert.match(lines[1], /^127\.0\.0\.1 .*"GET \/\?i=1 HTTP\/1\.1" 503 20 /);
  // Its request line is not known: nothing in it is claimed, not even the protocol (nginx's
  // "-" for a request with no line; the three parts keep the line's fields where parsers split).
  assert.match(lines[2], /^10\.0\.0\.9 .*"- - -" 503 20 /);
  // No body went out for the HEAD: none in its line.
  assert.match(lines[3], /^10\.0\.0\.9 .*"- - -" 503 - /);
});

Deno.test("a claimed request whose slot had no method yet is answered as its table entry says", async () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  const now = Date.now();
  table.put(0, "GET", "/named", "127.0.0.1:1000", now - 2000);
  table.put(1, "HEAD", "/named-head", "127.0.0.1:1001", now - 1500);
  const { libc, written } = recordingLibc();
  const lines = await withAccessLog((log) =>
    answerClaimedRequests([
      { fd: 10, age: 2000, entry: 0, inApp: false, head: null },
      { fd: 11, age: 1500, entry: 1, inApp: false, head: null },
      // Named nowhere: a whole answer with no body, whatever its method was.
      { fd: 12, age: 1000, entry: -1, inApp: false, head: null },
    ], { libc, log, table, status: () => 503, tls: false })
  );
  // The table knew a GET: its body goes out, as for any claimed GET.
  assert.ok(written[10].endsWith("\r\n\r\nService Unavailable\n"), written[10]);
  assert.ok(
    written[11].endsWith("content-length: 20\r\nconnection: close\r\nserver: appserve\r\n\r\n"),
  );
  assert.match(written[12], /content-length: 0\r\n/);
  assert.ok(written[12].endsWith("\r\n\r\n"), written[12]);
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.match(lines[0], /"GET \/named HTTP\/1\.1" 503 20 /);
  assert.match(lines[1], /"HEAD \/named-head HTTP\/1\.1" 503 - /);
  assert.match(lines[2], /"- - -" 503 - /);
});

Deno.test("answerUnadopted() answers 503 and logs the request waiting on the connection", async () => {
  const { libc, calls } = recordingLibc({
    7: "GET /?i=2 HTTP/1.1\r\nHost: x\r\n\r\n",
    8: "PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\nPOST /form HTTP/1.1\r\nHost: x\r\n",
  });
  const lines = await withAccessLog((log) => {
    answerUnadopted(7, { libc, log, proxyProtocol: "off", tls: false });
    answerUnadopted(8, { libc, log, proxyProtocol: "v1", tls: false });
    // Nothing sent yet: a 503 all the same, but no request to log.
    answerUnadopted(9, { libc, log, proxyProtocol: "off", tls: false });
  });
  assert.deepEqual(calls, [
    "write 7 HTTP/1.1 503 Service Unavailable",
    "shutdown 7",
    "close 7",
    "write 8 HTTP/1.1 503 Service Unavailable",
    "shutdown 8",
    "close 8",
    "write 9 HTTP/1.1 503 Service Unavailable",
    "shutdown 9",
    "close 9",
  ]);
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[0], /^10\.0\.0\.9 .*"GET \/\?i=2 HTTP\/1\.1" 503 20 /);
  // The PROXY header names the client, as it would have for the app.
  assert.match(lines[1], /^192\.0\.2\.1 .*"POST \/form HTTP\/1\.1" 503 20 /);
});

Deno.test("with TLS, a claimed request gets no plain reply but keeps its access line", async () => {
  const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
  table.put(0, "GET", "/hang", "127.0.0.1:1000", Date.now() - 3000);
  const { libc, calls } = recordingLibc({ 7: "\x16\x03\x01\x02\x00" });
  const lines = await withAccessLog((log) => {
    const claimed = [{ fd: 10, age: 3000, entry: 0, inApp: true, head: false }];
    answerClaimedRequests(claimed, { libc, log, table, status: () => 504, tls: true });
    // A handed connection nobody took: its bytes are a TLS handshake, not a request to log.
    answerUnadopted(7, { libc, log, proxyProtocol: "off", tls: true });
  });
  assert.deepEqual(calls, ["shutdown 10", "shutdown 7", "close 7"]);
  assert.equal(lines.length, 1, lines.join("\n"));
  // Nothing went out: no body bytes.
  assert.match(lines[0], /^127\.0\.0\.1 .*"GET \/hang HTTP\/1\.1" 504 - /);
});

Deno.test("answerClaimedRequests() at a drain's deadline names each request at WARNING first", async () => {
  const dir = tempDir();
  try {
    const table = new InflightTable(new Uint8Array(INFLIGHT_BYTES));
    table.put(0, "GET", "/spin", "127.0.0.1:1000", Date.now() - 3000);
    table.put(1, "GET", "/?i=1", "127.0.0.1:1001", Date.now() - 2000);
    const { libc } = recordingLibc();
    const file = join(dir.path, "error.log");
    const log = new Logger({ file });
    answerClaimedRequests([
      { fd: 11, age: 2000, entry: 1, inApp: false, head: false },
      { fd: 10, age: 3000, entry: 0, inApp: true, head: false },
      { fd: 12, age: 1000, entry: -1, inApp: false, head: false },
    ], {
      libc,
      log,
      table,
      status: (c) => (c.inApp ? 504 : 503),
      tls: false,
      cutOff: { where: "thread 3 (pid:9)", graceSeconds: 1 },
    });
    await log.close();
    const warnings = readFileSync(file, "utf8").split("\n").filter((l) => l.includes("Cut off"));
    const lead = "[WARNING] Cut off at the graceful timeout (1 s) on thread 3 (pid:9): ";
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.ok(warnings[0].includes(`${lead}GET /spin from 127.0.0.1:1000 for 3.`), warnings[0]);
    assert.ok(warnings[1].includes(`${lead}GET /?i=1 from 127.0.0.1:1001 for 2.`), warnings[1]);
    assert.ok(warnings[2].endsWith(`${lead}1 more`), warnings[2]);
  } finally {
    dir.remove();
  }
});

Deno.test("waitingRequest() reads a whole request line only", () => {
  const read = (text: string, mode: "off" | "auto" = "off") =>
    waitingRequest(encoder.encode(text), mode, () => "10.0.0.1:9");
  const got = read("DELETE /x?y=1 HTTP/1.0\n");
  assert.deepEqual(
    [got?.method, got?.target, got?.client, got?.entry],
    ["DELETE", "/x?y=1", "10.0.0.1:9", -1],
  );
  assert.equal(read("GET /not-yet-whole HTT"), undefined);
  assert.equal(read("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"), undefined, "TLS");
  assert.equal(read("GET /a b HTTP/1.1\r\n"), undefined);
  // A PROXY header where proxy_protocol is off: the HTTP layer would refuse it (400).
  assert.equal(read("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n"), undefined);
  assert.equal(read("PROXY TCP6 ::1 ::1 1 2\r\nGET / HTTP/1.1\r\n", "auto")?.client, "[::1]:1");
});
