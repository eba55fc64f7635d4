// Streamed bodies whose headers are not true of them go out as the worker runtime's own server
// sends them, never cut mid-message: a `return fetch(upstream)` proxy whose fetch() decoded a
// gzip body (its headers keep the upstream's encoding and compressed length), and streams with
// a wrong app-set Content-Length (Deno.serve sends that length and cuts the body to it, or
// closes short of it; Bun.serve ignores it).

import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { e2e, eventually, FIXTURES, freePort, start } from "../_helpers.ts";
import type { Target } from "../_procs.ts";

const APP = join(FIXTURES, "apps", "stream_length_app.ts");
const CLASSES: [string, string[]][] = [
  ["async", ["-k", "async"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
];

// About 2 MB that compresses about 17 times: several reads of the decoded body.
const BIG = Buffer.from(
  Array.from(
    { length: 50_000 },
    (_, i) => `line ${String(i).padStart(7, "0")} abcdefghijklmnopqrstuvwxyz\n`,
  )
    .join(""),
);
const SMALL = Buffer.from("hello small body\n");

/** A gzip-compressing upstream that sends its compressed length, as most do. */
async function gzipUpstream(): Promise<{ url: string; close: () => void }> {
  const zipped = { big: gzipSync(BIG), small: gzipSync(SMALL) };
  const server = createServer((req, res) => {
    const body = req.url?.includes("small") ? zipped.small : zipped.big;
    res.writeHead(200, {
      "content-type": "text/plain",
      "content-encoding": "gzip",
      "content-length": String(body.length),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body ended where its framing said (not cut by the connection closing). */
  complete: boolean;
}

function fetchRaw(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: "close" } }, (res) => {
      const parts: Buffer[] = [];
      let complete = false;
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => (complete = true));
      res.on(
        "close",
        () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(parts),
            complete,
          }),
      );
      res.on("error", () => {});
    });
    req.on("error", reject);
    req.end();
  });
}

/** A parsed raw response: head fields, body as framed, and whether the framing completed. */
interface RawResponse {
  head: string;
  fields: Map<string, string>;
  body: string;
  complete: boolean;
}

/** Splits what a connection received into responses (content-length, chunked, or to EOF). */
function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = rest.slice(0, end);
    const fields = new Map<string, string>();
    for (const line of head.split("\r\n").slice(1)) {
      const colon = line.indexOf(":");
      fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    rest = rest.slice(end + 4);
    if (fields.has("content-length")) {
      const n = +fields.get("content-length")!;
      out.push({ head, fields, body: rest.slice(0, n), complete: rest.length >= n });
      rest = rest.slice(n);
    } else if (fields.get("transfer-encoding") === "chunked") {
      let body = "";
      let complete = false;
      for (;;) {
        const eol = rest.indexOf("\r\n");
        if (eol < 0) break;
        const size = parseInt(rest.slice(0, eol), 16);
        if (size === 0) {
          rest = rest.slice(eol + 4);
          complete = true;
          break;
        }
        body += rest.slice(eol + 2, eol + 2 + size);
        rest = rest.slice(eol + 4 + size);
      }
      out.push({ head, fields, body, complete });
    } else {
      out.push({ head, fields, body: rest, complete: false });
      rest = "";
    }
  }
  return out;
}

/**
 * Sends `path` and then a second request on the same connection (pipelined), the second asking
 * to close, and returns all the connection received until the server closed it.
 */
function pipelined(url: string, path: string): Promise<RawResponse[]> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(+port, hostname);
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (text += d));
    socket.on("error", reject);
    socket.on("close", () => resolve(parseResponses(text)));
    socket.write(
      `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\nGET /next HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
    );
  });
}

function serve(target: Target, flags: string[], env: Record<string, string> = {}, port = 0) {
  return start(
    target,
    [
      "-w",
      "1",
      ...flags,
      "-b",
      `127.0.0.1:${port}`,
      "--access-logfile",
      "-",
      "--access-logformat",
      "%(U)s %(B)s",
      APP,
    ],
    { env },
  );
}

for (const [name, flags] of CLASSES) {
  e2e(
    `${name}: a fetch() proxy of a gzip upstream sends the decoded body whole, without its encoding`,
    async (target) => {
      const upstream = await gzipUpstream();
      const server = serve(target, flags, { UPSTREAM: upstream.url });
      try {
        const url = await server.ready(1);
        for (const [query, expected] of [["?big", BIG], ["?small", SMALL]] as const) {
          const answer = await fetchRaw(`${url}/proxy${query}`);
          assert.equal(answer.status, 200, query);
          assert.ok(answer.complete, `${query}: the body was cut`);
          assert.equal(answer.body.length, expected.length, query);
          assert.ok(answer.body.equals(expected), query);
          // Deno.serve sends a decoded body without its encoding; Bun.serve keeps it (a corrupt
          // reply), appserve does not.
          assert.equal(answer.headers["content-encoding"], undefined, query);
          const length = answer.headers["content-length"];
          assert.ok(
            length === undefined || length === String(expected.length),
            `${query}: ${length}`,
          );
        }
        // Bun's fetch(url, { decompress: false }), and a clone of its Response: the upstream's
        // bytes and headers, as they are.
        for (const path of ["/raw", "/rawclone"]) {
          const raw = await fetchRaw(`${url}${path}?big`);
          assert.ok(raw.complete, path);
          if (target.workers === "bun") {
            assert.equal(raw.headers["content-encoding"], "gzip", path);
            assert.ok(raw.body.equals(gzipSync(BIG)), path);
          } else {
            assert.equal(raw.headers["content-encoding"], undefined, path);
            assert.ok(raw.body.equals(BIG), path);
          }
        }
        await eventually(() => server.stdout.includes(`/proxy ${BIG.length}\n`), "the access line");
      } finally {
        await server.stop();
        upstream.close();
      }
    },
  );

  e2e(
    `${name}: a streamed body with a wrong app-set Content-Length goes out as the runtime's server sends it`,
    async (target) => {
      const server = serve(target, flags);
      try {
        const url = await server.ready(1);
        const deno = target.workers === "deno";
        for (
          const path of [
            "/parts?length=3",
            "/once?length=3",
            "/parts?length=100",
            "/once?length=100",
          ]
        ) {
          const [first, next, ...more] = await pipelined(url, path);
          assert.equal(more.length, 0, path);
          const longer = path.endsWith("100");
          if (deno) {
            // Deno.serve: the declared length, the body cut to it; short of it, the connection closes.
            assert.equal(first.fields.get("content-length"), longer ? "100" : "3", path);
            assert.equal(first.body, longer ? "s1s2s3" : "s1s", path);
            assert.equal(first.complete, !longer, path);
            if (longer) assert.equal(next, undefined, path);
          } else {
            // Bun.serve: the length ignored; the body's own, or chunks.
            assert.equal(first.body, "s1s2s3", path);
            assert.ok(first.complete, path);
            if (path.startsWith("/once")) {
              assert.equal(first.fields.get("content-length"), "6", path);
            } else assert.equal(first.fields.get("transfer-encoding"), "chunked", path);
          }
          if (next !== undefined || !deno || !longer) {
            assert.equal(next?.body, "next", path);
            assert.ok(next.complete, path);
          }
        }
        // The access log counts the bytes sent.
        const sent = deno
          ? ["/parts 3", "/once 3", "/parts 6", "/once 6"]
          : ["/parts 6", "/once 6"];
        for (const line of sent) {
          await eventually(() => server.stdout.includes(line + "\n"), `the access line ${line}`);
        }
        assert.doesNotMatch(server.stderr, /ERROR/);
      } finally {
        await server.stop();
      }
    },
  );
}

// The native server sends what the proxy's fetch() decoded; the access log counts those bytes, as
// on the shared socket (it counted 0: a decoded body was not read through the access log's tap).
e2e(
  "--reuse-port: a fetch() proxy of a gzip upstream is logged with the bytes sent, as on the shared socket",
  async (target) => {
    const upstream = await gzipUpstream();
    try {
      const logged: string[][] = [];
      for (const flags of [["-k", "async"], ["-k", "async", "--reuse-port"]]) {
        const reusePort = flags.includes("--reuse-port");
        const port = reusePort ? await freePort() : 0;
        const server = serve(target, flags, { UPSTREAM: upstream.url }, port);
        try {
          const url = await server.ready(1);
          for (const [query, expected] of [["?big", BIG], ["?small", SMALL]] as const) {
            const answer = await fetchRaw(`${url}/proxy${query}`);
            assert.ok(answer.complete, `${query}: the body was cut`);
            assert.ok(answer.body.equals(expected), query);
            // Decoded bytes are not gzip: Bun.serve's own reply said so (a corrupt reply).
            assert.equal(answer.headers["content-encoding"], undefined, query);
          }
          const lines = () => server.stdout.split("\n").filter((l) => l.startsWith("/proxy "));
          await eventually(() => lines().length === 2, "the access lines");
          logged.push(lines());
        } finally {
          await server.stop();
        }
      }
      const expected = [`/proxy ${BIG.length}`, `/proxy ${SMALL.length}`];
      assert.deepEqual(logged, [expected, expected]);
    } finally {
      upstream.close();
    }
  },
);
