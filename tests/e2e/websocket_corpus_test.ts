// Replays the hostile-frame corpus (tests/corpus/websocket/cases.json, RFC 6455's failure cases)
// over raw sockets against appserve serving tests/fixtures/apps/websocket_app.ts on one worker:
// each case gets its HTTP status, close code, clean-up or memory bound, and after each one the
// same worker still answers a GET and echoes over a new WebSocket. The native servers' answers to
// the same corpus are in docs/websockets_hostile.md (scripts/ws_hostile_report.ts).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { childPids, start } from "../_helpers.ts";
import { wsE2e } from "../_websocket.ts";
import { encodeFrame, loadWsCorpus, runWsCase, stillServes, WS_APP } from "../_ws_raw.ts";

Deno.test('encodeFrame() writes RFC 6455 5.7\'s masked "Hello" and a 2^63 length field', () => {
  assert.deepEqual(
    encodeFrame({ op: 1, payload: "Hello" }, 0),
    Buffer.from("8185 37fa213d 7f9f4d5158".replaceAll(" ", ""), "hex"),
  );
  assert.deepEqual(
    encodeFrame({ op: 2, payload: "", length: "2^63" }, 0),
    Buffer.from("82ff 8000000000000000 37fa213d".replaceAll(" ", ""), "hex"),
  );
  assert.equal(encodeFrame({ op: 2, fill: "x", size: "limit+1" }, 1024).length, 2 + 2 + 4 + 1025);
});

Deno.test("every WebSocket corpus case is one kind with one expectation and a note", () => {
  const corpus = loadWsCorpus();
  assert.ok(corpus.cases.length >= 15);
  const names = new Set<string>();
  for (const c of corpus.cases) {
    assert.ok(!names.has(c.name), `duplicate ${c.name}`);
    names.add(c.name);
    const kinds = [c.upgrade, c.frames, c.vanish, c.stop_reading].filter((k) => k !== undefined);
    assert.equal(
      kinds.length,
      1,
      `${c.name}: exactly one of upgrade, frames, vanish, stop_reading`,
    );
    assert.equal(Object.keys(c.expect).filter((k) => k !== "header").length, 1, c.name);
    assert.ok(c.note.length > 20, `${c.name}: a note says why`);
  }
});

wsE2e(
  "WebSocket corpus: hostile frames get their status or close code; the worker keeps serving",
  async (target) => {
    const corpus = loadWsCorpus();
    const limit = corpus.limits["websocket-max-message"];
    const server = start(target, [
      "-w",
      "1",
      "-b",
      "127.0.0.1:0",
      "--websocket-max-message",
      String(limit),
      WS_APP,
    ]);
    const failures: string[] = [];
    try {
      const port = Number(new URL(await server.ready(1)).port);
      const [workerPid] = childPids(server.pid);
      for (const c of corpus.cases) {
        const r = await runWsCase({ port, pid: workerPid, limit }, c);
        const problems = [...r.problems, ...await stillServes(port, workerPid)];
        const workers = childPids(server.pid);
        if (workers.length !== 1 || workers[0] !== workerPid) {
          problems.push(`workers ${workers} (was ${workerPid})`);
        }
        console.log(`[${target.name}] ${c.name}: ${r.what}`);
        if (problems.length) failures.push(`${c.name}: ${problems.join("; ")}`);
      }
    } finally {
      await server.stop();
    }
    console.log(
      `[${target.name}] WebSocket corpus: ${corpus.cases.length - failures.length}/` +
        `${corpus.cases.length} cases pass`,
    );
    assert.deepEqual(failures, [], `failing WebSocket corpus cases:\n${failures.join("\n")}`);
  },
);
