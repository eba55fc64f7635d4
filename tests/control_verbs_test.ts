// ctl's scale and add, and TTIN, stop at the workers setting's maximum: on the client, in the
// master's reading of a request (one written by hand too) and in the verbs themselves.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_WORKERS } from "../src/config/settings.ts";
import {
  type ControlReply,
  type ControlRequest,
  parseRequest,
  scaleProblem,
} from "../src/ipc/control_protocol.ts";
import { ControlSocket } from "../src/master/control_socket.ts";
import { answerControl, oneMore } from "../src/master/control_verbs.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import { tempDir } from "./_helpers.ts";

const umask = (mask: number) => denoRuntime.libc().umask(mask);
const host = { umask, keepFromChildren: denoRuntime.keepFromChildren };

Deno.test("the most workers ctl and TTIN go to is the workers setting's maximum", () => {
  assert.equal(MAX_WORKERS, 1024);
  assert.equal(scaleProblem(1024, MAX_WORKERS), undefined);
  assert.equal(scaleProblem(1025, MAX_WORKERS), "expected a whole number from 1 to 1024");
  assert.equal(scaleProblem(0, MAX_WORKERS), "expected a whole number from 1 to 1024");
  assert.equal(oneMore(1023), 1024);
  assert.equal(oneMore(1024), 'already 1024 workers, the most "workers" accepts');
});

Deno.test("parseRequest() refuses a scale past the maximum, as a hand-written request may ask", () => {
  assert.deepEqual(parseRequest('{"verb":"scale","workers":1024}', 1024), {
    verb: "scale",
    workers: 1024,
  });
  assert.equal(
    parseRequest('{"verb":"scale","workers":2000}', 1024),
    "Cannot scale to 2000: expected a whole number from 1 to 1024",
  );
  assert.equal(
    parseRequest('{"verb":"scale","workers":0}', 1024),
    "Cannot scale to 0: expected a whole number from 1 to 1024",
  );
});

Deno.test("ctl add at the maximum is refused and changes nothing", async () => {
  const replies: ControlReply[] = [];
  const counts: number[] = [];
  const actions = {
    configured: MAX_WORKERS,
    status: () => [],
    reload: () => Promise.resolve(),
    setWorkers: (count: number) => {
      counts.push(count);
      return Promise.resolve();
    },
    reopenLogs: () => {},
    stop: (): never => {
      throw new Error("not asked");
    },
  };
  await answerControl({ verb: "add" }, (r) => replies.push(r), actions);
  assert.deepEqual(replies.splice(0), [{
    ok: false,
    error: 'Cannot add: already 1024 workers, the most "workers" accepts',
  }]);
  assert.deepEqual(counts, []);
  await answerControl({ verb: "add" }, (r) => replies.push(r), { ...actions, configured: 2 });
  assert.deepEqual(replies, [{ ok: true, message: "Workers: 2 -> 3", configured: 3 }]);
  assert.deepEqual(counts, [3]);
});

Deno.test("the control socket refuses a hand-written scale past the maximum; no verb runs", async () => {
  const dir = tempDir();
  const asked: ControlRequest[] = [];
  const control = await ControlSocket.open(join(dir.path, "ctl.sock"), (request, reply) => {
    asked.push(request);
    reply({ ok: true });
  }, host);
  try {
    const say = (line: string) =>
      new Promise<ControlReply>((resolve, reject) => {
        const socket = connect(control.path);
        let text = "";
        socket.on("data", (d) => (text += d));
        socket.on("end", () => resolve(JSON.parse(text)));
        socket.on("error", reject);
        socket.write(`${line}\n`);
      });
    assert.deepEqual(await say(`{"verb":"scale","workers":${MAX_WORKERS + 1}}`), {
      ok: false,
      error: `Cannot scale to ${MAX_WORKERS + 1}: expected a whole number from 1 to 1024`,
    });
    assert.deepEqual(asked, []);
    assert.deepEqual(await say(`{"verb":"scale","workers":${MAX_WORKERS}}`), { ok: true });
    assert.deepEqual(asked, [{ verb: "scale", workers: MAX_WORKERS }]);
  } finally {
    control.close();
    dir.remove();
  }
});

Deno.test("the control socket is bound 0600 whatever the umask, which is then put back", async () => {
  const dir = tempDir();
  const before = umask(0);
  try {
    const control = await ControlSocket.open(join(dir.path, "ctl.sock"), () => {}, host);
    try {
      assert.equal(statSync(control.path).mode & 0o777, 0o600);
      // The process's umask is 0 again: a file made now keeps the mode it asks for.
      writeFileSync(join(dir.path, "after"), "", { mode: 0o666 });
      assert.equal(statSync(join(dir.path, "after")).mode & 0o777, 0o666);
    } finally {
      control.close();
    }
  } finally {
    umask(before);
    dir.remove();
  }
});
