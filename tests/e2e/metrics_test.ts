// --metrics-bind: Prometheus metrics and /healthz from the master, aggregated across workers from
// the scoreboard; each scrape is read by a parser that holds it to the format's rules.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  hasStackTrace,
  run,
  type Server,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { parsePrometheus, type Sample, sampleValue } from "../_prometheus.ts";
import { killTree, whileStopped } from "../_procs.ts";
import { rawConnect, rawExchange, readAll } from "../_raw.ts";
import type { Socket } from "node:net";
import { connect, wsUrl } from "../_ws_client.ts";
import { newPki } from "../_tls.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const NEUTRAL_WS_APP = join(FIXTURES, "websocket", "neutral.ts");
const SLOW_RELOAD_HOOKS = join(FIXTURES, "hooks", "slow_reload.ts");
const SLOW_BOOT_APP = join(FIXTURES, "apps", "slow_boot_app.ts");

/** A free address for --metrics-bind: its flag and the base URL of its scrapes. */
async function metricsAddress(): Promise<{ flag: string[]; base: string }> {
  const port = await freePort();
  return { flag: ["--metrics-bind", `127.0.0.1:${port}`], base: `http://127.0.0.1:${port}` };
}

/**
 * Asks `ask` over and over, `ms` apart, until stop(): what went wrong (what `ask` returns, or
 * what it threw) and how many answers came. For a USR2 hand-over, where either master answers.
 */
function keepAsking(ask: () => Promise<string | undefined>, ms: number) {
  const wrong: string[] = [];
  let answered = 0;
  let asking = true;
  const loop = (async () => {
    while (asking) {
      try {
        const why = await ask();
        answered++;
        if (why !== undefined) wrong.push(why);
      } catch (error) {
        wrong.push(String(error));
      }
      await sleep(ms);
    }
  })();
  return {
    stop: async () => {
      asking = false;
      await loop;
      return { wrong, answered };
    },
  };
}

/** A master of one worker with `metrics` and a pidfile in `dir`, as USR2 hand-over tests start it. */
function startWithPidfile(target: Target, metrics: string[], dir: string): Server {
  const pidfile = join(dir, "app.pid");
  return start(target, ["-w", "1", "-p", pidfile, ...metrics, "-b", "127.0.0.1:0", PID_APP]);
}

/** Waits for the USR2 child `next` to say, in `old`'s log, that it is the master now. */
function promoted(old: { stderr: string }, next: number): Promise<void> {
  return eventually(
    () => old.stderr.includes(`[${next}] [INFO] Master has been promoted.`),
    "promotion",
  );
}

/** One unlabelled sample of a scrape; -1 when it is missing. */
async function metric(base: string, name: string): Promise<number> {
  return sampleValue(await scrape(base), name) ?? -1;
}

async function scrape(base: string): Promise<Sample[]> {
  const answer = await get(`${base}/metrics`);
  assert.equal(answer.status, 200);
  assert.match(String(answer.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(answer.body);
}

e2e(
  "--metrics-bind serves the workers' requests, latency, workers and RSS, checked by a parser",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, [
      ...["-w", "2", ...metrics, "-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.allAnswering(2);
    await server.waitFor(new RegExp(`Serving metrics at: ${base}/metrics`));
    // gunicorn's first line is "Starting"; the metrics address is said after it.
    assert.match(server.stderr.split("\n")[0], /\[INFO\] Starting appserve /);
    const before = await scrape(base);
    const count = (s: Sample[], labels: Record<string, string>) =>
      sampleValue(s, "appserve_requests_total", labels) ?? 0;
    for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/a${i}`)).status, 200);
    for (let i = 0; i < 2; i++) {
      assert.equal(
        (await get(`${url}/boom`, { method: "POST" })).status,
        500,
      );
    }
    // A request is counted once its response is written, which may be after the client read it.
    const total = (s: Sample[]) => sampleValue(s, "appserve_request_duration_seconds_count") ?? 0;
    let after: Sample[] = [];
    await eventually(async () => {
      after = await scrape(base);
      return total(after) - total(before) >= 7;
    }, "7 requests counted");
    assert.equal(
      count(after, { method: "GET", status: "2xx" }) -
        count(before, { method: "GET", status: "2xx" }),
      5,
    );
    assert.equal(
      count(after, { method: "POST", status: "5xx" }) -
        count(before, { method: "POST", status: "5xx" }),
      2,
    );
    assert.equal(total(after) - total(before), 7);
    assert.equal(sampleValue(after, "appserve_workers"), 2);
    assert.equal(sampleValue(after, "appserve_workers_configured"), 2);
    assert.equal(sampleValue(after, "appserve_requests_in_flight"), 0);
    const pids = server.bootedWorkers().sort();
    const rss = after.filter((s) => s.name === "appserve_worker_rss_bytes");
    assert.deepEqual(rss.map((s) => Number(s.labels.pid)).sort(), pids);
    assert.ok(rss.every((s) => s.value > 10e6), JSON.stringify(rss));
    assert.ok(
      after.filter((s) => s.name === "appserve_worker_age_seconds").every((s) => s.value > 0),
    );
    assert.equal(after.find((s) => s.name === "appserve_build_info")?.labels.version, "0.1.0");
    // Counters survive their worker: a worker killed is replaced, and its requests still count.
    process.kill(pids[0], "SIGKILL");
    await eventually(
      async () =>
        sampleValue(await scrape(base), "appserve_worker_restarts_total", { reason: "exit" }) === 1,
      "the restart counted",
    );
    const later = await scrape(base);
    assert.ok(total(later) >= total(after), `${total(later)} < ${total(after)}`);
    assert.equal((await server.stop()).code, 0);
  },
);

/** Asks `path` until its answer matches `expected` ("STATUS body"); returns that answer. */
async function probeUntil(base: string, path: string, expected: RegExp): Promise<string> {
  let last = "";
  await eventually(async () => {
    const { status, body } = await get(`${base}${path}`);
    last = `${status} ${body}`;
    return expected.test(last);
  }, `${path} answers ${expected}`).catch((error: Error) => {
    throw new Error(`${error.message} (last: ${JSON.stringify(last)})`);
  });
  return last;
}

e2e(
  "/readyz: 503 while the workers boot, 200 while one of two is stuck, 503 when both are",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    // -t 10: a worker is stuck after two missed beats (2 s), and killed at 10 s.
    const server = start(target, ["-w", "2", "-t", "10", ...metrics, "-b", "127.0.0.1:0", PID_APP]);
    // The metrics listener opens before any worker is started.
    await server.waitFor(/Serving metrics at/);
    const early = await get(`${base}/readyz`);
    assert.equal(early.status, 503, `${early.body}\n${server.stderr}`);
    assert.match(early.body, /^not ready: starting, no worker (started|has booted) yet/);
    assert.equal((await get(`${base}/livez`)).status, 200);
    const url = await server.allAnswering(2);
    await probeUntil(base, "/readyz", /^200 ready: 2 of 2 workers serve\n$/);
    get(`${url}/spin`).catch(() => {});
    // One stuck worker of two: the instance still serves, so it stays in rotation, the stuck
    // one named; /healthz is the same answer.
    const one = /^200 ready: 1 of 2 workers serve\nworker \d+: no heartbeat for \d+\.\d s\n$/;
    await probeUntil(base, "/readyz", one);
    const healthz = await get(`${base}/healthz`);
    assert.match(`${healthz.status} ${healthz.body}`, one);
    // The second request goes to the worker still accepting: now none serves.
    get(`${url}/spin`).catch(() => {});
    const none = await probeUntil(base, "/readyz", /^503 not ready: no worker serves/);
    assert.match(
      none,
      /^503 not ready: no worker serves \(0 of 2\)\n(worker \d+: no heartbeat .*\n){2}$/,
    );
    const live = await get(`${base}/livez`);
    assert.equal(`${live.status} ${live.body}`, "200 alive: the master's loop runs\n");
    await server.waitFor(/WORKER TIMEOUT/);
    await probeUntil(base, "/readyz", /^200 ready: 2 of 2 workers serve\n$/);
    const samples = parsePrometheus((await get(`${base}/metrics`)).body);
    assert.equal(sampleValue(samples, "appserve_worker_restarts_total", { reason: "timeout" }), 2);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "TERM: /readyz is 503 (stopping) while the workers drain, /livez 200",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, ["-w", "1", ...metrics, "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.allAnswering(1);
    await probeUntil(base, "/readyz", /^200 ready: 1 of 1 worker serves\n$/);
    const slow = get(`${url}/slow?ms=4000&tell`);
    await server.waitFor(/slow began: \?ms=4000&tell$/m);
    server.signal("SIGTERM");
    // A load balancer asking now takes this instance out while its requests finish.
    await probeUntil(
      base,
      "/readyz",
      /^503 not ready: stopping, the workers finish what they serve\n$/,
    );
    const live = await get(`${base}/livez`);
    assert.equal(live.status, 200, live.body);
    assert.equal((await slow).status, 200);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "/livez is 503 while the master's loop is stalled (a slow on_reload hook), 200 after",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(
      target,
      ["-w", "1", "--hooks", SLOW_RELOAD_HOOKS, ...metrics, "-b", "127.0.0.1:0", PID_APP],
      { env: { RELOAD_HOOK_MS: "13000" } },
    );
    await server.allAnswering(1);
    await probeUntil(base, "/livez", /^200 alive: the master's loop runs\n$/);
    server.signal("SIGHUP");
    const stalled = /^503 not (alive|ready): the master's loop has not run for \d+\.\d s\n$/;
    await probeUntil(base, "/livez", stalled);
    const ready = await get(`${base}/readyz`);
    assert.match(`${ready.status} ${ready.body}`, stalled);
    await probeUntil(base, "/livez", /^200 alive: the master's loop runs\n$/);
    await probeUntil(base, "/readyz", /^200 ready: 1 of 1 worker serves\n$/);
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "HUP: while both generations serve, /readyz counts them without claiming more than asked for",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const dir = tempDir();
    const slowMs = join(dir.path, "slow_ms");
    const server = start(target, ["-w", "2", ...metrics, "-b", "127.0.0.1:0", SLOW_BOOT_APP], {
      env: { SLOW_BOOT_FILE: slowMs },
    });
    await server.allAnswering(2);
    const old = childPids(server.pid);
    // The new workers load for 1.5 s: one is still loading when it is held back below (a fast
    // one could have booted before it was found, and the wait for it to be booting never end).
    writeFileSync(slowMs, "1500");
    server.signal("SIGHUP");
    let fresh: number[] = [];
    await eventually(
      () => (fresh = childPids(server.pid).filter((pid) => !old.includes(pid))).length === 2,
      "the new generation",
    );
    // One new worker held back: the other boots, and the old generation serves on meanwhile.
    const [late, early] = fresh;
    const body = await whileStopped([late], async () => {
      let answer = "";
      await eventually(async () => {
        answer = (await get(`${base}/readyz`)).body;
        return answer.includes(`worker ${late}: booting`) &&
          !answer.includes(`worker ${early}: booting`);
      }, "one new worker booted");
      return answer;
    });
    assert.equal(
      body.split("\n")[0],
      "ready: 3 workers serve, 2 asked for (those being replaced serve until their replacements do)",
    );
    await probeUntil(base, "/readyz", /^200 ready: 2 of 2 workers serve\n$/);
    assert.equal((await server.stop()).code, 0);
    dir.remove();
  },
);

// A HUP keeps the metrics server where it started (a probe's address is the orchestrator's, not the
// configuration's): a changed metrics_bind is said, as a changed bind is.
e2e("HUP with a changed metrics_bind says it keeps serving at the old address", async (target) => {
  const dir = tempDir();
  try {
    const [first, second] = [await metricsAddress(), await metricsAddress()];
    const conf = join(dir.path, "appserve.toml");
    const toml = (bind: string) => `metrics_bind = "${bind}"\nbind = ["127.0.0.1:0"]\n`;
    writeFileSync(conf, toml(first.flag[1]));
    const server = start(target, ["-c", conf, "-w", "1", PID_APP]);
    try {
      await server.allAnswering(1);
      writeFileSync(conf, toml(second.flag[1]));
      server.signal("SIGHUP");
      const [old, next] = [first.flag[1], second.flag[1]].map((a) => a.replaceAll(".", "\\."));
      await server.waitFor(
        new RegExp(
          `\\[WARNING\\] metrics_bind changed to ${next}: a reload keeps serving metrics at ` +
            `${old}; restart appserve to apply it`,
        ),
      );
      await probeUntil(first.base, "/readyz", /^200 ready: 1 of 1 worker serves\n$/);
      await assert.rejects(get(`${second.base}/readyz`));
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  } finally {
    dir.remove();
  }
});

e2e(
  "requests a killed worker never answered count as their access lines say: 504, 502",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, ["-w", "1", "-t", "3", ...metrics, "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.allAnswering(1);
    const failed = async () =>
      sampleValue(await scrape(base), "appserve_requests_total", {
        method: "GET",
        status: "5xx",
      }) ?? 0;
    assert.equal(await failed(), 0);
    // Stuck past --timeout: killed by the master, the request logged 504.
    get(`${url}/spin?ms=600000`).catch(() => {});
    await server.waitFor(/WORKER TIMEOUT/);
    await eventually(async () => await failed() === 1, "the 504 counted", 20_000);
    // Killed by someone else under a request: logged 502.
    await server.allAnswering(1);
    const pid = await server.onlyWorker();
    get(`${url}/slow?ms=60000`).catch(() => {});
    await eventually(
      async () => await metric(base, "appserve_requests_in_flight") === 1,
      "1 in flight",
    );
    process.kill(pid, "SIGKILL");
    await eventually(async () => await failed() === 2, "the 502 counted", 20_000);
    assert.equal((await server.stop()).code, 0);
  },
);

for (const kind of ["tcp", "unix"] as const) {
  e2e(
    `USR2 hands the metrics listener (${kind}) over: the new master serves it, never refused`,
    async (target) => {
      const dir = tempDir();
      const path = join(dir.path, "metrics.sock");
      const tcp = kind === "tcp" ? await metricsAddress() : undefined;
      const metrics = tcp?.flag ?? ["--metrics-bind", `unix:${path}`];
      const base = tcp?.base ?? "http://x";
      const scrapeAt = (at: string) => get(`${base}${at}`, tcp ? {} : { socketPath: path });
      let next = 0;
      let first = 0;
      try {
        const old = startWithPidfile(target, metrics, dir.path);
        first = old.pid;
        await old.allAnswering(1);
        old.signal("SIGUSR2");
        next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
        await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Serving metrics at: `));
        // Scraped all along, through the overlap and the old master's exit: either master answers.
        const scraper = keepAsking(async () => {
          const { status } = await scrapeAt("/metrics");
          return status === 200 ? undefined : `status ${status}`;
        }, 20);
        await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
        old.signal("SIGTERM");
        await promoted(old, next);
        const scrapes = await scraper.stop();
        assert.deepEqual(scrapes.wrong, [], old.stderr);
        assert.ok(scrapes.answered > 0);
        assert.doesNotMatch(old.stderr, /trying again every second/);
        // Ready once its worker has booted (seen only as a child process above: on a loaded box it
        // may still be loading the app).
        await eventually(async () => (await scrapeAt("/healthz")).status === 200, "/healthz 200");
        process.kill(next, "SIGTERM");
        await eventually(() => !alive(next), "the new master stops");
        // The socket file, kept by the old master for the new one, is the promoted master's.
        assert.ok(!existsSync(path), "the metrics socket file after the promoted master stopped");
      } finally {
        [first, next].filter((pid) => pid > 0).forEach(killTree);
        dir.remove();
      }
    },
  );
}

e2e(
  "/readyz through a USR2 hand-over answers no false 503: the new master's boot, the old one's stop",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const dir = tempDir();
    let next = 0;
    let first = 0;
    try {
      const old = startWithPidfile(target, metrics, dir.path);
      first = old.pid;
      await old.allAnswering(1);
      // Either master may take a probe on the shared listener: each must answer for the pair.
      const prober = keepAsking(async () => {
        const response = await get(`${base}/readyz`);
        return response.status === 200 ? undefined : response.body.split("\n")[0];
      }, 10);
      // A request the old master's worker finishes while it stops: its stop lasts that long.
      const slow = get(`${await old.url()}/slow?ms=3000&tell`);
      await old.waitFor(/slow began/);
      old.signal("SIGUSR2");
      next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
      await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Serving metrics at`));
      old.signal("SIGTERM");
      assert.equal((await slow).status, 200);
      await promoted(old, next);
      const probes = await prober.stop();
      assert.deepEqual(probes.wrong, [], old.stderr);
      assert.ok(probes.answered > 0);
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master stops");
    } finally {
      [first, next].filter((pid) => pid > 0).forEach(killTree);
      dir.remove();
    }
  },
);

/** Pids a USR2 test starts, each kept as soon as it is known, for its clean-up. */
interface Usr2Pids {
  first: number;
  next: number;
  newWorker: number;
}

/**
 * A master of one worker on SLOW_BOOT_APP, then USR2 to a new master whose worker loads for
 * `childMs`: each master's worker taken by its boot line (not a short-lived helper process).
 */
async function usr2ToSlowChild(
  target: Target,
  args: string[],
  slowMs: string,
  childMs: number,
  pids: Usr2Pids,
): Promise<{ old: Server; oldWorker: number }> {
  const old = start(target, ["-w", "1", ...args, "-b", "127.0.0.1:0", SLOW_BOOT_APP], {
    env: { SLOW_BOOT_FILE: slowMs },
  });
  pids.first = old.pid;
  await old.allAnswering(1);
  const booted = (pid: number) => old.stderr.includes(`Booting worker with pid: ${pid}`);
  await eventually(() => childPids(pids.first).some(booted), "the old master's worker");
  const oldWorker = childPids(pids.first).find(booted)!;
  writeFileSync(slowMs, String(childMs));
  old.signal("SIGUSR2");
  pids.next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
  await eventually(() => childPids(pids.next).some(booted), "the new master's worker");
  pids.newWorker = childPids(pids.next).find(booted)!;
  return { old, oldWorker };
}

e2e(
  "a TERM to the old master before the USR2 child's workers serve: the old one answers probes on",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const dir = tempDir();
    const slowMs = join(dir.path, "slow_ms");
    const pids: Usr2Pids = { first: 0, next: 0, newWorker: 0 };
    try {
      // The new master's worker loads slowly, and is held stopped while it does: it serves not.
      const { old, oldWorker } = await usr2ToSlowChild(
        target,
        ["--graceful-timeout", "30", ...metrics],
        slowMs,
        3000,
        pids,
      );
      const { first, next } = pids;
      // The old master's worker is held too: its stop (and so the old master) lasts until after.
      const answer = await whileStopped([oldWorker, pids.newWorker], async () => {
        old.signal("SIGTERM");
        await old.waitFor(new RegExp(`\\[${first}\\] \\[INFO\\] Handling signal: term`));
        const answer = await get(`${base}/readyz`);
        return { ...answer, oldAlive: alive(first) };
      });
      // Before, nobody accepted until the old master had exited and the new one was promoted.
      assert.ok(answer.oldAlive, `answered only once the old master was gone:\n${old.stderr}`);
      assert.equal(answer.status, 503);
      // The new master holds the listeners: nothing is refused, it has not served yet.
      assert.equal(
        answer.body,
        `not ready: stopping, the new master (pid ${next}) has not served yet\n`,
      );
      await promoted(old, next);
      await eventually(async () => (await get(`${base}/readyz`)).status === 200, "/readyz 200");
      process.kill(next, "SIGTERM");
      await eventually(() => !alive(next), "the new master stops");
    } finally {
      [pids.first, pids.next].filter((pid) => pid > 0).forEach(killTree);
      dir.remove();
    }
  },
);

// A rollback: the USR2 child stopping kept answering the probes on the listener it shares with
// its parent, which serves on, so /readyz flapped between 200 and 503 "stopping".
e2e(
  "a rollback (TERM to the USR2 child while its parent serves): /readyz stays the parent's 200",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const dir = tempDir();
    const slowMs = join(dir.path, "slow_ms");
    const pids: Usr2Pids = { first: 0, next: 0, newWorker: 0 };
    try {
      const { old } = await usr2ToSlowChild(
        target,
        ["--graceful-timeout", "30", ...metrics],
        slowMs,
        0,
        pids,
      );
      const { first, next } = pids;
      await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Serving metrics at: `));
      // The child's worker is held: its stop (and so the child) lasts until after the probes.
      const statuses = await whileStopped([pids.newWorker], async () => {
        process.kill(next, "SIGTERM");
        await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Handling signal: term`));
        const seen: string[] = [];
        for (let i = 0; i < 30; i++) {
          const answer = await get(`${base}/readyz`);
          seen.push(`${answer.status} ${answer.body.split("\n")[0]}`);
        }
        return seen;
      });
      assert.ok(alive(first), old.stderr);
      assert.deepEqual(statuses.filter((s) => !s.startsWith("200 ")), [], old.stderr);
      await eventually(() => !alive(next), "the new master stops");
      assert.equal((await old.stop()).code, 0);
    } finally {
      [pids.first, pids.next, pids.newWorker].filter((pid) => pid > 0).forEach(killTree);
      dir.remove();
    }
  },
);

e2e(
  "a USR2 child killed before it serves, its parent stopping: the parent answers on, then removes " +
    "the unix metrics file",
  async (target) => {
    const dir = tempDir();
    const path = join(dir.path, "metrics.sock");
    const slowMs = join(dir.path, "slow_ms");
    const at = (route: string) => get(`http://x${route}`, { socketPath: path });
    const pids: Usr2Pids = { first: 0, next: 0, newWorker: 0 };
    try {
      // The new master's worker loads for longer than the test: it never serves.
      const { old, oldWorker } = await usr2ToSlowChild(
        target,
        ["--metrics-bind", `unix:${path}`],
        slowMs,
        60000,
        pids,
      );
      const { next } = pids;
      // The old master's worker is held: its stop (and so the old master) lasts until after.
      const metrics = await whileStopped([oldWorker], async () => {
        old.signal("SIGTERM");
        // Only the old master accepts yet: "stopping" is its stop begun, the listener handed over.
        await eventually(
          async () => (await at("/readyz")).body.startsWith("not ready: stopping"),
          "the old master stopping",
        );
        process.kill(next, "SIGKILL");
        await eventually(() => !alive(next), "the new master gone");
        return await at("/metrics");
      });
      assert.equal(metrics.status, 200, old.stderr);
      assert.equal((await old.exited).code, 0, old.stderr);
      assert.ok(!existsSync(path), `the socket file after both masters ended:\n${old.stderr}`);
    } finally {
      [pids.first, pids.next, pids.newWorker].filter((pid) => pid > 0).forEach(killTree);
      dir.remove();
    }
  },
);

e2e(
  "a USR2 child killed once it serves, its parent stopping: the parent removes the unix metrics file",
  async (target) => {
    const dir = tempDir();
    const path = join(dir.path, "metrics.sock");
    let next = 0;
    let first = 0;
    try {
      const old = start(target, [
        ...["-w", "1", "--metrics-bind", `unix:${path}`, "-b", "127.0.0.1:0", PID_APP],
      ]);
      first = old.pid;
      await old.allAnswering(1);
      // A request in the old master's worker keeps its stop going (the new master's start may
      // take seconds) until the quick stop below.
      const slow = get(`${await old.url()}/slow?ms=60000&tell`).catch(() => undefined);
      await old.waitFor(/slow began/);
      old.signal("SIGUSR2");
      next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
      await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Serving metrics at: `));
      old.signal("SIGTERM");
      // Said once the stop has handed the metrics listener over: the new master dies after that.
      await old.waitFor(new RegExp(`\\[${first}\\] \\[INFO\\] Waiting up to `));
      process.kill(next, "SIGKILL");
      await eventually(() => !alive(next), "the new master gone");
      old.signal("SIGQUIT");
      await slow;
      assert.equal((await old.exited).code, 0, old.stderr);
      assert.ok(!existsSync(path), `the socket file after both masters ended:\n${old.stderr}`);
    } finally {
      [first, next].filter((pid) => pid > 0).forEach(killTree);
      dir.remove();
    }
  },
);

/** The connections waiting to be accepted on `port`: what `ss -tln` shows as its Recv-Q. */
function acceptQueue(port: number): number {
  const out = execFileSync("ss", ["-Htln", `sport = :${port}`], { encoding: "utf8" }).trim();
  return Number(out.split(/\s+/)[1]);
}

e2e(
  "USR2: the old master answers a scrape it accepted before it exits, the new one serving on",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const port = Number(new URL(base).port);
    let next = 0;
    let first = 0;
    try {
      const old = start(target, ["-w", "1", ...metrics, "-b", "127.0.0.1:0", PID_APP]);
      first = old.pid;
      await old.allAnswering(1);
      // Accepted by the old master, the only one listening yet; its request ends at the old
      // master's exit, as a scrape that came in its last moments.
      const socket = await rawConnect(port);
      const answer = readAll(socket);
      socket.write("GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
      await eventually(() => acceptQueue(port) === 0, "the old master accepted the scrape");
      old.signal("SIGUSR2");
      next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
      await old.waitFor(new RegExp(`\\[${next}\\] \\[INFO\\] Serving metrics at: ${base}/metrics`));
      await eventually(() => old.bootedWorkers(next).length === 1, "the new master's worker");
      old.signal("SIGTERM");
      // The old master drains its open scrapes for 2 s from the stop's start (DRAIN_MS), not from
      // its last moments, which may come later on a loaded box (its worker's stop): the scrape
      // ends once the stop has begun.
      await old.waitFor(new RegExp(`\\[${first}\\] \\[INFO\\] Handling signal: term`));
      await sleep(200);
      socket.write("\r\n");
      const { status, text } = await answer;
      assert.equal(status, 200, `${text}\n${old.stderr}`);
    } finally {
      [first, next].filter((pid) => pid > 0).forEach(killTree);
    }
  },
);

e2e(
  "a stop closes at once a metrics connection that sent nothing, and answers a scrape it began",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const port = Number(new URL(base).port);
    const server = start(target, ["-w", "1", ...metrics, "-b", "127.0.0.1:0", PID_APP]);
    try {
      await server.allAnswering(1);
      const silent = readAll(await rawConnect(port));
      const socket = await rawConnect(port);
      const answer = readAll(socket);
      socket.write("GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
      await eventually(() => acceptQueue(port) === 0, "the master accepted both");
      server.signal("SIGTERM");
      // Closed by the stop while the begun scrape is still waited for (up to DRAIN_MS): that one
      // ends only now, and is answered.
      assert.equal((await silent).text, "");
      socket.write("\r\n");
      const { status, text } = await answer;
      assert.equal(status, 200, `${text}\n${server.stderr}`);
      assert.equal((await server.exited).code, 0, server.stderr);
    } finally {
      await server.stop();
    }
  },
);

e2e(
  "a stop cuts a metrics scrape still unanswered after 2 s, and says how many in one WARNING",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const port = Number(new URL(base).port);
    const server = start(target, ["-w", "1", ...metrics, "-b", "127.0.0.1:0", PID_APP]);
    try {
      await server.allAnswering(1);
      // Two scrapers stalled mid-request: the master waits for them (DRAIN_MS), then cuts them.
      const stalled = await Promise.all([rawConnect(port), rawConnect(port)]);
      const answers = stalled.map((socket) => readAll(socket));
      for (const socket of stalled) socket.write("GET /metrics HTTP/1.1\r\nhost: x\r\n");
      await eventually(() => acceptQueue(port) === 0, "the master accepted both");
      server.signal("SIGTERM");
      for (const answer of answers) assert.equal((await answer).text, "");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      const cut = result.stderr.split("\n").filter((line) => /metrics scrape/.test(line));
      assert.equal(cut.length, 1, result.stderr);
      assert.match(
        cut[0],
        /^\[.+\] \[\d+\] \[WARNING\] Cut off at the stop: 2 metrics scrapes were not answered within 2 s \(the metrics server's connections are closed\)$/,
      );
    } finally {
      await server.stop();
    }
  },
);

e2e("a --metrics-bind address that is taken or invalid is one line and exit 1", async (target) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  try {
    const port = (taken.address() as { port: number }).port;
    const result = await run(target, [
      "--metrics-bind",
      `127.0.0.1:${port}`,
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `--metrics-bind: Cannot listen on "127\\.0\\.0\\.1:${port}": address already in use`,
      ),
    );
    assert.doesNotMatch(result.stderr, /Listening at/);
    assert.ok(!hasStackTrace(result.stderr), result.stderr);
    const invalid = await run(target, ["--metrics-bind", "fd://3", PID_APP]);
    assert.equal(invalid.code, 1, invalid.stderr);
    assert.match(
      invalid.stderr,
      /metrics.bind.*Invalid metrics bind "fd:\/\/3": use HOST:PORT or unix:PATH/,
    );
    assert.equal(invalid.stderr.trim().split("\n").length, 1, invalid.stderr);
  } finally {
    taken.close();
  }
});

e2e("a unix --metrics-bind that cannot be bound is one line and exit 1", async (target) => {
  const dir = tempDir();
  try {
    // A file in the way (a socket or not: nothing is removed), a path too long, a folder missing.
    const inTheWay = join(dir.path, "in_the_way");
    writeFileSync(inTheWay, "");
    const cases: [string, RegExp][] = [
      [inTheWay, /: address already in use$/],
      [join(dir.path, "x".repeat(120)), /: path longer than 107 bytes$/],
      [join(dir.path, "missing", "m.sock"), /: No such file or directory$/],
    ];
    for (const [path, why] of cases) {
      const result = await run(target, [
        "--metrics-bind",
        `unix:${path}`,
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ]);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], /--metrics-bind: Cannot listen on "unix:/);
      assert.match(lines[0], why);
      assert.ok(!hasStackTrace(result.stderr), result.stderr);
    }
    assert.ok(existsSync(inTheWay), "the file in the way is left alone");
  } finally {
    dir.remove();
  }
});

e2e(
  "--metrics-bind counts gthread threads' requests (summed by the worker on its heartbeat)",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "2", ...metrics],
      ...["-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.ready(1);
    const gets = async () =>
      sampleValue(await scrape(base), "appserve_requests_total", {
        method: "GET",
        status: "2xx",
      }) ?? 0;
    await eventually(async () => (await gets()) > 0, "the readiness probe counted");
    const before = await gets();
    for (let i = 0; i < 4; i++) assert.equal((await get(`${url}/t${i}`)).status, 200);
    await eventually(async () => (await gets()) === before + 4, "4 more GETs counted");
    assert.equal((await server.stop()).code, 0);
  },
);

/** Opens `n` connections to `port` and waits for each to be established. */
/** `n` connections to a TCP port on 127.0.0.1 or to a unix socket path. */
async function connectMany(where: number | string, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const socket = await rawConnect(where);
    socket.on("error", () => {});
    sockets.push(socket);
  }
  return sockets;
}

/** Sends one keep-alive request on `socket` and waits for the start of its answer. */
function askKeepingAlive(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once("data", () => resolve());
    socket.write("GET /k HTTP/1.1\r\nhost: x\r\n\r\n");
  });
}

e2e(
  "--metrics-bind shows each worker's open connections and their total",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, [
      ...["-w", "2", ...metrics, "-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.allAnswering(2);
    const sockets = await connectMany(Number(new URL(url).port), 6);
    // A worker over its share closes some after their responses (src/worker/balance.ts).
    let open = sockets.length;
    sockets.forEach((s) => s.on("close", () => open--));
    try {
      await Promise.all(sockets.map(askKeepingAlive));
      let samples: Sample[] = [];
      await eventually(async () => {
        samples = await scrape(base);
        return open > 0 && sampleValue(samples, "appserve_connections") === open;
      }, "the connections still open counted");
      const perWorker = samples.filter((s) => s.name === "appserve_worker_connections");
      assert.deepEqual(
        perWorker.map((s) => Number(s.labels.pid)).sort(),
        server.bootedWorkers().sort(),
      );
      assert.equal(perWorker.reduce((n, s) => n + s.value, 0), open);
    } finally {
      sockets.forEach((s) => s.destroy());
    }
    await eventually(
      async () => sampleValue(await scrape(base), "appserve_connections") === 0,
      "the connections closed",
    );
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "the listen backlog counts connections no worker accepts (a stopped worker), per listener",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, [
      ...["-w", "1", ...metrics, "-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.ready(1);
    const listener = { listener: url };
    assert.equal(sampleValue(await scrape(base), "appserve_listen_backlog", listener), 0);
    const worker = await server.onlyWorker();
    let sockets: Socket[] = [];
    await whileStopped([worker], async () => {
      sockets = await connectMany(Number(new URL(url).port), 5);
      assert.equal(sampleValue(await scrape(base), "appserve_listen_backlog", listener), 5);
    });
    await eventually(
      async () => sampleValue(await scrape(base), "appserve_listen_backlog", listener) === 0,
      "the worker accepted them",
    );
    sockets.forEach((s) => s.destroy());
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "a unix listener's backlog (sock_diag) counts connections no worker accepts, apart from TCP's",
  async (target) => {
    const dir = tempDir();
    const { flag: metrics, base } = await metricsAddress();
    const path = join(dir.path, "app.sock");
    const server = start(target, [
      ...["-w", "1", ...metrics, "-b", "127.0.0.1:0", "-b", `unix:${path}`, PID_APP],
    ]);
    let sockets: Socket[] = [];
    try {
      const url = await server.ready(1);
      const unix = { listener: `unix:${path}` };
      const tcp = { listener: url };
      const idle = await scrape(base);
      assert.equal(sampleValue(idle, "appserve_listen_backlog", unix), 0);
      assert.equal(sampleValue(idle, "appserve_listen_backlog", tcp), 0);
      const worker = await server.onlyWorker();
      await whileStopped([worker], async () => {
        // A unix connect completes once the kernel queues it: no worker needs to run.
        sockets = await connectMany(path, 7);
        const stuck = await scrape(base);
        assert.equal(sampleValue(stuck, "appserve_listen_backlog", unix), 7);
        assert.equal(sampleValue(stuck, "appserve_listen_backlog", tcp), 0);
      });
      await eventually(
        async () => sampleValue(await scrape(base), "appserve_listen_backlog", unix) === 0,
        "the worker accepted them",
      );
      const answer = await rawExchange(
        path,
        "GET /u HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
      );
      assert.equal(answer.status, 200);
    } finally {
      sockets.forEach((s) => s.destroy());
      assert.equal((await server.stop()).code, 0);
      dir.remove();
    }
  },
);

e2e(
  "--reuse-port: each worker's requests and its own socket's backlog are shown",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const appPort = await freePort();
    const server = start(target, [
      ...["-w", "2", "--reuse-port", ...metrics],
      ...["-b", `127.0.0.1:${appPort}`, PID_APP],
    ]);
    // Each worker's own socket exists once it has booted.
    const url = await server.allAnswering(2);
    const before = await scrape(base);
    const gets = (s: Sample[]) =>
      sampleValue(s, "appserve_requests_total", { method: "GET", status: "2xx" }) ?? 0;
    for (let i = 0; i < 20; i++) assert.equal((await get(`${url}/r${i}`)).status, 200);
    await eventually(async () => gets(await scrape(base)) - gets(before) === 20, "20 GETs");
    const after = await scrape(base);
    const perWorker = after.filter((s) => s.name === "appserve_worker_requests_total");
    const pids = server.bootedWorkers().sort();
    assert.deepEqual(perWorker.map((s) => Number(s.labels.pid)).sort(), pids);
    assert.equal(
      perWorker.reduce((n, s) => n + s.value, 0),
      sampleValue(after, "appserve_request_duration_seconds_count"),
    );
    const own = after.filter((s) => s.name === "appserve_worker_listen_backlog");
    assert.deepEqual(own.map((s) => Number(s.labels.pid)).sort(), pids);
    // Both workers stopped: whichever socket the kernel picks, nobody accepts.
    let sockets: Socket[] = [];
    await whileStopped(pids, async () => {
      sockets = await connectMany(appPort, 6);
      // Bun's server defers accepting a connection until its first bytes come (TCP_DEFER_ACCEPT).
      sockets.forEach((s) => s.write("GET /q HTTP/1.1\r\nhost: x\r\n\r\n"));
      let stuck: Sample[] = [];
      await eventually(async () => {
        stuck = await scrape(base);
        return sampleValue(stuck, "appserve_listen_backlog", { listener: url }) === 6;
      }, "6 connections queued");
      const queued = stuck.filter((s) => s.name === "appserve_worker_listen_backlog");
      assert.equal(queued.reduce((n, s) => n + s.value, 0), 6);
    });
    sockets.forEach((s) => s.destroy());
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "--reuse-port: a worker's socket counts under its own address only, two addresses on one port",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const port = await freePort();
    const [one, two] = [`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`];
    const server = start(target, [
      ...["-w", "1", "--reuse-port", ...metrics],
      ...["-b", `127.0.0.1:${port}`, "-b", `127.0.0.2:${port}`, PID_APP],
    ]);
    await server.ready(1);
    const own = (s: Sample[]) =>
      s.filter((x) => x.name === "appserve_worker_listen_backlog")
        .map((x) => `${x.labels.listener} ${x.value}`).sort();
    // The worker's two sockets exist once it answers on both addresses.
    for (const url of [one, two]) assert.equal((await get(`${url}/`)).status, 200);
    await eventually(async () => own(await scrape(base)).length === 2, "both sockets shown");
    const worker = await server.onlyWorker();
    let sockets: Socket[] = [];
    await whileStopped([worker], async () => {
      sockets = await connectMany(port, 3);
      sockets.forEach((s) => s.write("GET /q HTTP/1.1\r\nhost: x\r\n\r\n"));
      let stuck: Sample[] = [];
      await eventually(async () => {
        stuck = await scrape(base);
        return sampleValue(stuck, "appserve_listen_backlog", { listener: one }) === 3;
      }, "3 connections queued");
      assert.equal(sampleValue(stuck, "appserve_listen_backlog", { listener: two }), 0);
      assert.deepEqual(own(stuck), [`${one} 3`, `${two} 0`]);
    });
    sockets.forEach((s) => s.destroy());
    assert.equal((await server.stop()).code, 0);
  },
);

for (const workerClass of ["async", "gthread"]) {
  e2e(
    `${workerClass}: lines dropped by an unreachable syslog and OTLP collector are counted`,
    async (target) => {
      const { flag: metrics, base } = await metricsAddress();
      // The collector's port stays this test's: a port only found free could be taken by another
      // test's server meanwhile, which would answer the exports. This one resets every connection.
      const collector = createServer((socket) => socket.resetAndDestroy());
      await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
      const otlpPort = (collector.address() as { port: number }).port;
      const syslogPort = await freePort();
      const server = start(target, [
        ...["-w", "1", "-k", workerClass, ...metrics],
        ...["--log-syslog", "--log-syslog-to", `tcp://127.0.0.1:${syslogPort}`, "--log-otel"],
        ...["-b", "127.0.0.1:0", PID_APP],
      ], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}` } });
      const url = await server.ready(1);
      for (let i = 0; i < 10; i++) assert.equal((await get(`${url}/d${i}`)).status, 200);
      const dropped = async (sender: string) =>
        sampleValue(await scrape(base), "appserve_log_dropped_total", { sender }) ?? 0;
      // Each access line was dropped by both senders (the worker's own count, sent on beats).
      await eventually(async () => (await dropped("syslog")) >= 10, "10 syslog lines dropped");
      await eventually(async () => (await dropped("otel")) >= 10, "10 OTel records dropped");
      assert.equal((await server.stop()).code, 0);
      collector.close();
    },
  );
}

// A connected UDP socket hears of a refused datagram on the next send, which then is not sent:
// on loopback every other write. Both lines are lost and both are counted.
e2e(
  "every line sent to a UDP syslog port nobody listens on is counted as dropped",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const syslogPort = await freePort();
    const server = start(target, [
      ...[
        "-w",
        "1",
        ...metrics,
        "--log-syslog",
        "--log-syslog-to",
        `udp://127.0.0.1:${syslogPort}`,
      ],
      ...["-b", "127.0.0.1:0", PID_APP],
    ]);
    const url = await server.ready(1);
    for (let i = 0; i < 40; i++) assert.equal((await get(`${url}/d${i}`)).status, 200);
    const dropped = async () =>
      sampleValue(await scrape(base), "appserve_log_dropped_total", { sender: "syslog" }) ?? 0;
    // 40 access lines and the error log's lines of both processes; all but each one's last (its
    // refusal is reported by a send yet to come). Before: about half.
    let seen = 0;
    await eventually(async () => (seen = await dropped()) >= 40, "40 lines dropped")
      .catch((error) => {
        throw new Error(`${error.message}, got ${seen}`);
      });
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "--metrics-bind counts WebSocket upgrades and the sessions open, gthread threads' too",
  async (target) => {
    for (const classArgs of [[], ["-k", "gthread", "--threads", "2"]]) {
      const { flag: metrics, base } = await metricsAddress();
      const server = start(target, [
        ...["-w", "1", ...classArgs, ...metrics],
        ...["-b", "127.0.0.1:0", NEUTRAL_WS_APP],
      ]);
      const url = await server.ready(1);
      assert.equal(await metric(base, "appserve_websockets_open"), 0);
      const a = await connect("native", wsUrl(url, "/a"));
      const b = await connect("npm-ws", wsUrl(url, "/b"));
      const counted = async (open: number, opened: number) =>
        await metric(base, "appserve_websockets_open") === open &&
        await metric(base, "appserve_websocket_upgrades_total") === opened;
      await eventually(() => counted(2, 2), `two open, two upgrades [${classArgs.join(" ")}]`);
      a.close(1000);
      await a.closed;
      await eventually(() => counted(1, 2), `one open, two upgrades [${classArgs.join(" ")}]`);
      b.close(1000);
      await b.closed;
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2e(
  "--reuse-port without an access log: WebSocket sessions are counted, none stays in flight, " +
    "no error is logged",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const server = start(target, [
      ...["-w", "1", "--reuse-port", ...metrics],
      ...["-b", `127.0.0.1:${await freePort()}`, NEUTRAL_WS_APP],
    ]);
    const url = await server.ready(1);
    const client = await connect("native", wsUrl(url));
    client.send("over the native server");
    assert.equal(await client.next(), "over the native server");
    await eventually(
      async () => await metric(base, "appserve_websockets_open") === 1,
      "one session open",
    );
    assert.equal(await metric(base, "appserve_requests_in_flight"), 0);
    client.close(1000);
    await client.closed;
    await eventually(
      async () => await metric(base, "appserve_websockets_open") === 0,
      "no session open",
    );
    assert.equal(await metric(base, "appserve_websocket_upgrades_total"), 1);
    const stopped = await server.stop();
    assert.equal(stopped.code, 0);
    assert.doesNotMatch(stopped.stderr, /\[ERROR\]|TypeError/);
  },
);

// A response under way when a graceful stop's --graceful-timeout runs out is cut mid-body: it
// counts as the 200 its client got (as its access line says), not as a 504 it never saw.
for (
  const [variant, args] of [
    ["async", []],
    ["gthread", ["-k", "gthread", "--threads", "2"]],
  ] as const
) {
  e2e(
    `a response under way cut off at the graceful timeout counts as its status (${variant})`,
    async (target) => {
      const { flag: metrics, base } = await metricsAddress();
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--graceful-timeout", "1", ...args, ...metrics],
        ...["-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      try {
        await server.allAnswering(1);
        const old = await server.onlyWorker();
        // A POST: no request of the start's checks counts with it.
        const count = async (status: string) =>
          sampleValue(await scrape(base), "appserve_requests_total", { method: "POST", status }) ??
            0;
        const streaming = await rawConnect(port);
        streaming.on("error", () => {});
        let read = "";
        streaming.on("data", (d) => (read += d));
        streaming.write("POST /drip?ms=60000 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        await eventually(() => read.includes("first line\n"), "the stream's first line");
        server.signal("SIGHUP");
        await eventually(() => !childPids(server.pid).includes(old), "the old worker gone");
        streaming.destroy();
        await eventually(async () => await count("2xx") === 1, "the 200 counted", 20_000);
        assert.equal(await count("5xx"), 0);
      } finally {
        const result = await server.stop();
        assert.equal(result.code, 0, result.stderr);
      }
    },
  );
}

// A request still in flight when a graceful stop's --graceful-timeout runs out gets a 504 and an
// access line saying so, from whoever cuts it off (the worker, a gthread thread, or the worker
// process for a thread stuck in app code); it counts as that 504, once.
for (
  const [variant, args, path] of [
    ["async", [], "/slow?ms=60000&tell"],
    ["sync", ["-k", "sync"], "/slow?ms=60000&tell"],
    ["gthread", ["-k", "gthread", "--threads", "2"], "/slow?ms=60000&tell"],
    ["gthread, thread stuck", ["-k", "gthread", "--threads", "1", "-t", "0"], "/spin?tell"],
    ["--reuse-port", ["--reuse-port"], "/slow?ms=60000&tell"],
  ] as const
) {
  e2e(
    `a request cut off at the graceful timeout counts as its 504 (${variant})`,
    async (target) => {
      const { flag: metrics, base } = await metricsAddress();
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--graceful-timeout", "1", ...args, ...metrics],
        ...["-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      try {
        const url = await server.allAnswering(1);
        const old = await server.onlyWorker();
        const failed = async () => {
          const samples = await scrape(base);
          return sampleValue(samples, "appserve_requests_total", {
            method: "GET",
            status: "5xx",
          }) ?? 0;
        };
        assert.equal(await failed(), 0);
        const cut = get(`${url}${path}`);
        await server.waitFor(/(slow began|spinning): /);
        // A new worker is started and the old one stopped gracefully: its request is cut off.
        server.signal("SIGHUP");
        assert.equal((await cut).status, 504);
        await eventually(() => !childPids(server.pid).includes(old), "the old worker gone");
        await eventually(async () => await failed() === 1, "the 504 counted", 20_000);
        // In the latency histogram too, as many requests as by method and status.
        const samples = await scrape(base);
        const counted = samples.filter((s) => s.name === "appserve_requests_total")
          .reduce((sum, s) => sum + s.value, 0);
        assert.equal(sampleValue(samples, "appserve_request_duration_seconds_count"), counted);
      } finally {
        const result = await server.stop();
        assert.equal(result.code, 0, result.stderr);
      }
    },
  );
}

e2e(
  "with TLS the listen backlog's listener label is the https:// address Listening at names",
  async (target) => {
    const { flag: metrics, base } = await metricsAddress();
    const dir = tempDir();
    const pki = newPki(join(dir.path, "pki"));
    const server = start(target, [
      ...["-w", "1", "-b", "127.0.0.1:0", ...metrics],
      ...["--certfile", pki.cert, "--keyfile", pki.key, PID_APP],
    ]);
    try {
      const url = (await server.waitFor(/Listening at: (https:\/\/[^ ,]+)/))[1];
      let samples: Sample[] = [];
      await eventually(async () => {
        samples = await scrape(base).catch(() => []);
        return samples.some((s) => s.name === "appserve_listen_backlog");
      }, "the backlog metric");
      const listeners = samples.filter((s) => s.name === "appserve_listen_backlog");
      assert.deepEqual(listeners.map((s) => s.labels.listener), [url]);
    } finally {
      assert.equal((await server.stop()).code, 0);
      dir.remove();
    }
  },
);
