// assignSockets(): each reuse-port worker socket is shown under the one address it was bound
// to, matched on its own address and port, never under two addresses that share a port.

import assert from "node:assert/strict";
import { assignSockets, type OwnSocket } from "../src/master/listen_queues.ts";
import { AF_INET, AF_INET6 } from "../src/net/socket_constants.ts";

function socket(address: number[], port: number, queued: number, pid = 7): OwnSocket {
  const family = address.length === 4 ? AF_INET : AF_INET6;
  return { family, address: new Uint8Array(address), port, inode: 1, queued, pid };
}

const V6_ANY = new Array(16).fill(0);
const V6_LOOPBACK = [...new Array(15).fill(0), 1];

Deno.test("assignSockets() tells apart two addresses on one port", () => {
  const addresses = [{ host: "127.0.0.1", port: 80 }, { host: "127.0.0.2", port: 80 }];
  const sockets = [socket([127, 0, 0, 1], 80, 3), socket([127, 0, 0, 2], 80, 0)];
  assert.deepEqual(assignSockets(sockets, addresses), [
    { listener: "http://127.0.0.1:80", pid: 7, queued: 3 },
    { listener: "http://127.0.0.2:80", pid: 7, queued: 0 },
  ]);
});

Deno.test("assignSockets() matches wildcard binds to their family's any-address", () => {
  const addresses = [{ host: "0.0.0.0", port: 80 }, { host: "::", port: 80 }];
  const sockets = [socket(V6_ANY, 80, 2), socket([0, 0, 0, 0], 80, 1)];
  assert.deepEqual(assignSockets(sockets, addresses), [
    { listener: "http://[::]:80", pid: 7, queued: 2 },
    { listener: "http://0.0.0.0:80", pid: 7, queued: 1 },
  ]);
});

Deno.test("assignSockets() puts a socket no literal matches under a host name on its port", () => {
  const addresses = [{ host: "::1", port: 80 }, { host: "localhost", port: 80 }];
  const sockets = [
    socket([127, 0, 0, 1], 80, 4),
    socket(V6_LOOPBACK, 80, 5),
    // Another port, or another address with no host name on that port: nobody's.
    socket([127, 0, 0, 1], 81, 6),
  ];
  assert.deepEqual(assignSockets(sockets, addresses), [
    { listener: "http://localhost:80", pid: 7, queued: 4 },
    { listener: "http://[::1]:80", pid: 7, queued: 5 },
  ]);
  assert.deepEqual(assignSockets([socket([127, 0, 0, 3], 80, 1)], addresses.slice(0, 1)), []);
});

Deno.test("assignSockets() names the addresses with the scheme given (https with TLS on)", () => {
  const addresses = [{ host: "127.0.0.1", port: 443 }];
  assert.deepEqual(assignSockets([socket([127, 0, 0, 1], 443, 2)], addresses, "https"), [
    { listener: "https://127.0.0.1:443", pid: 7, queued: 2 },
  ]);
});
