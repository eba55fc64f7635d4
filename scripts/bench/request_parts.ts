// Where a request's microseconds go inside the HTTP layer, step by step, without sockets: each
// step of a hello-world exchange run in a loop in one process (so a loaded machine skews all steps
// alike), in ns per call. The socket's own cost (read, write, accept, close) is what
// http_cost.ts's fixed-reply server measures; together they make the breakdown in
// docs/architecture.md. Usage: deno run -A request_parts.ts | bun request_parts.ts [--rounds N]

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import process from "node:process";
import { Exchange, type ExchangeHost } from "../../src/http/exchange.ts";
import { buildRequest, fetchMethod, PeerInfo } from "../../src/http/fetch_glue.ts";
import { HeadScanner, parseHead } from "../../src/http/parser.ts";
import { F_KEEP_ALIVE, type Outcome, ResponseWriter } from "../../src/http/response_writer.ts";
import type { HttpOptions } from "../../src/http/types.ts";
import { detectRuntime } from "../../src/runtime/mod.ts";

const WRK = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n";
const NGINX = "GET / HTTP/1.0\r\nHost: example.com\r\nX-Forwarded-For: 127.0.0.1\r\n" +
  "Connection: close\r\nUser-Agent: wrk\r\n\r\n";
const BROWSER = "GET /items/42?sort=asc HTTP/1.1\r\nHost: example.com\r\n" +
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
  "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n" +
  "Accept-Encoding: gzip, deflate, br\r\nCookie: session=abcdef0123456789\r\n" +
  "Connection: keep-alive\r\n\r\n";

const options: HttpOptions = {
  keepAlive: 2,
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
  scheme: "http",
  defaultHost: "localhost",
  onAppError: () => new Response(null, { status: 500 }),
};

const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 5;

// A socket that takes writes and drops them: the writer's own work, without the kernel's.
let written = 0;
const sink = {
  write(b: Uint8Array): boolean {
    written += b.length;
    return true;
  },
  writableNeedDrain: false,
} as unknown as Socket;

function time(name: string, n: number, step: () => void): [string, number] {
  for (let i = 0; i < n / 10; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) step();
  return [name, ((performance.now() - t0) * 1e6) / n];
}

async function timeAsync(
  name: string,
  n: number,
  step: () => Promise<void>,
): Promise<[string, number]> {
  for (let i = 0; i < n / 10; i++) await step();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await step();
  return [name, ((performance.now() - t0) * 1e6) / n];
}

function parse(text: string) {
  const buf = Buffer.from(text, "latin1");
  const scanner = new HeadScanner(options);
  return () => {
    scanner.reset();
    const end = scanner.scan(buf);
    return parseHead(buf, scanner, end);
  };
}

async function round(): Promise<[string, number][]> {
  const out: [string, number][] = [];
  const N = 200_000;
  const parseWrk = parse(WRK);
  const parseNginx = parse(NGINX);
  const parseBrowser = parse(BROWSER);
  out.push(time("scan + parseHead, wrk's GET (1 field)", N, parseWrk));
  out.push(time("scan + parseHead, nginx's GET (4 fields)", N, parseNginx));
  out.push(time("scan + parseHead, a browser's GET (7 fields)", N, parseBrowser));
  const wrkHead = parseWrk();
  const nginxHead = parseNginx();
  const browserHead = parseBrowser();
  out.push(time("buildRequest, wrk's GET", N, () => {
    buildRequest(wrkHead, fetchMethod(wrkHead.method), null, options);
  }));
  out.push(time("buildRequest, nginx's GET", N, () => {
    buildRequest(nginxHead, fetchMethod(nginxHead.method), null, options);
  }));
  out.push(time("buildRequest, a browser's GET", N, () => {
    buildRequest(browserHead, fetchMethod(browserHead.method), null, options);
  }));
  out.push(time('the app: new Response("Hello World!")', N, () => {
    new Response("Hello World!");
  }));
  const writer = new ResponseWriter(sink);
  const noBody = new Response(null, { status: 204 });
  out.push(time("writer, no body (head walk, encode, write)", N, () => {
    writer.write(noBody, F_KEEP_ALIVE, () => {});
  }));
  let resolve: (o: Outcome) => void = () => {};
  const done = (o: Outcome) => resolve(o);
  out.push(
    await timeAsync("writer, hello world (+ reading the body's stream)", N / 4, () => {
      const p = new Promise<Outcome>((r) => resolve = r);
      const outcome = writer.write(new Response("Hello World!"), F_KEEP_ALIVE, done);
      if (outcome !== null) resolve(outcome);
      return p.then(() => {});
    }),
  );
  const runtime = await detectRuntime();
  // As a worker on the shared socket: from here on, Bun's Responses remember a string body.
  runtime.rememberStaticBodies();
  const fast = new ResponseWriter(sink, { staticBody: runtime.staticBody });
  out.push(
    await timeAsync(
      "writer, hello world, as a worker writes it (static body if any)",
      N / 4,
      () => {
        const p = new Promise<Outcome>((r) => resolve = r);
        const outcome = fast.write(new Response("Hello World!"), F_KEEP_ALIVE, done);
        if (outcome !== null) resolve(outcome);
        return p.then(() => {});
      },
    ),
  );
  // The whole exchange as a worker with an access log runs it: the app, the writer, the details
  // the log's hook gets (the hook itself does nothing).
  let exchanged: () => void = () => {};
  const host = {
    tag: -1,
    closed: false,
    peerEnded: false,
    cutOff: false,
    mayKeepAlive: () => true,
    destroy() {},
    exchangeDone: () => exchanged(),
    upgrade() {},
  } as ExchangeHost;
  const exchange = new Exchange(host, fast, () => new Response("Hello World!"), {
    ...options,
    staticBody: runtime.staticBody,
    impliedType: runtime.impliedType,
    requestSignal: runtime.requestSignal,
    onRequestDone: () => {},
  });
  const peer = new PeerInfo({ transport: "tcp", hostname: "127.0.0.1", port: 1 });
  const request = buildRequest(wrkHead, fetchMethod(wrkHead.method), null, options);
  out.push(
    await timeAsync(
      "exchange, hello world, with an access hook (app, writer, details)",
      N / 4,
      () => {
        const p = new Promise<void>((r) => exchanged = r);
        exchange.start(request, F_KEEP_ALIVE, wrkHead, peer);
        return p;
      },
    ),
  );
  out.push(
    await timeAsync("reading a body's stream alone (getReader, 2 reads)", N / 4, async () => {
      const r = new Response("Hello World!").body!.getReader();
      const p1 = r.read();
      const p2 = r.read();
      await p1;
      await p2;
    }),
  );
  return out;
}

const all: Map<string, number[]> = new Map();
for (let r = 0; r < rounds; r++) {
  for (const [name, ns] of await round()) {
    if (!all.has(name)) all.set(name, []);
    all.get(name)!.push(ns);
  }
}
const runtime = "Bun" in globalThis ? "bun" : "deno";
process.stdout.write(
  `${runtime}: ns per call, median of ${rounds} rounds (${written} bytes written to the sink)\n`,
);
for (const [name, list] of all) {
  list.sort((a, b) => a - b);
  process.stdout.write(`${String(Math.round(list[list.length >> 1])).padStart(7)}  ${name}\n`);
}
