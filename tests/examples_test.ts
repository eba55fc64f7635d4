// The shipped examples fit together as installed: the systemd socket is the one nginx's upstream
// names, nginx's workers may connect to it whichever user they run as, and the service trusts
// nginx's forwarding headers on it as the nginx example's command does.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./_helpers.ts";

const read = (...path: string[]) => readFileSync(join(ROOT, "examples", ...path), "utf8");
const value = (text: string, key: string) =>
  new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1]?.trim();

Deno.test("examples: systemd's socket is nginx's upstream, open to nginx's workers", () => {
  const socket = read("systemd", "appserve.socket");
  const nginx = read("nginx", "appserve.conf");
  const upstream = /^\s*server unix:(\S+);/m.exec(nginx)?.[1];
  assert.equal(value(socket, "ListenStream"), upstream);
  // No SocketUser/SocketGroup narrowing it to a user nginx may not run as (Debian's www-data,
  // RHEL's nginx, nobody), and a mode that lets any of them connect.
  assert.equal(value(socket, "SocketUser"), undefined);
  assert.equal(value(socket, "SocketGroup"), undefined);
  const mode = value(socket, "SocketMode") ?? "0666";
  assert.equal(Number.parseInt(mode, 8) & 0o006, 0o006, `SocketMode=${mode}`);
});

Deno.test("examples: the service trusts nginx's headers on the socket, as nginx's command", () => {
  const nginx = read("nginx", "appserve.conf");
  const service = read("systemd", "appserve.service");
  assert.match(nginx, /--forwarded-allow-ips unix/);
  assert.match(value(service, "ExecStart") ?? "", /--forwarded-allow-ips unix/);
});
