// The hostile-frame corpus (tests/corpus/websocket/cases.json) as raw bytes on fresh TCP
// connections: the frame encoder, one case run against any server on 127.0.0.1 serving
// tests/fixtures/apps/websocket_app.ts, and the check that the server still serves HTTP and a
// WebSocket echo afterwards. Used by tests/e2e/websocket_corpus_test.ts against appserve and by
// scripts/ws_hostile_report.ts against Deno.serve and Bun.serve.

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { ROOT, sleep } from "./_procs.ts";

export const WS_CORPUS = join(ROOT, "tests", "corpus", "websocket", "cases.json");
export const WS_APP = join(ROOT, "tests", "fixtures", "apps", "websocket_app.ts");
export const WS_NATIVE = join(ROOT, "tests", "fixtures", "websocket_native.ts");

/** One frame as the corpus writes it; sizes may be relative to the server's message limit. */
export interface FrameSpec {
  op: number;
  payload?: string;
  hex?: string;
  /** With `size`: that many copies of this character. */
  fill?: string;
  size?: number | "limit+1" | "limit/2+1";
  fin?: boolean;
  /** RSV bits as a number 0-7 (4 = RSV1). */
  rsv?: number;
  masked?: boolean;
  /** The length field to write instead of the payload's ("2^63"). */
  length?: "2^63";
}

export interface WsExpect {
  status?: number;
  header?: Record<string, string>;
  close?: number;
  app_sees_close?: boolean;
  max_rss_growth_mib?: number;
}

export interface WsCase {
  name: string;
  /** Handshake headers to change (null: leave out). */
  upgrade?: Record<string, string | null>;
  frames?: FrameSpec[];
  vanish?: boolean;
  stop_reading?: { messages: number; size: number };
  expect: WsExpect;
  note: string;
}

export interface WsCorpus {
  /** appserve settings the corpus server runs with. */
  limits: { "websocket-max-message": number };
  cases: WsCase[];
}

export function loadWsCorpus(): WsCorpus {
  return JSON.parse(readFileSync(WS_CORPUS, "utf8"));
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK = [0x37, 0xfa, 0x21, 0x3d];
const CASE_MS = 5_000;

/** An upgrade request for `path`, with `changes` applied to the usual headers. */
export function upgradeRequest(
  port: number,
  path: string,
  changes: Record<string, string | null> = {},
): string {
  const headers: Record<string, string | null> = {
    host: `127.0.0.1:${port}`,
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
    ...changes,
  };
  const lines = Object.entries(headers).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
}

function payloadOf(f: FrameSpec, limit: number): Buffer {
  if (f.hex !== undefined) return Buffer.from(f.hex, "hex");
  if (f.size !== undefined) {
    const n = f.size === "limit+1"
      ? limit + 1
      : f.size === "limit/2+1"
      ? Math.floor(limit / 2) + 1
      : f.size;
    return Buffer.alloc(n, f.fill ?? "x");
  }
  return Buffer.from(f.payload ?? "", "utf8");
}

/** The bytes of one client frame (masked unless `masked: false`). */
export function encodeFrame(f: FrameSpec, limit: number): Buffer {
  const payload = payloadOf(f, limit);
  const masked = f.masked ?? true;
  const length = f.length === "2^63" ? 2n ** 63n : BigInt(payload.length);
  const first = ((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.op;
  const m = masked ? 0x80 : 0;
  let head: Buffer;
  if (length < 126n) head = Buffer.from([first, m | Number(length)]);
  else if (length < 65536n) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = m | 126;
    head.writeUInt16BE(Number(length), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = m | 127;
    head.writeBigUInt64BE(length, 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i] ^ MASK[i & 3];
  return Buffer.concat([head, Buffer.from(MASK), body]);
}

/** Server frames read so far: opcode and payload (servers never mask). */
interface ServerFrame {
  op: number;
  payload: Buffer;
}

function parseServerFrames(buf: Buffer): { frames: ServerFrame[]; rest: Buffer } {
  const frames: ServerFrame[] = [];
  let pos = 0;
  for (;;) {
    if (buf.length - pos < 2) break;
    let len = buf[pos + 1] & 0x7f;
    let at = pos + 2;
    if (len === 126) {
      if (buf.length < at + 2) break;
      len = buf.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      if (buf.length < at + 8) break;
      len = Number(buf.readBigUInt64BE(at));
      at += 8;
    }
    if (buf.length < at + len) break;
    frames.push({ op: buf[pos] & 0x0f, payload: buf.subarray(at, at + len) });
    pos = at + len;
  }
  return { frames, rest: buf.subarray(pos) };
}

/** A connection after a handshake: the 101 (or other) head and what followed it. */
export interface Opened {
  socket: Socket;
  status: number;
  headers: Record<string, string>;
  /** Bytes after the response head. */
  rest: Buffer;
}

export interface OpenOptions {
  /** The client's own address (any 127.x.y.z works on loopback). */
  localAddress?: string;
  /** wss://: TLS verified against this CA file's certificate, for the name localhost (no
   * localAddress then). */
  ca?: string;
}

/** Connects, sends an upgrade request, reads the response head (or whatever came). */
export function openRaw(
  port: number,
  path: string,
  changes: Record<string, string | null> = {},
  options: OpenOptions = {},
): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = options.ca === undefined
      ? connect({ port, host: "127.0.0.1", localAddress: options.localAddress })
      : tlsConnect({
        port,
        host: "127.0.0.1",
        servername: "localhost",
        ca: readFileSync(options.ca),
      });
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(), CASE_MS);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.indexOf("\r\n\r\n") >= 0) done();
    };
    const done = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      const end = buf.indexOf("\r\n\r\n");
      const head = buf.toString("latin1", 0, end < 0 ? buf.length : end).split("\r\n");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "");
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) {
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
      }
      resolve({
        socket,
        status: m ? Number(m[1]) : 0,
        headers,
        rest: end < 0 ? Buffer.alloc(0) : buf.subarray(end + 4),
      });
    };
    socket.on("data", onData);
    socket.once("close", () => done());
    socket.once("error", (e) => (buf.length ? done() : reject(e)));
    socket.once(
      options.ca === undefined ? "connect" : "secureConnect",
      () => socket.write(upgradeRequest(port, path, changes)),
    );
  });
}

/** Resolves with the code of the first close frame the server sends on `o` (pings skipped). */
export function closeFrame(o: Opened): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = o.rest;
    const check = () => {
      while (buf.length >= 2) {
        const len = buf[1] & 0x7f;
        if (len >= 126 || buf.length < 2 + len) return;
        if ((buf[0] & 0x0f) === 8) {
          o.socket.off("data", onData);
          return resolve(len >= 2 ? buf.readUInt16BE(2) : 1005);
        }
        buf = buf.subarray(2 + len);
      }
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      check();
    };
    o.socket.on("data", onData);
    o.socket.once("close", () => reject(new Error("closed before a close frame")));
    o.socket.resume();
    check();
  });
}

/**
 * Reads server frames until a close frame, the end of the connection, or `ms`; says what the
 * server did, in the words the comparison table uses.
 */
export function readReaction(o: Opened, ms = CASE_MS): Promise<{ close?: number; what: string }> {
  return new Promise((resolve) => {
    let buf = o.rest;
    const data: number[] = [];
    let settled = false;
    const finish = (r: { close?: number; what: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.socket.destroy();
      resolve(r);
    };
    const before = () => (data.length ? `data frame (opcode ${data[0]}) then ` : "");
    const check = () => {
      const { frames, rest } = parseServerFrames(buf);
      buf = rest;
      for (const f of frames) {
        if (f.op !== 8) {
          data.push(f.op);
          continue;
        }
        if (f.payload.length < 2) return finish({ close: 1005, what: `${before()}close, no code` });
        const code = f.payload.readUInt16BE(0);
        return finish({ close: code, what: `${before()}close ${code}` });
      }
    };
    const timer = setTimeout(
      () =>
        finish({
          what: data.length
            ? `accepted: data frame (opcode ${data[0]})`
            : `no answer in ${ms / 1000} s`,
        }),
      ms,
    );
    o.socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      check();
    });
    o.socket.on("close", () => finish({ what: `${before()}TCP close, no close frame` }));
    o.socket.on("error", () => {});
    o.socket.resume();
    check();
  });
}

/** What to know about the server a case runs against. */
export interface WsTarget {
  port: number;
  /** The process whose memory and pid matter (appserve's one worker, or the native server). */
  pid: number;
  /** Its message limit in bytes (the "limit" of frame sizes). */
  limit: number;
}

export interface CaseResult {
  /** What happened, in a few words ("close 1002", "HTTP 400", "RSS +3 MiB"). */
  what: string;
  /** Problems against the corpus's expectation (empty: as expected). */
  problems: string[];
}

/** VmRSS in MiB, NaN when the process is gone. */
export function rssMib(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface AppStats {
  pid: number;
  open: number;
  floods: number;
}

/** The app's counters; -1s when no answer came (a worker that just died, say). */
async function stats(port: number): Promise<AppStats> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/stats`, { headers: { connection: "close" } });
    return await r.json();
  } catch {
    return { pid: -1, open: -1, floods: -1 };
  }
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

async function upgradeCase(t: WsTarget, c: WsCase): Promise<CaseResult> {
  const o = await openRaw(t.port, "/echo", c.upgrade);
  o.socket.destroy();
  const what = o.status ? `HTTP ${o.status}` : "no HTTP answer";
  const problems: string[] = [];
  if (o.status !== c.expect.status) problems.push(`expected HTTP ${c.expect.status}, got ${what}`);
  for (const [name, value] of Object.entries(c.expect.header ?? {})) {
    // Exactly: a server that lists a version it then refuses (or takes one it does not list)
    // tells the client something untrue.
    if (o.headers[name] !== value) {
      problems.push(`expected ${name}: ${value}, got ${JSON.stringify(o.headers[name])}`);
    }
  }
  const header = o.headers["sec-websocket-version"];
  return { what: header ? `${what} (Sec-WebSocket-Version: ${header})` : what, problems };
}

async function frameCase(t: WsTarget, c: WsCase): Promise<CaseResult> {
  const o = await openRaw(t.port, "/echo");
  if (o.status !== 101) {
    o.socket.destroy();
    return { what: `HTTP ${o.status}`, problems: [`valid upgrade got HTTP ${o.status}`] };
  }
  const bytes = Buffer.concat(c.frames!.map((f) => encodeFrame(f, t.limit)));
  // Tens of MiB (a native server's own limit) take longer than a few bytes to pass and echo.
  const reaction = readReaction(o, bytes.length > 1 << 20 ? 20_000 : CASE_MS);
  o.socket.write(bytes, () => {});
  const r = await reaction;
  const problems = r.close === c.expect.close
    ? []
    : [`expected close ${c.expect.close}, got ${r.what}`];
  return { what: r.what, problems };
}

async function vanishCase(t: WsTarget): Promise<CaseResult> {
  const o = await openRaw(t.port, "/echo");
  if (o.status !== 101) {
    o.socket.destroy();
    return { what: `HTTP ${o.status}`, problems: [`valid upgrade got HTTP ${o.status}`] };
  }
  const echoed = await new Promise<boolean>((resolve) => {
    let buf = o.rest;
    const timer = setTimeout(() => resolve(false), CASE_MS);
    o.socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (parseServerFrames(buf).frames.some((f) => f.op === 1)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    o.socket.on("error", () => {});
    o.socket.resume();
    o.socket.write(encodeFrame({ op: 1, payload: "before vanishing" }, t.limit));
  });
  const openBefore = (await stats(t.port)).open;
  // TCP ends (FIN) with no close frame, as when a laptop lid closes mid-session... almost: a
  // lid gives no FIN at all, which only the idle timeout can find (tests/e2e/websocket_*).
  o.socket.destroy();
  const closed = await until(async () => (await stats(t.port)).open === 0, 10_000);
  const what = `${echoed ? "echo, then" : "no echo, then"} ${
    closed ? "the app saw the close" : "the app never saw the close"
  } (open ${openBefore} → ${closed ? 0 : (await stats(t.port)).open})`;
  const problems = echoed && closed ? [] : [what];
  return { what, problems };
}

async function stopReadingCase(t: WsTarget, c: WsCase): Promise<CaseResult> {
  const { messages, size } = c.stop_reading!;
  const o = await openRaw(t.port, "/echo");
  if (o.status !== 101) {
    o.socket.destroy();
    return { what: `HTTP ${o.status}`, problems: [`valid upgrade got HTTP ${o.status}`] };
  }
  o.socket.on("error", () => {});
  let ended = false;
  o.socket.on("close", () => (ended = true));
  const floodsBefore = (await stats(t.port)).floods;
  const before = rssMib(t.pid);
  let peak = before;
  // The client reads nothing from here on: its socket stays paused.
  o.socket.write(encodeFrame({ op: 1, payload: `flood ${messages} ${size}` }, t.limit));
  let died = false;
  const sample = () => {
    const now = rssMib(t.pid);
    if (Number.isNaN(now)) died = true;
    else peak = Math.max(peak, now);
  };
  const sent = await until(async () => {
    sample();
    return died || (await stats(t.port)).floods > floodsBefore;
  }, 30_000);
  // Whatever the server keeps, it has it by now; watch it a little longer for the peak.
  for (let i = 0; i < 20; i++) {
    sample();
    await sleep(100);
  }
  o.socket.destroy();
  const growth = peak - before;
  const limit = c.expect.max_rss_growth_mib!;
  const sentMib = (messages * size / 1048576).toFixed(0);
  if (died) {
    const what = `the server process died (RSS +${growth.toFixed(0)} MiB before) ` +
      `for ${sentMib} MiB sent`;
    return { what, problems: [what] };
  }
  const what = `RSS +${growth.toFixed(0)} MiB for ${sentMib} MiB sent${
    sent ? "" : " (the app never finished sending)"
  }${ended ? ", socket closed by the server" : ""}`;
  const problems = growth <= limit ? [] : [`server RSS grew ${growth.toFixed(0)} MiB (> ${limit})`];
  return { what, problems };
}

/**
 * Reads the next `n` data messages (unfragmented) after a 101: text as strings, binary as
 * Buffers; rejects on a close frame, the end of the connection or after `ms`.
 */
export function readMessages(o: Opened, n: number, ms = 10_000): Promise<(string | Buffer)[]> {
  return new Promise((resolve, reject) => {
    let buf = o.rest;
    const got: (string | Buffer)[] = [];
    const timer = setTimeout(() => fail(`${got.length} of ${n} messages within ${ms} ms`), ms);
    const fail = (why: string) => {
      clearTimeout(timer);
      o.socket.off("data", onData);
      reject(new Error(why));
    };
    const onData = (d?: Buffer) => {
      if (d) buf = Buffer.concat([buf, d]);
      const { frames, rest } = parseServerFrames(buf);
      buf = rest;
      for (const f of frames) {
        if (f.op === 8) {
          return fail(`close ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : ""}`);
        }
        if (f.op === 1) got.push(f.payload.toString("utf8"));
        else if (f.op === 2) got.push(Buffer.from(f.payload));
        if (got.length === n) {
          clearTimeout(timer);
          o.socket.off("data", onData);
          o.socket.pause();
          o.rest = buf;
          return resolve(got);
        }
      }
    };
    o.socket.on("data", onData);
    o.socket.once("close", () => fail("connection closed"));
    o.socket.resume();
    onData();
  });
}

/** Runs one corpus case on a fresh connection. */
export function runWsCase(t: WsTarget, c: WsCase): Promise<CaseResult> {
  if (c.upgrade !== undefined) return upgradeCase(t, c);
  if (c.vanish) return vanishCase(t);
  if (c.stop_reading) return stopReadingCase(t, c);
  return frameCase(t, c);
}

/** A text and a binary message echoed by the app, with Deno's own WebSocket client. */
export function wsEcho(port: number, path = "/echo"): Promise<string[]> {
  return new Promise((resolve) => {
    const problems: string[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.binaryType = "arraybuffer";
    const got: unknown[] = [];
    const timer = setTimeout(() => finish("no echo within 5 s"), CASE_MS);
    const finish = (problem?: string) => {
      clearTimeout(timer);
      if (problem) problems.push(problem);
      try {
        ws.close();
      } catch {
        // Never opened.
      }
      resolve(problems);
    };
    ws.onopen = () => {
      ws.send("still there?");
      ws.send(new Uint8Array([1, 2, 3]));
    };
    ws.onmessage = (e) => {
      got.push(e.data);
      if (got.length < 2) return;
      if (got[0] !== "still there?") problems.push(`text echo ${JSON.stringify(got[0])}`);
      const bin = got[1] instanceof ArrayBuffer ? [...new Uint8Array(got[1])].join(",") : got[1];
      if (bin !== "1,2,3") problems.push(`binary echo ${String(bin)}`);
      finish();
    };
    ws.onerror = () => finish("WebSocket error");
    ws.onclose = (e) => finish(got.length < 2 ? `closed ${e.code} before the echo` : undefined);
  });
}

/** The same server process still answers a GET and echoes over a new WebSocket. */
export async function stillServes(port: number, pid: number): Promise<string[]> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" } });
    const body = await r.text();
    if (r.status !== 200 || body !== `ok pid ${pid}\n`) {
      return [`HTTP check: ${r.status} ${JSON.stringify(body)} (expected pid ${pid})`];
    }
  } catch (e) {
    return [`HTTP check failed: ${e}`];
  }
  return (await wsEcho(port)).map((p) => `WebSocket check: ${p}`);
}
