// forwarded_allow_ips and secure_scheme_headers: a trusted proxy's X-Forwarded-For, Forwarded and
// X-Forwarded-Proto set request.url's scheme, info.remoteAddr / info.requestIP() and the access
// log's %(h)s; an untrusted peer's change nothing. Includes a real nginx over a unix socket.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  hasStackTrace,
  run,
  start,
  tempDir,
} from "../_helpers.ts";
import { proxyToUnix, startNginx } from "../_nginx.ts";
import { rawExchange } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "client_app.ts");

interface Seen {
  url: string;
  remoteAddr: { transport: string; hostname?: string; port?: number; path?: string };
  requestIP: { address: string; family: string; port: number } | null;
  xff: string | null;
}

async function ask(url: string, headers: Record<string, string> = {}): Promise<Seen> {
  const answer = await get(url, { headers });
  assert.equal(answer.status, 200, answer.body);
  return JSON.parse(answer.body);
}

// A trusted peer's contradictory forwarding headers: 400 with the reason, never a spoofed client.
async function refusedAsContradictory(url: string): Promise<void> {
  for (
    const [headers, reason] of [
      [{ Forwarded: "for=5.6.7.8", "X-Forwarded-For": "1.2.3.4" }, "forwarding"],
      [{ Forwarded: 'for="[2001:db8::1]:443"', "X-Forwarded-For": "1.2.3.4" }, "forwarding"],
      [{ Forwarded: "for=1.2.3.4;proto=https", "X-Forwarded-Proto": "http" }, "scheme"],
    ] as [Record<string, string>, string][]
  ) {
    const answer = await get(url, { headers });
    assert.equal(answer.status, 400, `${JSON.stringify(headers)}: ${answer.body}`);
    assert.match(answer.body, new RegExp(`Contradictory ${reason} headers`));
  }
  // Agreeing headers are believed.
  const agreed = await ask(url, {
    Forwarded: "for=1.2.3.4;proto=https",
    "X-Forwarded-For": "1.2.3.4",
    "X-Forwarded-Proto": "https",
  });
  assert.match(agreed.url, /^https:/);
  assert.equal(agreed.remoteAddr.hostname, "1.2.3.4");
}

e2e("a trusted proxy's forwarding headers set scheme, client and the access log's h", async (t) => {
  const server = start(t, ["-b", "127.0.0.1:0", "--access-logfile", "-", APP]);
  try {
    const url = await server.ready(1);
    const xff = await ask(`${url}/a`, {
      "X-Forwarded-For": "198.51.100.1, 203.0.113.9",
      "X-Forwarded-Proto": "https",
    });
    assert.match(xff.url, /^https:\/\/127\.0\.0\.1:\d+\/a$/);
    assert.deepEqual(xff.remoteAddr, { transport: "tcp", hostname: "203.0.113.9", port: 0 });
    assert.deepEqual(xff.requestIP, { address: "203.0.113.9", family: "IPv4", port: 0 });
    await server.waitFor(/^203\.0\.113\.9 - - \[.*\] "GET \/a HTTP\/1\.1" 200/m);

    const fwd = await ask(`${url}/b`, { Forwarded: 'for="[2001:db8::7]:4711";proto=https' });
    assert.match(fwd.url, /^https:/);
    assert.deepEqual(fwd.requestIP, { address: "2001:db8::7", family: "IPv6", port: 4711 });
    await server.waitFor(/^2001:db8::7 - - \[.*\] "GET \/b HTTP\/1\.1" 200/m);

    // gunicorn's X-FORWARDED-SSL: on, and the contradiction gunicorn refuses with 400.
    assert.match((await ask(url, { "X-Forwarded-Ssl": "on" })).url, /^https:/);
    assert.match((await ask(url, { "X-Forwarded-Proto": "http" })).url, /^http:/);
    const contradictory = await get(url, {
      headers: { "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off" },
    });
    assert.equal(contradictory.status, 400);
    assert.match(contradictory.body, /Contradictory scheme headers/);

    // Forwarded and X-Forwarded-For must name one client, and a Forwarded proto must agree with
    // the secure-scheme headers: a proxy may pass a client's own Forwarded on.
    await refusedAsContradictory(url);

    // No forwarding headers: the socket peer.
    const plain = await ask(url);
    assert.match(plain.url, /^http:/);
    assert.equal(plain.remoteAddr.hostname, "127.0.0.1");
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

e2e("an untrusted peer's forwarding headers are ignored; CIDR ranges trust", async (t) => {
  const untrusted = start(t, [
    "-b",
    "127.0.0.1:0",
    "--forwarded-allow-ips",
    "10.0.0.0/8,2001:db8::/32",
    "--access-logfile",
    "-",
    APP,
  ]);
  try {
    const url = await untrusted.ready(1);
    const seen = await ask(`${url}/u`, {
      "X-Forwarded-For": "203.0.113.9",
      "X-Forwarded-Proto": "https",
      Forwarded: "for=203.0.113.10;proto=https",
    });
    assert.match(seen.url, /^http:\/\//);
    assert.equal(seen.remoteAddr.hostname, "127.0.0.1");
    assert.equal(seen.xff, "203.0.113.9", "the header itself still reaches the app");
    await untrusted.waitFor(/^127\.0\.0\.1 - - \[.*\] "GET \/u HTTP\/1\.1" 200/m);
  } finally {
    assert.equal((await untrusted.stop()).code, 0);
  }
  // IPv6 peer inside a v6 range; the X-Forwarded-For hop that is itself trusted is skipped.
  const v6 = start(t, ["-b", "[::1]:0", "--forwarded-allow-ips", "::/112,10.0.0.0/8", APP]);
  try {
    const m = await v6.waitFor(/Listening at: (http:\/\/\[::1\]:\d+)/);
    const url = m[1];
    await getWhenReady(url);
    const seen = await ask(url, { "X-Forwarded-For": "203.0.113.9, 10.1.2.3" });
    assert.equal(seen.remoteAddr.hostname, "203.0.113.9");
  } finally {
    assert.equal((await v6.stop()).code, 0);
  }
});

e2e("proxy trust in --reuse-port mode (the runtime's native server)", async (t) => {
  const port = await freePort();
  const server = start(t, ["-b", `127.0.0.1:${port}`, "--reuse-port", APP]);
  try {
    const url = await server.ready(1);
    const seen = await ask(url, { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" });
    assert.match(seen.url, /^https:/);
    assert.equal(seen.remoteAddr.hostname, "203.0.113.9");
    await refusedAsContradictory(url);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

e2e("an invalid CIDR in forwarded_allow_ips is a one-line start-up error", async (t) => {
  for (
    const [args, env, pattern] of [
      [["--forwarded-allow-ips", "10.0.0.0/33"], {}, /invalid prefix length/],
      [["--forwarded-allow-ips", "10.0.0.1,nonsense"], {}, /"nonsense" is not an IP address/],
      [[], { FORWARDED_ALLOW_IPS: "1:::2" }, /"1:::2" is not an IP address/],
    ] as [string[], Record<string, string>, RegExp][]
  ) {
    const result = await run(t, ["-b", "127.0.0.1:0", ...args, APP], { env });
    assert.equal(result.code, 1, result.stderr);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, pattern);
  }
});

e2e(
  "on a unix socket info.remoteAddr is Deno.serve's { transport, path } (every worker class)",
  async (t) => {
    const dir = tempDir();
    try {
      for (
        const mode of [["-k", "async"], ["-k", "sync"], ["-k", "gthread"], ["--reuse-port"]]
      ) {
        const socket = join(dir.path, `${mode.at(-1)!.replace(/\W/g, "")}.sock`);
        // --reuse-port binds TCP per worker; the unix listener stays the shared one.
        const tcp = mode[0] === "--reuse-port" ? ["-b", `127.0.0.1:${await freePort()}`] : [];
        const server = start(t, [...mode, "-b", `unix:${socket}`, ...tcp, APP]);
        try {
          await server.waitFor(/Listening at: unix:/);
          const answer = await rawExchange(
            socket,
            "GET /direct HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n",
          );
          assert.equal(answer.status, 200, `${mode}: ${answer.text}`);
          const seen: Seen = JSON.parse(answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4));
          assert.deepEqual(seen.remoteAddr, { transport: "unix", path: socket }, `${mode}`);
          assert.equal(seen.requestIP, null, `${mode}`);
        } finally {
          assert.equal((await server.stop()).code, 0);
        }
      }
    } finally {
      dir.remove();
    }
  },
);

for (const trusted of [true, false]) {
  e2e(
    `nginx's X-Forwarded-For over a unix socket ${
      trusted
        ? "is believed with unix in forwarded_allow_ips"
        : "is ignored by default, its X-Forwarded-Proto believed (gunicorn's default)"
    }`,
    async (t) => {
      const dir = tempDir();
      const socket = join(dir.path, "app.sock");
      const args = ["-b", `unix:${socket}`, "--access-logfile", "-", APP];
      const server = start(t, trusted ? ["--forwarded-allow-ips", "unix", ...args] : args);
      const nginx = await startNginx(
        dir.path,
        proxyToUnix(socket, "proxy_set_header X-Forwarded-Proto https;"),
      );
      try {
        await server.waitFor(/Listening at: unix:/);
        const url = `http://127.0.0.1:${nginx.port}/via-nginx`;
        const first = await getWhenReady(url, { headers: { "X-Forwarded-For": "198.51.100.4" } });
        assert.equal(first.status, 200, first.body);
        const seen: Seen = JSON.parse(first.body);
        // nginx appended the address it saw (the test's 127.0.0.1) to what the client sent.
        assert.equal(seen.xff, "198.51.100.4, 127.0.0.1");
        if (trusted) {
          // The nearest untrusted hop is nginx's client; only unix peers are trusted here.
          assert.deepEqual(seen.remoteAddr, { transport: "tcp", hostname: "127.0.0.1", port: 0 });
          assert.match(seen.url, /^https:\/\/127\.0\.0\.1\/via-nginx$/);
          await eventually(
            () => /^127\.0\.0\.1 - - .*"GET \/via-nginx/m.test(server.stdout),
            "log",
          );
          // Without `proxy_set_header Forwarded ""`, nginx passes the client's own Forwarded
          // on: a 400, not the client it names.
          const spoofed = await get(url, { headers: { Forwarded: "for=5.6.7.8;proto=https" } });
          assert.equal(spoofed.status, 400, spoofed.body);
          assert.match(spoofed.body, /Contradictory forwarding headers/);
        } else {
          // As Deno.serve: the listener's path (nginx connects with none of its own).
          assert.deepEqual(seen.remoteAddr, { transport: "unix", path: socket });
          assert.equal(seen.requestIP, null);
          // As gunicorn, which believes a unix socket peer's secure_scheme_headers.
          assert.match(seen.url, /^https:\/\/127\.0\.0\.1\/via-nginx$/);
          await eventually(() => /^ - - .*"GET \/via-nginx/m.test(server.stdout), "log");
          // Client headers are not read at all: a client's own Forwarded is no contradiction.
          const own = await get(url, { headers: { Forwarded: "for=5.6.7.8;proto=http" } });
          assert.equal(own.status, 200, own.body);
          const ownSeen: Seen = JSON.parse(own.body);
          assert.deepEqual(ownSeen.remoteAddr, { transport: "unix", path: socket });
          assert.match(ownSeen.url, /^https:/);
        }
      } finally {
        await nginx.stop();
        assert.equal((await server.stop()).code, 0);
        dir.remove();
      }
    },
  );
}
