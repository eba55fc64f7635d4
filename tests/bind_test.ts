import assert from "node:assert/strict";
import { BindError, formatAddress, parseBind } from "../src/net/bind.ts";

const valid: [string, unknown][] = [
  ["127.0.0.1:8000", { kind: "tcp", host: "127.0.0.1", port: 8000 }],
  ["0.0.0.0", { kind: "tcp", host: "0.0.0.0", port: 8000 }],
  ["localhost:0", { kind: "tcp", host: "localhost", port: 0 }],
  [":9000", { kind: "tcp", host: "0.0.0.0", port: 9000 }],
  ["[::1]:8080", { kind: "tcp", host: "::1", port: 8080 }],
  ["[::]", { kind: "tcp", host: "::", port: 8000 }],
  ["unix:/run/app.sock", { kind: "unix", path: "/run/app.sock" }],
  ["unix:rel.sock", { kind: "unix", path: "rel.sock" }],
  ["fd://3", { kind: "fd", fd: 3 }],
  // gunicorn's parse_address forms.
  ["tcp://127.0.0.1:8001", { kind: "tcp", host: "127.0.0.1", port: 8001 }],
  ["tcp://[::1]:80", { kind: "tcp", host: "::1", port: 80 }],
  ["tcp://localhost", { kind: "tcp", host: "localhost", port: 8000 }],
  ["unix:///run/app.sock", { kind: "unix", path: "/run/app.sock" }],
];
for (const [text, expected] of valid) {
  Deno.test(`parseBind() accepts ${text}`, () => assert.deepEqual(parseBind(text), expected));
}

const invalid = [
  "1.2.3.4:99999",
  "unix:",
  "fd://",
  "fd://x",
  "host:port",
  "::1:80",
  "[::1",
  "[::1]x",
  "",
  "1.2.3.4:-1",
  "tcp://",
  "unix://",
  "tcp://1.2.3.4:99999",
  "http://127.0.0.1:8000",
];
for (const text of invalid) {
  Deno.test(`parseBind() rejects "${text}"`, () => assert.throws(() => parseBind(text), BindError));
}

Deno.test("formatAddress() renders gunicorn's Listening at forms", () => {
  assert.equal(formatAddress(parseBind("127.0.0.1:8000")), "http://127.0.0.1:8000");
  assert.equal(formatAddress(parseBind("[::1]:80")), "http://[::1]:80");
  assert.equal(formatAddress(parseBind("tcp://127.0.0.1:80")), "http://127.0.0.1:80");
  assert.equal(formatAddress(parseBind("unix:///run/a.sock")), "unix:/run/a.sock");
  assert.throws(() => parseBind("http://127.0.0.1:8000"), /unknown scheme \(use HOST:PORT, tcp:/);
  assert.throws(
    () => parseBind("9100"),
    /Invalid bind "9100": a port alone is written ":9100" \(every interface\) or "127\.0\.0\.1:9100"$/,
  );
  assert.equal(formatAddress(parseBind("unix:/tmp/a.sock")), "unix:/tmp/a.sock");
});
