// The chunked decoder on its own (src/http/body.ts): chunk sizes, whitespace and trailer rules,
// fed whole and one byte at a time, without sockets.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RequestBody } from "../src/http/body.ts";

const SINK = { bodyPause() {}, bodyResume() {}, sendContinue() {} };

interface Decoded {
  /** What feed returned in total, or -1 once it refused. */
  used: number;
  done: boolean;
  reason: string;
  body: string;
}

/** Feeds a chunked body (whole, or byte by byte) and reads what the app would get. */
async function decode(wire: string, byteByByte = false): Promise<Decoded> {
  const body = new RequestBody(SINK, -1, true, false);
  const text = new Response(body.stream).text().catch((e) => `error: ${e.message}`);
  const bytes = Buffer.from(wire, "latin1");
  let used = 0;
  const step = byteByByte ? 1 : bytes.length;
  for (let i = 0; i < bytes.length && !body.done; i += step) {
    const n = body.feed(bytes.subarray(i, i + step));
    if (n < 0) {
      used = -1;
      break;
    }
    used += n;
  }
  return { used, done: body.done, reason: body.reason, body: body.done ? await text : "" };
}

async function accepts(wire: string, want: string, extra = ""): Promise<void> {
  for (const byteByByte of [false, true]) {
    const r = await decode(wire + extra, byteByByte);
    assert.equal(r.done, true, `${JSON.stringify(wire)} should complete (${r.reason})`);
    assert.equal(r.body, want);
    assert.equal(r.used, wire.length, "feed takes exactly the body's bytes");
  }
}

async function refuses(wire: string, reason: RegExp): Promise<void> {
  for (const byteByByte of [false, true]) {
    const r = await decode(wire, byteByByte);
    assert.equal(r.used, -1, `${JSON.stringify(wire)} should be refused`);
    assert.match(r.reason, /^malformed chunked body: /);
    assert.match(r.reason, reason);
  }
}

Deno.test("RequestBody takes chunk sizes with any number of leading zeros", async () => {
  await accepts("0000000000000000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n", "hello");
  await accepts("000A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
});

Deno.test("RequestBody refuses more than 13 significant hex digits", async () => {
  await refuses("00010000000000005\r\nhello\r\n0\r\n\r\n", /chunk size too large/);
});

Deno.test("RequestBody caps a chunk-size line at 4096 bytes, zeros included", async () => {
  await accepts("0".repeat(4000) + "5\r\nhello\r\n0\r\n\r\n", "hello");
  await refuses("0".repeat(4100) + "5\r\nhello\r\n0\r\n\r\n", /chunk-size line too long/);
});

Deno.test("RequestBody refuses whitespace after a chunk size", async () => {
  await refuses("5 \r\nhello\r\n0\r\n\r\n", /whitespace after chunk size/);
  await refuses("5\t\r\nhello\r\n0\r\n\r\n", /whitespace after chunk size/);
  await refuses("5\r\nhello\r\n0 \r\n\r\n", /whitespace after chunk size/);
});

Deno.test("RequestBody takes whitespace before a chunk extension (BWS)", async () => {
  await accepts("5 ;a=1\r\nhello\r\n0\t; last\r\n\r\n", "hello");
});

Deno.test("RequestBody refuses a size line without digits", async () => {
  await refuses(" 5\r\nhello\r\n0\r\n\r\n", /invalid chunk size/);
  await refuses(";x\r\nhello\r\n0\r\n\r\n", /invalid chunk size/);
});

Deno.test("RequestBody reads and discards trailer fields that may be trailers", async () => {
  await accepts(
    '2\r\nhi\r\n0\r\nX-Checksum: abc\r\nETag: "x"\r\nServer-Timing: db;dur=1\r\n\r\n',
    "hi",
    "GET /next",
  );
});

Deno.test("RequestBody refuses framing, routing and auth fields as trailers", async () => {
  for (
    const name of [
      "Content-Length",
      "transfer-encoding",
      "TRAILER",
      "Host",
      "Authorization",
      "Cookie",
      "Content-Type",
      "Connection",
      "Expect",
    ]
  ) {
    await refuses(
      `2\r\nhi\r\n0\r\nX-Ok: 1\r\n${name}: v\r\n\r\n`,
      new RegExp(`"${name.toLowerCase()}" is not allowed as a trailer field`),
    );
  }
});

Deno.test("RequestBody takes trailer names that only start like forbidden ones", async () => {
  await accepts("2\r\nhi\r\n0\r\nContent-Length-X: 1\r\nHosts: 2\r\nTE-X: 3\r\n\r\n", "hi");
});

Deno.test("RequestBody refuses malformed trailer lines", async () => {
  await refuses("2\r\nhi\r\n0\r\nX-Ok 1\r\n\r\n", /invalid trailer field name/);
  await refuses("2\r\nhi\r\n0\r\n: v\r\n\r\n", /invalid trailer field name/);
  await refuses("2\r\nhi\r\n0\r\nX-Ok: 1\r\n folded\r\n\r\n", /obsolete line folding/);
  await refuses("2\r\nhi\r\n0\r\nX-Ok: a\x00b\r\n\r\n", /invalid character in trailer/);
  await refuses("2\r\nhi\r\n0\r\nX-Ok: a\nb\r\n\r\n", /invalid character in trailer/);
});

Deno.test("RequestBody keeps the bytes after the last chunk for the next request", async () => {
  const r = await decode("2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n");
  assert.equal(r.done, true);
  assert.equal(r.used, "2\r\nhi\r\n0\r\n\r\n".length);
});
