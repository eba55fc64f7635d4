// The PROXY header reader on its own (src/http/proxy_protocol.ts): v1 lines and v2 blocks, which
// modes take which, headers cut anywhere, bytes that only look like a signature, and families
// that keep the socket's peer. tests/e2e/proxy_protocol_test.ts covers the same through appserve.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ParseError } from "../src/http/parser.ts";
import { readProxyHeader } from "../src/http/proxy_protocol.ts";
import type { ProxyMode } from "../src/http/types.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const HTTP = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

function bytes(text: string): Uint8Array {
  return Buffer.from(text, "latin1");
}

/** A v2 header: signature, version/command byte, family byte, then `block` (addresses, TLVs). */
function v2(verCmd: number, family: number, block: number[]): Uint8Array {
  return Uint8Array.from([
    ...SIGNATURE,
    verCmd,
    family,
    block.length >> 8,
    block.length & 255,
    ...block,
  ]);
}

function ipv4Block(src: number[], dst: number[], srcPort: number, dstPort: number): number[] {
  return [...src, ...dst, srcPort >> 8, srcPort & 255, dstPort >> 8, dstPort & 255];
}

function ipv6Block(src: number[], dst: number[], srcPort: number, dstPort: number): number[] {
  const addr = (groups: number[]) => groups.flatMap((g) => [g >> 8, g & 255]);
  return [...addr(src), ...addr(dst), srcPort >> 8, srcPort & 255, dstPort >> 8, dstPort & 255];
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  return Uint8Array.from([...a, ...b]);
}

function refused(buf: Uint8Array, mode: ProxyMode, message: RegExp): void {
  assert.throws(
    () => readProxyHeader(buf, mode),
    (e) => e instanceof ParseError && e.status === 400 && message.test(e.message),
    `${JSON.stringify(Buffer.from(buf).toString("latin1"))} in mode ${mode}`,
  );
}

// ---------------------------------------------------------------- v1

Deno.test("readProxyHeader() reads a v1 TCP4 line and leaves the request after it", () => {
  const line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  for (const mode of ["v1", "auto"] as const) {
    assert.deepEqual(readProxyHeader(bytes(line + HTTP), mode), {
      kind: "header",
      version: 1,
      length: line.length,
      remote: { transport: "tcp", hostname: "192.0.2.1", port: 56324 },
    });
  }
});

Deno.test("readProxyHeader() reads a v1 TCP6 line", () => {
  const line = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
  assert.deepEqual(readProxyHeader(bytes(line), "v1"), {
    kind: "header",
    version: 1,
    length: line.length,
    remote: { transport: "tcp", hostname: "2001:db8::1", port: 1 },
  });
});

Deno.test("readProxyHeader() keeps the socket's peer for v1 UNKNOWN, with or without addresses", () => {
  for (const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"]) {
    assert.deepEqual(readProxyHeader(bytes(line + HTTP), "v1"), {
      kind: "header",
      version: 1,
      length: line.length,
      remote: null,
    });
  }
});

Deno.test("readProxyHeader() asks for more bytes at every cut of a v1 line", () => {
  const line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  for (let n = 0; n < line.length; n++) {
    assert.deepEqual(readProxyHeader(bytes(line.slice(0, n)), "auto"), { kind: "more" }, `${n}`);
  }
});

Deno.test("readProxyHeader() refuses a v1 line without an end past 107 bytes", () => {
  refused(bytes("PROXY TCP4 " + "1".repeat(96)), "v1", /^PROXY v1 line too long$/);
  // One byte short of the bound still waits for the line's end.
  assert.deepEqual(readProxyHeader(bytes("PROXY TCP4 " + "1".repeat(95)), "v1"), {
    kind: "more",
  });
});

Deno.test("readProxyHeader() refuses a malformed v1 line", () => {
  for (
    const line of [
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n", // LF without CR
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", // a field missing
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 x\r\n", // a field too many
      "PROXY TCP5 192.0.2.1 198.51.100.2 56324 443\r\n", // no such protocol
      "PROXY tcp4 192.0.2.1 198.51.100.2 56324 443\r\n", // protocols are upper-case
      `PROXY TCP6 ${"a".repeat(50)} ${"b".repeat(40)} 1 2\r\n`, // ends past 107 bytes
    ]
  ) {
    refused(bytes(line), "v1", /^malformed PROXY v1 line$/);
  }
});

Deno.test("readProxyHeader() refuses a v1 address that does not match its protocol", () => {
  for (
    const line of [
      "PROXY TCP4 256.0.2.1 198.51.100.2 1 2\r\n",
      "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100 1 2\r\n",
      "PROXY TCP4 ::1 198.51.100.2 1 2\r\n",
      "PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
      "PROXY TCP6 ::1 nope 1 2\r\n",
    ]
  ) {
    refused(bytes(line), "auto", /^invalid address in PROXY v1 line$/);
  }
});

Deno.test("readProxyHeader() refuses a v1 port out of range or not in plain digits", () => {
  for (const ports of ["65536 2", "1 65536", "080 2", "1 -1", "x 2", "1 2.0", " 1 2"]) {
    const line = `PROXY TCP4 192.0.2.1 198.51.100.2 ${ports}\r\n`;
    refused(bytes(line), "v1", ports === " 1 2" ? /^malformed/ : /^invalid PROXY v1 port$/);
  }
  assert.equal(
    readProxyHeader(bytes("PROXY TCP4 192.0.2.1 198.51.100.2 0 65535\r\n"), "v1").kind,
    "header",
  );
});

// ---------------------------------------------------------------- v2

Deno.test("readProxyHeader() reads a v2 PROXY block for TCP over IPv4", () => {
  const header = v2(0x21, 0x11, ipv4Block([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443));
  for (const mode of ["v2", "auto"] as const) {
    assert.deepEqual(readProxyHeader(concat(header, bytes(HTTP)), mode), {
      kind: "header",
      version: 2,
      length: 28,
      remote: { transport: "tcp", hostname: "192.0.2.1", port: 56324 },
    });
  }
});

Deno.test("readProxyHeader() reads a v2 block for IPv6 in its canonical short form", () => {
  const cases: [number[], string][] = [
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], "2001:db8::1"],
    [[0, 0, 0, 0, 0, 0, 0, 0], "::"],
    [[0, 0, 0, 0, 0, 0, 0, 1], "::1"],
    [[0xfe80, 0, 0, 0, 0, 0, 0, 0], "fe80::"],
    // The longest run of zero groups is the one shortened; the first of two equal runs.
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 0], "2001:db8:0:0:1::"],
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"],
    // A single zero group stays as it is.
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"],
  ];
  for (const [groups, text] of cases) {
    const header = v2(0x21, 0x21, ipv6Block(groups, [0, 0, 0, 0, 0, 0, 0, 1], 8080, 443));
    assert.deepEqual(readProxyHeader(header, "v2"), {
      kind: "header",
      version: 2,
      length: 52,
      remote: { transport: "tcp", hostname: text, port: 8080 },
    }, text);
  }
});

Deno.test("readProxyHeader() counts v2 TLVs after the addresses in the header's length", () => {
  const tlv = [0x04, 0x00, 0x03, 1, 2, 3]; // PP2_TYPE_NOOP with 3 bytes
  const header = v2(0x21, 0x11, [...ipv4Block([10, 0, 0, 1], [10, 0, 0, 2], 1, 2), ...tlv]);
  assert.deepEqual(readProxyHeader(concat(header, bytes(HTTP)), "v2"), {
    kind: "header",
    version: 2,
    length: 34,
    remote: { transport: "tcp", hostname: "10.0.0.1", port: 1 },
  });
});

Deno.test("readProxyHeader() keeps the socket's peer for v2 LOCAL and for unknown families", () => {
  const cases: [string, Uint8Array][] = [
    ["LOCAL, no addresses", v2(0x20, 0x00, [])],
    ["LOCAL with an IPv4 block", v2(0x20, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ["PROXY over UNSPEC", v2(0x21, 0x00, [])],
    ["PROXY over UDP4", v2(0x21, 0x12, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    [
      "PROXY over UDP6",
      v2(0x21, 0x22, ipv6Block([0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 2], 1, 2)),
    ],
    ["PROXY over a unix stream", v2(0x21, 0x31, Array(216).fill(0x61))],
    ["PROXY over an undefined family", v2(0x21, 0x41, [1, 2, 3])],
  ];
  for (const [what, header] of cases) {
    assert.deepEqual(readProxyHeader(concat(header, bytes(HTTP)), "auto"), {
      kind: "header",
      version: 2,
      length: header.length,
      remote: null,
    }, what);
  }
});

Deno.test("readProxyHeader() asks for more bytes at every cut of a v2 block", () => {
  const header = v2(
    0x21,
    0x21,
    ipv6Block([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1], 1, 2),
  );
  for (let n = 0; n < header.length; n++) {
    assert.deepEqual(readProxyHeader(header.subarray(0, n), "v2"), { kind: "more" }, `${n}`);
  }
});

Deno.test("readProxyHeader() refuses a v2 block of another version or an unknown command", () => {
  refused(v2(0x11, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "v2", /^unsupported/);
  refused(v2(0x31, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "v2", /^unsupported/);
  refused(v2(0x22, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), "v2", /^unknown PROXY v2/);
  refused(v2(0x2f, 0x00, []), "auto", /^unknown PROXY v2 command$/);
});

Deno.test("readProxyHeader() refuses a v2 address block shorter than its family needs", () => {
  refused(v2(0x21, 0x11, Array(11).fill(1)), "v2", /^short PROXY v2 IPv4 address block$/);
  refused(v2(0x21, 0x21, Array(35).fill(1)), "v2", /^short PROXY v2 IPv6 address block$/);
  // LOCAL ignores the addresses, so a short block is no error there.
  assert.equal(readProxyHeader(v2(0x20, 0x11, [1]), "v2").kind, "header");
});

// ---------------------------------------------------------------- modes and plain HTTP

Deno.test("readProxyHeader() refuses the version its mode does not take", () => {
  const v1Line = bytes("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
  const v2Block = v2(0x21, 0x11, ipv4Block([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443));
  refused(v1Line, "v2", /^PROXY v1 header, but proxy_protocol is v2$/);
  refused(v2Block, "v1", /^PROXY v2 header, but proxy_protocol is v1$/);
  // Even before the header is complete: the signature alone settles it.
  refused(bytes("PROXY "), "v2", /^PROXY v1 header, but proxy_protocol is v2$/);
  refused(v2Block.subarray(0, 12), "v1", /^PROXY v2 header, but proxy_protocol is v1$/);
});

Deno.test("readProxyHeader() takes a connection without a header as plain HTTP in every mode", () => {
  for (const mode of ["v1", "v2", "auto"] as const) {
    assert.deepEqual(readProxyHeader(bytes(HTTP), mode), { kind: "none" }, mode);
  }
});

Deno.test("readProxyHeader() takes bytes that only start like a signature as plain HTTP", () => {
  const nearV2 = [...SIGNATURE];
  nearV2[11] = 0x0b;
  for (
    const buf of [
      bytes("PROXZ TCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
      bytes("PROXYTCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
      bytes("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
      Uint8Array.from([...nearV2, 0x21, 0x11, 0, 12]),
      Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]),
      bytes("\r\nGET / HTTP/1.1\r\n"),
    ]
  ) {
    assert.deepEqual(readProxyHeader(buf, "auto"), { kind: "none" });
  }
});

Deno.test("readProxyHeader() waits while the first bytes could begin either signature", () => {
  for (const start of ["", "P", "PROXY", "\r", "\r\n", "\r\n\r\n\0\r\nQUI"]) {
    assert.deepEqual(
      readProxyHeader(bytes(start), "auto"),
      { kind: "more" },
      JSON.stringify(start),
    );
  }
});
