// readForwarding (src/http/forwarded.ts), which both appserve's own HTTP layer and the native
// servers of --reuse-port use: a trusted proxy's Forwarded and X-Forwarded-For must agree on the
// client, and a Forwarded proto with secure_scheme_headers on the scheme, else 400.

import assert from "node:assert/strict";
import {
  forwardedTrust,
  readForwarding,
  TRUST_ALL,
  TRUST_NONE,
  TRUST_SCHEME,
  trustOf,
} from "../src/http/forwarded.ts";
import { ParseError } from "../src/http/types.ts";

// gunicorn's secure_scheme_headers defaults; 10.0.0.0/8 stands for a chain of trusted proxies.
const TRUST = forwardedTrust(["127.0.0.1", "10.0.0.0/8"], {
  "X-FORWARDED-PROTOCOL": "ssl",
  "X-FORWARDED-PROTO": "https",
  "X-FORWARDED-SSL": "on",
});

function refused(headers: [string, string][], message: string): void {
  assert.throws(
    () => readForwarding(TRUST, headers),
    (e) => e instanceof ParseError && e.message === message,
  );
}

Deno.test("readForwarding(): Forwarded and X-Forwarded-For naming one client set it", () => {
  const f = readForwarding(TRUST, [
    ["Forwarded", 'for="[2001:db8::1]:443";proto=https'],
    ["X-Forwarded-For", "2001:db8:0::1"],
    ["X-Forwarded-Proto", "https"],
  ]);
  assert.deepEqual(f, {
    scheme: "https",
    remote: { transport: "tcp", hostname: "2001:db8::1", port: 443 },
  });
});

Deno.test("readForwarding(): a client's own Forwarded next to the proxy's XFF is a 400", () => {
  // nginx passes the client's Forwarded on and appends the client it saw to X-Forwarded-For.
  refused(
    [["Forwarded", "for=5.6.7.8"], ["X-Forwarded-For", "1.2.3.4"]],
    "Contradictory forwarding headers",
  );
  refused(
    [["X-Forwarded-For", "5.6.7.8, 1.2.3.4"], ["Forwarded", "for=5.6.7.8"]],
    "Contradictory forwarding headers",
  );
  refused(
    [["Forwarded", 'for="[2001:db8::1]:443"'], ["X-Forwarded-For", "1.2.3.4"]],
    "Contradictory forwarding headers",
  );
  // A Forwarded naming no client would hide the one X-Forwarded-For names.
  refused(
    [["Forwarded", "for=unknown"], ["X-Forwarded-For", "1.2.3.4"]],
    "Contradictory forwarding headers",
  );
  refused(
    [["Forwarded", "proto=https"], ["X-Forwarded-For", "1.2.3.4"]],
    "Contradictory forwarding headers",
  );
});

Deno.test("readForwarding(): a Forwarded proto the secure-scheme headers contradict is a 400", () => {
  refused([
    ["Forwarded", "for=1.2.3.4;proto=https"],
    ["X-Forwarded-For", "1.2.3.4"],
    ["X-Forwarded-Proto", "http"],
  ], "Contradictory scheme headers");
  refused(
    [["X-Forwarded-Ssl", "on"], ["Forwarded", "for=1.2.3.4;proto=http"]],
    "Contradictory scheme headers",
  );
  // Alone, each still sets the scheme.
  assert.equal(readForwarding(TRUST, [["Forwarded", "for=1.2.3.4;proto=https"]]).scheme, "https");
  assert.equal(readForwarding(TRUST, [["X-Forwarded-Proto", "http"]]).scheme, "http");
});

Deno.test("readForwarding(): a chain through trusted proxies agrees on the last untrusted hop", () => {
  // 10.0.0.5 appended itself to Forwarded; the proxy in front of appserve set X-Forwarded-For
  // with one more hop. Both walks skip the trusted hops and stop at 198.51.100.7.
  const f = readForwarding(TRUST, [
    ["Forwarded", "for=192.0.2.1, for=198.51.100.7;proto=https, for=10.0.0.5;proto=http"],
    ["X-Forwarded-For", "198.51.100.7, 10.0.0.5, 10.0.0.9"],
  ]);
  assert.deepEqual(f, {
    scheme: "https",
    remote: { transport: "tcp", hostname: "198.51.100.7", port: 0 },
  });
});

Deno.test("trustOf(): a unix peer is believed on the scheme unlisted, on the client with unix", () => {
  const unix = { transport: "unix" as const, hostname: "", port: 0 };
  const tcp = (hostname: string) => ({ transport: "tcp" as const, hostname, port: 1 });
  assert.equal(trustOf(TRUST, unix), TRUST_SCHEME);
  assert.equal(trustOf(TRUST, tcp("127.0.0.1")), TRUST_ALL);
  assert.equal(trustOf(TRUST, tcp("192.0.2.1")), TRUST_NONE);
  const withUnix = forwardedTrust(["unix"], {});
  assert.equal(trustOf(withUnix, unix), TRUST_ALL);
  // Believed on the scheme only: the client headers are not read, so they cannot contradict.
  const f = readForwarding(TRUST, [
    ["Forwarded", "for=5.6.7.8;proto=http"],
    ["X-Forwarded-For", "198.51.100.4"],
    ["X-Forwarded-Proto", "https"],
  ], TRUST_SCHEME);
  assert.deepEqual(f, { scheme: "https", remote: null });
  assert.throws(
    () =>
      readForwarding(
        TRUST,
        [["X-Forwarded-Proto", "https"], ["X-Forwarded-Ssl", "off"]],
        TRUST_SCHEME,
      ),
    (e) => e instanceof ParseError && e.message === "Contradictory scheme headers",
  );
});
