// Replays the raw-request corpus (tests/corpus/, format in its README) over raw sockets against a
// running appserve: valid requests reach the echo app intact (whole and split byte by byte),
// invalid ones get their status or a clean close, and the worker never dies.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import {
  childPids,
  e2e,
  FIXTURES,
  get,
  ROOT,
  type Server,
  sleep,
  start,
  type Target,
} from "../_helpers.ts";

const CORPUS = join(ROOT, "tests", "corpus");
const ECHO_APP = join(FIXTURES, "apps", "echo_app.ts");
// An exchange ends when nothing moved either way for this long: bounded by progress, as a
// byte-by-byte send of the largest case takes seconds of its own on a loaded box, and in total
// only generously, against a server that trickles bytes for ever.
const QUIET_MS = 5_000;
const TOTAL_MS = 120_000;

type Limits = Record<string, number | string>;

interface SeenRequest {
  method: string;
  /** request.url, checked only when the expectation has it. */
  url?: string;
  path: string;
  query: string;
  /** null: the app must not see this field. */
  headers: Record<string, string | null>;
  body: string;
}

interface Case<E> {
  file: string;
  bytes: Buffer;
  limits: Limits;
  expect: E;
}

interface InvalidExpect {
  status?: number;
  close?: boolean;
  after_valid?: number;
  limits?: Limits;
  targets?: Target["name"][];
  note?: string;
}

/** Decodes the corpus escapes: real newlines are dropped, `\r \n \t \0 \xHH \\` give bytes. */
export function decodeHttp(text: string, file = "?"): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n" || c === "\r") continue;
    if (c !== "\\") {
      const code = c.charCodeAt(0);
      if (code > 127) throw new Error(`${file}: raw non-ASCII character; use \\xHH`);
      out.push(code);
      continue;
    }
    const e = text[++i];
    if (e === "r") out.push(13);
    else if (e === "n") out.push(10);
    else if (e === "t") out.push(9);
    else if (e === "0") out.push(0);
    else if (e === "\\") out.push(92);
    else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`${file}: bad escape \\${e ?? ""} at ${i}`);
  }
  return Buffer.from(out);
}

/** The cases of `dir` that apply to `target` (a file may name the targets it is for). */
function loadCases<E>(dir: "valid" | "invalid", target: Target): Case<E>[] {
  const path = join(CORPUS, dir);
  return readdirSync(path).filter((f) => f.endsWith(".http")).sort().flatMap((f) => {
    const json = JSON.parse(readFileSync(join(path, f.replace(/\.http$/, ".json")), "utf8"));
    const limits = (Array.isArray(json) ? undefined : json.limits) ?? {};
    const targets: string[] | undefined = Array.isArray(json) ? undefined : json.targets;
    // A case's targets name the workers' runtime: "deno", or "binary" for Bun.
    const runtime = target.workers === "bun" ? "binary" : "deno";
    if (targets !== undefined && !targets.includes(runtime)) return [];
    const expect = dir === "valid" && !Array.isArray(json) ? json.requests : json;
    return [{
      file: `${dir}/${f}`,
      bytes: decodeHttp(readFileSync(join(path, f), "utf8"), f),
      limits,
      expect,
    }];
  });
}

interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Parses as many complete responses as `buf` holds (1xx interim answers skipped). A response
 * without framing runs to the end of the stream, so it is complete only once `ended`.
 */
export function parseResponses(buf: Buffer, ended: boolean): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  for (;;) {
    const headEnd = buf.indexOf("\r\n\r\n", pos, "latin1");
    if (headEnd === -1) return out;
    const lines = buf.toString("latin1", pos, headEnd).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let p = headEnd + 4;
    if (status < 200) {
      pos = p;
      continue;
    }
    let body: Buffer;
    if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf("\r\n", p, "latin1");
        if (le === -1) return out;
        const size = parseInt(buf.toString("latin1", p, le), 16);
        if (size === 0) {
          const end = buf.indexOf("\r\n\r\n", le, "latin1");
          if (end === -1) return out;
          p = end + 4;
          break;
        }
        if (buf.length < le + 2 + size + 2) return out;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      if (buf.length < p + n) return out;
      body = buf.subarray(p, p + n);
      p += n;
    } else {
      if (!ended) return out;
      body = buf.subarray(p);
      p = buf.length;
    }
    out.push({ status, headers, body });
    pos = p;
  }
}

interface ExchangeResult {
  responses: ParsedResponse[];
  /** The server ended or closed the connection. */
  ended: boolean;
  /** Bytes received. */
  received: number;
  error?: string;
}

/**
 * Sends `bytes` on a fresh connection (whole, or one byte per write with small pauses), then reads
 * until `want` final responses arrived (and, with `untilEnd`, the server closed), or until no byte
 * was written or received for QUIET_MS.
 */
function exchange(
  port: number,
  bytes: Buffer,
  options: { byteByByte?: boolean; want: number; untilEnd?: boolean; halfClose?: boolean },
): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let ended = false;
    let settled = false;
    let parseError: string | undefined;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      let responses: ParsedResponse[] = [];
      try {
        responses = parseResponses(buf, ended);
      } catch (e) {
        parseError = String(e);
      }
      socket.destroy();
      resolve({ responses, ended, received: buf.length, error: parseError ?? error });
    };
    let sent = 0;
    const began = performance.now();
    let lastProgress = began;
    const quiet = () => {
      const now = performance.now();
      const left = lastProgress + QUIET_MS - now;
      // A server trickling bytes for ever must not hang the run: bounded in total too.
      if (now - began >= TOTAL_MS) finish(`still going after ${TOTAL_MS / 1000} s`);
      else if (left > 0) timer = setTimeout(quiet, Math.min(left, began + TOTAL_MS - now));
      else {
        finish(
          `nothing sent or received for ${QUIET_MS / 1000} s: ` +
            `sent ${sent} of ${bytes.length} bytes, received ${buf.length}`,
        );
      }
    };
    let timer = setTimeout(quiet, QUIET_MS);
    const check = () => {
      if (options.untilEnd && !ended) return;
      try {
        if (parseResponses(buf, ended).length >= options.want) finish();
      } catch (e) {
        parseError = String(e);
        finish();
      }
    };
    socket.on("data", (d: Buffer) => {
      lastProgress = performance.now();
      buf = Buffer.concat([buf, d]);
      check();
    });
    socket.on("end", () => {
      ended = true;
      finish();
    });
    socket.on("close", () => {
      ended = true;
      finish();
    });
    // A reset after the server's answer is still an answer; anything else shows in the result.
    socket.on("error", (e) => finish(`socket error: ${e.message}`));
    socket.on("connect", async () => {
      try {
        if (options.byteByByte) {
          for (let i = 0; i < bytes.length && !settled; i++) {
            await new Promise<void>((r) => socket.write(bytes.subarray(i, i + 1), () => r()));
            sent = i + 1;
            lastProgress = performance.now();
            // Pause after every byte at first, then every 64 so the big cases stay quick.
            if (i < 256 || i % 64 === 0) await sleep(1);
          }
        } else {
          socket.write(bytes, () => {
            sent = bytes.length;
            lastProgress = performance.now();
          });
        }
        if (options.halfClose && !settled) socket.end();
      } catch {
        // The server closed on us mid-write: the reads tell what happened.
      }
    });
  });
}

function limitArgs(limits: Limits): string[] {
  return Object.entries(limits).flatMap(([k, v]) => [`--${k}`, String(v)]);
}

/** Groups cases by their limits, runs each group against its own one-worker server. */
async function withServers<E>(
  target: Target,
  cases: Case<E>[],
  fn: (c: Case<E>, port: number, workerPid: number, server: Server) => Promise<void>,
): Promise<void> {
  const groups = new Map<string, Case<E>[]>();
  for (const c of cases) {
    const key = JSON.stringify(c.limits);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  for (const group of groups.values()) {
    const server = start(target, [
      "-w",
      "1",
      "-b",
      "127.0.0.1:0",
      ...limitArgs(group[0].limits),
      ECHO_APP,
    ]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      const [workerPid] = childPids(server.pid);
      for (const c of group) await fn(c, port, workerPid, server);
    } finally {
      await server.stop();
    }
  }
}

function checkRequests(got: ParsedResponse[], want: SeenRequest[], workerPid: number): string[] {
  const problems: string[] = [];
  if (got.length !== want.length) {
    problems.push(`expected ${want.length} responses, got ${got.length}`);
  }
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const r = got[i];
    const text = r.body.toString("utf8");
    if (r.status !== 200) {
      problems.push(`#${i}: status ${r.status}: ${text.trim()}`);
      continue;
    }
    const seen = JSON.parse(text);
    const w = want[i];
    if (seen.pid !== workerPid) problems.push(`#${i}: answered by pid ${seen.pid}`);
    for (const key of ["method", "url", "path", "query", "body"] as const) {
      if (key in w && seen[key] !== w[key]) {
        problems.push(`#${i}: ${key} ${JSON.stringify(seen[key])} != ${JSON.stringify(w[key])}`);
      }
    }
    for (const [name, value] of Object.entries(w.headers)) {
      if ((seen.headers[name] ?? null) !== value) {
        problems.push(
          `#${i}: header ${name} ${JSON.stringify(seen.headers[name])} != ${JSON.stringify(value)}`,
        );
      }
    }
  }
  return problems;
}

/** The worker still answers a normal GET, from the same pid, and is still the only worker. */
async function workerAlive(server: Server, port: number, workerPid: number): Promise<string[]> {
  try {
    const answer = await get(`http://127.0.0.1:${port}/__alive?x=1`);
    const pid = JSON.parse(answer.body).pid;
    const pids = childPids(server.pid);
    if (answer.status !== 200 || pid !== workerPid || pids.length !== 1 || pids[0] !== workerPid) {
      return [
        `worker check: status ${answer.status} pid ${pid}, workers ${pids} (was ${workerPid})`,
      ];
    }
    return [];
  } catch (e) {
    return [`worker check failed: ${e}`];
  }
}

function report(target: Target, kind: string, total: number, failures: string[]): void {
  const failed = new Set(failures.map((f) => f.split(" ")[0])).size;
  console.log(`[${target.name}] corpus ${kind}: ${total - failed}/${total} files pass`);
  assert.deepEqual(failures, [], `failing corpus files:\n${failures.join("\n")}`);
}

e2e("corpus: valid requests reach the app intact, whole and byte by byte", async (target) => {
  const cases = loadCases<SeenRequest[]>("valid", target);
  assert.ok(cases.length > 0);
  const failures: string[] = [];
  await withServers(target, cases, async (c, port, workerPid, server) => {
    for (const byteByByte of [false, true]) {
      const mode = byteByByte ? "bytewise" : "whole";
      const r = await exchange(port, c.bytes, { byteByByte, want: c.expect.length });
      const problems = checkRequests(r.responses, c.expect, workerPid);
      if (r.error) problems.unshift(r.error);
      if (problems.length) failures.push(`${c.file} [${mode}]: ${problems.join("; ")}`);
    }
    const alive = await workerAlive(server, port, workerPid);
    if (alive.length) failures.push(`${c.file}: ${alive.join("; ")}`);
  });
  report(target, "valid", cases.length, failures);
});

e2e(
  "corpus: invalid requests get their status or a clean close; the worker survives",
  async (target) => {
    const cases = loadCases<InvalidExpect>("invalid", target);
    assert.ok(cases.length > 0);
    const failures: string[] = [];
    await withServers(target, cases, async (c, port, workerPid, server) => {
      const e = c.expect;
      const before = e.after_valid ?? 0;
      const r = await exchange(port, c.bytes, {
        want: before + 1,
        untilEnd: true,
        halfClose: e.close === true,
      });
      const problems: string[] = [];
      if (r.error && !(r.ended && r.received > 0)) problems.push(r.error);
      if (!r.ended) problems.push("connection not closed by the server");
      for (let i = 0; i < before; i++) {
        if (r.responses[i]?.status !== 200) {
          problems.push(`valid request #${i} got ${r.responses[i]?.status}`);
        }
      }
      if (e.close) {
        if (r.received !== 0) {
          problems.push(
            `expected a clean close, got ${r.responses[0]?.status ?? `${r.received} bytes`}`,
          );
        }
      } else {
        const got = r.responses[before];
        if (got?.status !== e.status) {
          problems.push(
            `expected ${e.status}, got ${
              got ? `${got.status} ${got.body.toString().trim()}` : "none"
            }`,
          );
        } else if (r.responses.length > before + 1) {
          problems.push(`${r.responses.length - before - 1} responses after the error`);
        }
      }
      problems.push(...await workerAlive(server, port, workerPid));
      if (problems.length) failures.push(`${c.file}: ${problems.join("; ")}`);
    });
    report(target, "invalid", cases.length, failures);
  },
);
