import assert from "node:assert/strict";
import { parseSyslogAddr } from "../src/config/syslog_addr.ts";

Deno.test("parseSyslogAddr() reads gunicorn's forms, port 514 by default", () => {
  assert.deepEqual(parseSyslogAddr("udp://localhost:514"), {
    transport: "udp",
    host: "localhost",
    port: 514,
  });
  assert.deepEqual(parseSyslogAddr("tcp://Logs.Example"), {
    transport: "tcp",
    host: "logs.example",
    port: 514,
  });
  assert.deepEqual(parseSyslogAddr("udp://[::1]:1514"), {
    transport: "udp",
    host: "::1",
    port: 1514,
  });
  // gunicorn: an empty host is localhost.
  assert.deepEqual(parseSyslogAddr("udp://"), { transport: "udp", host: "localhost", port: 514 });
  assert.deepEqual(parseSyslogAddr("unix:///dev/log"), {
    transport: "unix",
    path: "/dev/log",
    socket: "either",
  });
  assert.deepEqual(parseSyslogAddr("unix:///run/log#stream"), {
    transport: "unix",
    path: "/run/log",
    socket: "stream",
  });
  assert.deepEqual(parseSyslogAddr("unix://rel.sock#dgram"), {
    transport: "unix",
    path: "rel.sock",
    socket: "dgram",
  });
});

Deno.test("parseSyslogAddr() rejects other schemes, bad ports and socket kinds", () => {
  assert.throws(() => parseSyslogAddr("logs:514"), /expected udp:\/\/HOST:PORT, tcp/);
  assert.throws(() => parseSyslogAddr("http://logs:514"), /got "http:\/\/logs:514"/);
  assert.throws(() => parseSyslogAddr("udp://logs:0"), /"0" is not a valid port number/);
  assert.throws(() => parseSyslogAddr("tcp://logs:x"), /expected tcp:\/\/HOST:PORT, got/);
  assert.throws(() => parseSyslogAddr("tcp://logs:"), /"" is not a valid port number/);
  assert.throws(() => parseSyslogAddr("unix://"), /no socket path/);
  assert.throws(() => parseSyslogAddr("unix:///x#raw"), /expected #dgram or #stream/);
});
