// What formatting each access line as its request finishes costs against formatting the batch's
// lines when it goes out (issue 19: a worker's waiting lines live formatted in its scoreboard
// slot, src/ipc/pending_access.ts). In-process, gunicorn's default format (or --json), 1000
// distinct entries, 200 000 lines a rep in batches of 64, 24 reps alternating, CPU time from
// process.cpuUsage(), medians of the last 20. Runs under either runtime:
//
//   node_modules/.bin/bun scripts/bench/access_eager.ts [--json]
//   node_modules/.bin/deno run -A scripts/bench/access_eager.ts [--json]

import process from "node:process";
import {
  type AccessEntry,
  compileAccessWriter,
  DEFAULT_ACCESS_LOG_FORMAT,
} from "../../src/log/access_format.ts";
import { LineBuffer } from "../../src/log/line_buffer.ts";
import { PENDING_ACCESS_BYTES, PendingAccess } from "../../src/ipc/pending_access.ts";

const json = process.argv.includes("--json");
const LINES = 200_000;
const BATCH = 64;
const REPS = 24;

function entry(i: number): AccessEntry {
  const request = new Request(`http://127.0.0.1:8000/hello?n=${i}`);
  request.headers.append("host", "127.0.0.1:8000");
  request.headers.append("user-agent", "wrk");
  request.headers.append("accept", "*/*");
  return {
    request,
    response: new Response("Hello, world!\n"),
    details: {
      remote: { transport: "tcp", hostname: "127.0.0.1", port: 40000 + (i % 1000) },
      protocol: "HTTP/1.1",
      target: `/hello?n=${i}`,
      bodyBytes: 14,
    },
    durationMs: 1.5,
    end: new Date(),
  };
}

const entries = Array.from({ length: 1000 }, (_, i) => entry(i));
const writer = compileAccessWriter(DEFAULT_ACCESS_LOG_FORMAT, { json });
let sink = 0;

// Before: each line's values into slots, the batch's lines formatted when it goes out.
function deferred(): void {
  const slots: unknown[] = [];
  const lines = new LineBuffer();
  let taken = 0;
  for (let i = 0; i < LINES; i++) {
    writer.take(entries[i % 1000], slots, taken++ * writer.width);
    if (taken < BATCH) continue;
    for (let j = 0; j < taken; j++) {
      writer.put(slots, j * writer.width, lines);
      lines.newline();
    }
    taken = 0;
    sink += lines.take().length;
  }
}

// Now: each line formatted into the (shared) area at once and its length published.
const area = new PendingAccess(new Uint8Array(new SharedArrayBuffer(PENDING_ACCESS_BYTES)));
function eager(): void {
  const slots: unknown[] = [];
  const lines = new LineBuffer(area.bytes);
  for (let i = 0; i < LINES; i++) {
    writer.take(entries[i % 1000], slots, 0);
    writer.put(slots, 0, lines);
    lines.newline();
    area.publish(lines.length);
    if (lines.lines < BATCH) continue;
    sink += lines.take().length;
    area.publish(0);
  }
}

const times: Record<string, number[]> = { deferred: [], eager: [] };
for (let rep = 0; rep < REPS; rep++) {
  const order = rep % 2 ? [deferred, eager] : [eager, deferred];
  for (const run of order) {
    const t = process.cpuUsage();
    run();
    const d = process.cpuUsage(t);
    times[run.name].push((d.user + d.system) * 1000 / LINES);
  }
}
for (const [name, t] of Object.entries(times)) {
  const s = t.slice(4).sort((a, b) => a - b);
  process.stdout.write(
    `${json ? "json" : "text"} ${name}: median ${s[s.length >> 1].toFixed(0)} ns a line\n`,
  );
}
if (sink < 0) process.stdout.write("");
