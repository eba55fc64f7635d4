// A graceful stop under --reuse-port under keep-alive load loses nothing and ends once the
// connections open at the stop are done: each worker's own native server stops accepting, answers
// every request from then on `Connection: close`, and gives the kept-alive connections a moment to
// send their next request before it closes the idle ones.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  load,
  type Server,
  sleep,
  startOneWorker,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { parseWrk, startWrk, wrkArgs } from "../_procs.ts";

const APP = join(FIXTURES, "apps", "late_read_app.ts");
// Shorter than the load that goes on after the stop: a stop that never converged was cut off.
const GRACEFUL_TIMEOUT = "4";

// --keep-alive past the load: Bun workers under --reuse-port close a busy kept-alive connection
// now and then at the default 2 s (a read error every 4 s per connection, stop or not; not this
// test's matter).
const startNative = (t: Target): Promise<Server> =>
  startOneWorker(t, APP, [
    "--reuse-port",
    "--graceful-timeout",
    GRACEFUL_TIMEOUT,
    "--keep-alive",
    "30",
  ]);

/** wrk POSTing "hello" over 4 kept-alive connections for `seconds`; its counts once it ends. */
function postLoad(url: string, seconds: number) {
  const dir = tempDir();
  const script = join(dir.path, "post.lua");
  writeFileSync(script, 'wrk.method = "POST"\nwrk.body = "hello"\n');
  const wrk = startWrk(["-s", script, ...wrkArgs(url, { connections: 4, seconds })], seconds);
  return wrk.done.then(({ report, error }) => {
    dir.remove();
    if (error) throw new Error(`cannot run wrk: ${error.message}`);
    const result = parseWrk(report);
    assert.ok(result !== null && result.requests > 0, report);
    return { ...result, report };
  });
}

/** Resolves once the master has booted `count` workers in all. */
const booted = (server: Server, count: number) =>
  eventually(
    () => server.all(/Booting worker with pid/g).length === count,
    `worker ${count} booted`,
  );

// The stop waited for every body begun, and the kept-alive clients kept bringing new ones to an
// app that reads them late: the worker served to the graceful timeout, then cut off (504s).
e2e("HUP under keep-alive uploads under --reuse-port ends the old worker's stop", async (t) => {
  const server = await startNative(t);
  const url = await server.ready(1);
  const running = postLoad(url, 8);
  await sleep(2000);
  server.signal("SIGHUP");
  await booted(server, 2);
  const result = await running;
  const stopped = await server.stop();
  assert.doesNotMatch(stopped.stderr, /Cut off|\[ERROR\]/);
  assert.equal(result.connect + result.read + result.write + result.timeout, 0, result.report);
  assert.equal(result.non2xx, 0, result.report);
});

e2e("TERM under keep-alive uploads under --reuse-port exits without a cut-off", async (t) => {
  const server = await startNative(t);
  const url = await server.ready(1);
  const running = postLoad(url, 8);
  await sleep(2000);
  server.signal("SIGTERM");
  const stopped = await server.exited;
  const result = await running;
  assert.doesNotMatch(stopped.stderr, /Cut off|\[ERROR\]/);
  // Refused once the master is gone (connect errors): no request begun is lost or failed.
  assert.equal(result.read + result.timeout + result.non2xx, 0, result.report);
});

// The stop closed the kept-alive connections idle at that moment, racing with the request their
// clients were sending (wrk: read errors). The race is narrow: several stops, each under load.
e2e("HUPs under keep-alive GET load under --reuse-port lose no request", async (t) => {
  const server = await startNative(t);
  const url = await server.ready(1);
  const running = load(url, 10, { connections: 8 });
  for (let hup = 1; hup <= 3; hup++) {
    await sleep(1500);
    server.signal("SIGHUP");
    await booted(server, hup + 1);
  }
  const result = await running.done;
  assert.ok(result.requests > 0, result.report);
  const stopped = await server.stop();
  assert.equal(result.failed, 0, result.report + stopped.stderr);
  assert.doesNotMatch(stopped.stderr, /Cut off|\[ERROR\]/);
});
