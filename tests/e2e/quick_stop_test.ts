// What a quick stop (QUIT or INT to the master) says of the requests it kills: gunicorn's quick
// shutdown ends them, and appserve names each (a WARNING) and writes its access line (504, as for
// any request appserve gave up on), in every worker class, as it does for a --timeout kill. One
// whose response was under way is logged as its client got it: the status and the bytes sent.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import {
  childPids,
  countConnections,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  holdConnections,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { chunkedBytesSoFar, rawGetUntil } from "../_raw.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

const VARIANTS: { signal: "SIGQUIT" | "SIGINT"; args: string[]; drip: boolean }[] = [
  { signal: "SIGQUIT", args: ["-k", "sync"], drip: false },
  { signal: "SIGINT", args: ["-k", "sync"], drip: false },
  // A sync worker serves one at a time: the response under way is the other worker's.
  { signal: "SIGINT", args: ["-k", "sync", "-w", "2"], drip: true },
  // The native server: a response under way keeps its entry until its stream ends (StreamEnds).
  { signal: "SIGQUIT", args: ["-k", "async", "--reuse-port"], drip: true },
  { signal: "SIGINT", args: ["-k", "async"], drip: true },
  { signal: "SIGQUIT", args: ["-k", "gthread", "--threads", "2"], drip: true },
];

async function loggedServer(target: Target, args: string[], workers = 1) {
  const dir = tempDir();
  const log = join(dir.path, "access.log");
  const server = start(target, ["--access-logfile", log, ...args, PID_APP]);
  const url = await server.ready(workers);
  const lines = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
  await eventually(() => lines().length > 0, "the probe's access line");
  const before = lines().length;
  return { server, url, ours: () => lines().slice(before), remove: () => dir.remove() };
}

for (const { signal, args, drip } of VARIANTS) {
  e2e(
    `a ${signal} stop names each request it kills and writes its access line ` +
      `(${args.join(" ")}${drip ? ", one response under way, logged as sent" : ""})`,
    async (target) => {
      const workers = args.includes("-w") ? 2 : 1;
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "-b", `127.0.0.1:${args.includes("--reuse-port") ? await freePort() : 0}`],
        ...args,
      ], workers);
      try {
        // A response whose head and first line went out: killed mid-body. First, so that a sync
        // worker that has it takes no more (the other one gets /slow).
        const dripping = drip ? await underWay(Number(new URL(url).port), "/drip?ms=60000") : null;
        const slow = get(`${url}/slow?ms=60000&tell=1`, { localAddress: "127.0.0.5" })
          .catch(() => null);
        await server.waitFor(/slow began/);
        const pids = childPids(server.pid);
        server.signal(signal);
        assert.equal((await server.exited).code, 0, server.stderr);
        await Promise.all([slow, dripping?.ended]);
        const where = `(?:worker|thread \\d+) \\(pid:(?:${pids.join("|")})\\)`;
        assert.match(
          server.stderr,
          new RegExp(
            `\\[WARNING\\] Killed by the quick stop on ${where}: ` +
              `GET /slow\\?ms=60000&tell=1 from 127\\.0\\.0\\.5:\\d+ for \\d+\\.\\d s$`,
            "m",
          ),
        );
        const expected = [/"GET \/slow\?ms=60000&tell=1 HTTP\/1\.1" 504 - /];
        if (drip) {
          assert.match(
            server.stderr,
            new RegExp(`\\[WARNING\\] Killed by the quick stop on ${where}: GET /drip\\?ms=60000 `),
          );
          // What its client got, as for a client gone mid-body: not the 504 of one unanswered.
          const got = dripping!.got();
          assert.match(got, /^HTTP\/1\.1 200 OK\r\n/i);
          const bytes = chunkedBytesSoFar(got);
          assert.equal(bytes, "first line\n".length, got);
          expected.push(new RegExp(`"GET /drip\\?ms=60000 HTTP/1\\.1" 200 ${bytes} `));
        }
        // One line each, and no other.
        assert.equal(ours().length, expected.length, ours().join("\n"));
        for (const line of expected) {
          assert.equal(ours().filter((l) => line.test(l)).length, 1, ours().join("\n"));
        }
        // Named once: the worker exited by itself, the master had no one to kill.
        assert.doesNotMatch(server.stderr, /did not exit within|In flight on/);
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

e2e(
  "a quick stop whose worker exits too late after naming what it kills: each named once",
  async (target) => {
    // The worker names the request, then its log's close outlasts the master's 2 s: the SIGKILL
    // that follows must not name it (and count its 504) a second time.
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-b", "127.0.0.1:0"],
      ...["--logger-class", join(FIXTURES, "loggers", "slow_close_logger.ts")],
    ]);
    try {
      const slow = get(`${url}/slow?ms=60000&tell=1`).catch(() => null);
      await server.waitFor(/slow began/);
      server.signal("SIGQUIT");
      await server.exited;
      await slow;
      const named = server.stderr.split("\n").filter((l) =>
        /\[WARNING\].* GET \/slow\?ms=60000&tell=1 /.test(l)
      );
      assert.equal(named.length, 1, server.stderr);
      const logged = ours().filter((l) =>
        /"GET \/slow\?ms=60000&tell=1 HTTP\/1\.1" 504 - /.test(l)
      );
      assert.equal(logged.length, 1, ours().join("\n"));
    } finally {
      await server.stop();
      remove();
    }
  },
);

e2e(
  "a quick stop whose worker is killed after ending a response under way: its line once, as sent",
  async (target) => {
    // The worker ends the response and writes its line, then its worker_exit hook never returns:
    // the master kills it and writes the 504s of its table, but not a second line for that one.
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-b", "127.0.0.1:0"],
      ...["--hooks", join(FIXTURES, "hooks", "stuck_exit_hooks.ts")],
    ]);
    try {
      const dripping = await underWay(Number(new URL(url).port), "/drip?ms=60000");
      const slow = get(`${url}/slow?ms=60000&tell=1`).catch(() => null);
      await server.waitFor(/slow began/);
      server.signal("SIGQUIT");
      await server.exited;
      await Promise.all([slow, dripping.ended]);
      assert.match(server.stderr, /did not exit within 2 s of the quick stop: killed/);
      const bytes = chunkedBytesSoFar(dripping.got());
      assert.equal(bytes, "first line\n".length, dripping.got());
      const lines = ours();
      assert.equal(lines.length, 2, lines.join("\n"));
      assert.ok(
        lines.some((l) => new RegExp(`"GET /drip\\?ms=60000 HTTP/1\\.1" 200 ${bytes} `).test(l)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((l) => /"GET \/slow\?ms=60000&tell=1 HTTP\/1\.1" 504 - /.test(l)),
        lines.join("\n"),
      );
    } finally {
      await server.stop();
      remove();
    }
  },
);

// --reuse-port: the native server is not stopped by a quick stop (Deno.serve cannot be), nor by a
// cut at the graceful timeout under Deno workers; the stream under way is cut off where its line
// was written, as the shared socket destroys its connection. A worker_exit hook that never returns
// keeps the worker alive until the master kills it: the stream went on for that long before.
for (const signal of ["SIGQUIT", "SIGTERM"] as const) {
  e2e(
    `--reuse-port: a stream under way at a ${
      signal === "SIGQUIT" ? "quick stop" : "cut at the graceful timeout"
    } sends no byte past its access line`,
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "-b", `127.0.0.1:${await freePort()}`, "--reuse-port"],
        ...["--graceful-timeout", "1", "--hooks", join(FIXTURES, "hooks", "stuck_exit_hooks.ts")],
      ]);
      try {
        const ticks = await rawGetUntil(
          Number(new URL(url).port),
          "/ticks?ms=10",
          (got) => chunkedBytesSoFar(got) >= 5 * "tick\n".length,
        );
        server.signal(signal);
        await server.exited;
        await ticks.ended;
        const got = ticks.got();
        const sent = chunkedBytesSoFar(got);
        const line = ours().find((l) => l.includes('"GET /ticks?ms=10 HTTP/1.1"'));
        assert.match(line ?? "", new RegExp(`" 200 ${sent} `), `client got ${sent}\n${ours()}`);
        // Ended mid-body: no last chunk.
        assert.ok(!got.endsWith("0\r\n\r\n"), JSON.stringify(got.slice(-40)));
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

// A stream that follows request.signal (a proxy's fetch(upstream, { signal }) body) fails as the
// quick stop ends it: the stop's doing, named by its WARNING, not an error of the app's.
for (const args of [["-k", "async"], ["-k", "gthread", "--threads", "2"]]) {
  e2e(
    `a quick stop ends a stream that follows request.signal: no app ERROR (${args.join(" ")})`,
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "-b", "127.0.0.1:0"],
        ...args,
      ]);
      try {
        const dripping = await underWay(Number(new URL(url).port), "/drip?ms=60000&follow");
        server.signal("SIGINT");
        assert.equal((await server.exited).code, 0, server.stderr);
        await dripping.ended;
        assert.match(server.stderr, /\[WARNING\] Killed by the quick stop on .*: GET \/drip/);
        assert.doesNotMatch(server.stderr, /\[ERROR\]/);
        const bytes = chunkedBytesSoFar(dripping.got());
        assert.equal(ours().length, 1, ours().join("\n"));
        assert.match(
          ours()[0],
          new RegExp(`"GET /drip\\?ms=60000&follow HTTP/1\\.1" 200 ${bytes} `),
        );
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

/** A GET whose response head and first line came (pid_app's /drip). */
function underWay(port: number, target: string) {
  return rawGetUntil(port, target, (got) => got.includes("first line\n"));
}

// A burst that lands at once: the sync worker serves one; Deno's accept loop takes the rest before
// the worker holds it, and they wait accepted and unread (Admission.wait), where Bun's leaves them
// in the listen queue, which the master names. Either way, each connection dropped is named.
e2e(
  "a SIGINT stop names the connections a sync worker accepted and had not read yet",
  async (t) => {
    const server = start(t, ["-k", "sync", "-w", "1", "-b", "127.0.0.1:0", PID_APP]);
    try {
      const url = await server.ready(1);
      const port = Number(new URL(url).port);
      const sockets = await holdConnections(port, 4);
      for (const [i, socket] of sockets.entries()) {
        socket.write(`GET /slow?ms=60000&tell=1&n=${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      }
      await server.waitFor(/slow began/);
      await new Promise((r) => setTimeout(r, 500)); // The rest land: accepted, or queued.
      server.signal("SIGINT");
      assert.equal((await server.exited).code, 0, server.stderr);
      for (const socket of sockets) socket.destroy();
      const lead = /\[WARNING\] Killed by the quick stop on worker \(pid:\d+\): /.source;
      const killed = server.stderr.match(
        new RegExp(`${lead}GET /slow\\?ms=60000&tell=1&n=\\d `, "g"),
      );
      const unread = server.stderr.match(
        new RegExp(
          `${lead}a connection from 127\\.0\\.0\\.1:\\d+ for \\d+\\.\\d s, accepted and waiting for room, its request unread$`,
          "gm",
        ),
      );
      const queued = /with (\d+) connections? waiting in its accept queue/.exec(server.stderr);
      assert.equal(killed?.length, 1, server.stderr);
      assert.equal(1 + (unread?.length ?? 0) + Number(queued?.[1] ?? 0), 4, server.stderr);
    } finally {
      await server.stop();
    }
  },
);

// A quick stop stops accepting before its hooks run (worker_int, then worker_exit after it has
// counted what it drops): a client that comes while one runs is refused (the master closed its
// copies of the listeners first), not accepted and then dropped with the process. gunicorn's
// worker_int runs in the signal handler, while nothing is accepted.
const LATE: { hook: "worker_int" | "worker_exit"; args: string[] }[] = [
  { hook: "worker_exit", args: ["-k", "sync"] },
  { hook: "worker_exit", args: ["-k", "async"] },
  { hook: "worker_exit", args: ["-k", "gthread", "--threads", "2"] },
  { hook: "worker_int", args: ["-k", "sync"] },
  { hook: "worker_int", args: ["-k", "async"] },
  // The process waits until each thread says it stopped accepting (ThreadPool.stopAccepting).
  { hook: "worker_int", args: ["-k", "gthread", "--threads", "2"] },
  // The runtime's own server, stopped accepting through NativeServer.stopAccepting.
  { hook: "worker_int", args: ["-k", "async", "--reuse-port"] },
  { hook: "worker_exit", args: ["-k", "async", "--reuse-port"] },
];

for (const { hook, args } of LATE) {
  e2e(
    `a quick stop refuses a connection that comes while ${hook} runs (${args.join(" ")})`,
    async (t) => {
      const reusePort = args.includes("--reuse-port");
      const dir = tempDir();
      const go = join(dir.path, "go");
      const port = await freePort();
      const server = start(t, [
        ...[...args, "-w", "1", "-b", `127.0.0.1:${port}`],
        ...["--hooks", join(FIXTURES, "hooks", "waiting_stop_hooks.ts"), PID_APP],
      ], { env: { [hook === "worker_int" ? "INT_GO" : "EXIT_GO"]: go, STOP_PORT: `${port}` } });
      try {
        await server.ready(1);
        // Accepted before the stop, no request sent: the one the stop names.
        const [idle] = await holdConnections(port, 1);
        // Taken by the worker: one still in the listen queue the master would name as well.
        await eventually(
          () => countConnections(childPids(server.pid), port)[0] === 1,
          "the worker to accept the idle connection",
        );
        server.signal("SIGQUIT");
        // The hook's own connection, the moment it began: no later than the stop accepting ends.
        const early = await server.waitFor(new RegExp(`${hook} hook waits \\(.*: (\\w+)\\)`));
        const late = net.connect(port, "127.0.0.1");
        const seen = await new Promise<string>((resolve) => {
          late.once("connect", () => resolve("connected"));
          late.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
        });
        late.destroy();
        writeFileSync(go, "");
        assert.equal((await server.exited).code, 0, server.stderr);
        idle.destroy();
        assert.equal(early[1], "ECONNREFUSED", `the hook's client: ${early[1]}\n${server.stderr}`);
        assert.equal(seen, "ECONNREFUSED", `the late client: ${seen}\n${server.stderr}`);
        // The idle one, named once, by the worker; the late one nowhere, as none took it.
        // (gthread's threads and --reuse-port's native server do not name them yet.)
        if (!args.includes("gthread") && !reusePort) {
          const named = server.stderr.match(
            /\[WARNING\] Killed by the quick stop on worker \(pid:\d+\): a connection with no request read yet$/gm,
          );
          assert.equal(named?.length, 1, server.stderr);
        }
        assert.doesNotMatch(server.stderr, /waiting in its accept queue/);
        assert.doesNotMatch(server.stderr, /did not exit within/);
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}
