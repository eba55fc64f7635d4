// What the master says when it kills a worker for --timeout: every request the stuck worker
// had in flight, named from the scoreboard while the worker cannot speak, and an access line
// for each; no access line the worker produced before it got stuck is lost. And what a worker
// says of the requests it cuts off at the end of --graceful-timeout.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { join } from "node:path";
import {
  alive,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  pidOf,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { chunkedBytesSoFar, rawConnect, rawGetUntil, readAll } from "../_raw.ts";
import { curl, makePki } from "../_tls.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

e2e(
  "WORKER TIMEOUT names the stuck request: method, path with the query cut, client, time, class",
  async (target) => {
    const server = start(target, [
      "-w",
      "1",
      "-k",
      "sync",
      "-t",
      "2",
      "-b",
      "127.0.0.1:0",
      PID_APP,
    ]);
    const url = await server.ready(1);
    const pad = "x".repeat(300);
    get(`${url}/spin?ms=600000&pad=${pad}`, { localAddress: "127.0.0.7" }).catch(() => {});
    const head = await server.waitFor(
      /\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) sync worker, 1 request in flight$/m,
    );
    const line = await server.waitFor(
      new RegExp(`\\[CRITICAL\\] In flight on worker \\(pid:${head[1]}\\): (.*)$`, "m"),
    );
    const m = /^GET (\/spin\?\S+) from 127\.0\.0\.7:\d+ for (\d+\.\d) s$/.exec(line[1]);
    assert.ok(m, line[1]);
    // The query is cut to 64 characters and says so; the path stays whole.
    assert.equal(m[1], `/spin?${`ms=600000&pad=${pad}`.slice(0, 64)}…`);
    assert.ok(Number(m[2]) >= 1, line[1]);
    await eventually(() => !alive(Number(head[1])), "the stuck worker is gone");
    assert.equal((await server.stop()).code, 0);
  },
);

e2e(
  "WORKER TIMEOUT names a stuck request on a connection opened after 40 idle kept-alive ones",
  async (target) => {
    const server = start(target, ["-w", "1", "-t", "2", "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(1);
    const port = Number(new URL(url).port);
    // More connections than the in-flight table has entries, each answered once and kept open.
    const idle = await Promise.all(Array.from({ length: 40 }, () => rawConnect(port)));
    try {
      await Promise.all(idle.map((socket) =>
        new Promise<void>((resolve, reject) => {
          socket.once("data", () => resolve());
          socket.once("error", reject);
          socket.write("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
        })
      ));
      get(`${url}/spin?ms=600000&late`).catch(() => {});
      const head = await server.waitFor(
        /\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) \w+ worker, 1 request in flight$/m,
      );
      // Named from the table while an entry is free, not only counted as "1 more".
      await server.waitFor(
        new RegExp(
          `\\[CRITICAL\\] In flight on worker \\(pid:${head[1]}\\): ` +
            `GET /spin\\?ms=600000&late from 127\\.0\\.0\\.1:\\d+ for`,
        ),
      );
      await eventually(() => !alive(Number(head[1])), "the stuck worker is gone");
    } finally {
      for (const socket of idle) socket.destroy();
      assert.equal((await server.stop()).code, 0);
    }
  },
);

e2e(
  "a worker that dies under its requests: the master names each and logs it as a 502",
  async (t) => {
    const { server, url, ours, remove } = await loggedServer(t, ["-w", "1", "-b", "127.0.0.1:0"]);
    try {
      const slow = get(`${url}/slow?ms=60000&tell=1`).catch(() => null);
      await server.waitFor(/slow began/);
      const exit = get(`${url}/exit?code=7`).catch(() => null);
      const died = await server.waitFor(/\[ERROR\] Worker \(pid:(\d+)\) exited with code 7\.$/m);
      const named = `\\[ERROR\\] In flight on worker \\(pid:${died[1]}\\): GET `;
      await server.waitFor(
        new RegExp(`${named}/slow\\?ms=60000&tell=1 from 127\\.0\\.0\\.1:\\d+ for`),
      );
      await server.waitFor(new RegExp(`${named}/exit\\?code=7 from 127\\.0\\.0\\.1:\\d+ for`));
      await Promise.all([slow, exit]);
      await eventually(() => ours().length === 2, "two access lines");
      assert.deepEqual(
        ours().map((l) => /"GET (\/\w+)\S* HTTP\/1\.1" (\d+)/.exec(l)?.slice(1).join(" ")).sort(),
        ["/exit 502", "/slow 502"],
      );
      // Its replacement serves.
      assert.equal((await get(url)).status, 200);
      assert.equal((await server.stop()).code, 0);
    } finally {
      remove();
    }
  },
);

// --reuse-port: the native server's stream under way keeps its in-flight entry, which says what
// went out of it (head and body bytes, as the server took them), so the master's line for a worker
// that dies (or is killed for --timeout) says what its client got, not a 502 (or 504) as for a
// request never answered.
for (const how of ["SIGKILL", "a crash", "--timeout"] as const) {
  e2e(
    `--reuse-port: a worker that dies (${how}) under a stream under way: its line says what the client got`,
    async (t) => {
      const port = await freePort();
      const { server, url, ours, remove } = await loggedServer(t, [
        ...["-w", "1", "--reuse-port", "-b", `127.0.0.1:${port}`],
        ...(how === "--timeout" ? ["-t", "2"] : []),
      ]);
      try {
        const drip = await rawGetUntil(
          port,
          "/drip?ms=60000",
          (got) => got.includes("first line\n"),
        );
        const slow = get(`${url}/slow?ms=60000&tell=1`).catch(() => null);
        await server.waitFor(/slow began/);
        const pid = await server.onlyWorker();
        if (how === "SIGKILL") process.kill(pid, "SIGKILL");
        else if (how === "a crash") get(`${url}/crash?ms=0`).catch(() => null);
        else get(`${url}/spin?ms=600000`).catch(() => null);
        await server.waitFor(
          new RegExp(
            `\\[(ERROR|CRITICAL)\\] (Worker \\(pid:${pid}\\) (was sent|exited)|WORKER TIMEOUT)`,
          ),
        );
        await Promise.all([slow, drip.ended]);
        const sent = chunkedBytesSoFar(drip.got());
        assert.equal(sent, "first line\n".length, drip.got());
        await eventually(() => ours().some((l) => l.includes("/slow")), "the /slow line", 20_000);
        const drips = ours().filter((l) => l.includes('"GET /drip?ms=60000 HTTP/1.1"'));
        assert.equal(drips.length, 1, ours().join("\n"));
        assert.match(drips[0], new RegExp(`" 200 ${sent} `));
        // Not answered: a 504 for a worker killed for --timeout, else a 502.
        const unanswered = how === "--timeout" ? 504 : 502;
        assert.match(ours().find((l) => l.includes("/slow"))!, new RegExp(`" ${unanswered} - `));
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

// The shared socket (appserve's HTTP layer): a stream's entry says what went out of it too, its
// head with the first chunk, then each chunk's bytes. A gthread thread writes its entries in its
// region of the worker's table, which the master reads as any worker's.
for (
  const [klass, how] of [
    ["async", "SIGKILL"],
    ["async", "--timeout"],
    ["sync", "SIGKILL"],
    ["gthread", "SIGKILL"],
  ] as const
) {
  e2e(
    `${klass}: a worker that dies (${how}) under a stream under way: its line says what the client got`,
    async (t) => {
      const port = await freePort();
      const { server, ours, remove } = await loggedServer(t, [
        ...["-w", "1", "-k", klass, "-b", `127.0.0.1:${port}`],
        ...(how === "--timeout" ? ["-t", "2"] : []),
        ...(klass === "gthread" ? ["--threads", "2"] : []),
      ]);
      try {
        const drip = await rawGetUntil(
          port,
          "/drip?ms=60000",
          (got) => got.includes("first line\n"),
        );
        const pid = await server.onlyWorker();
        if (how === "SIGKILL") process.kill(pid, "SIGKILL");
        else get(`http://127.0.0.1:${port}/spin?ms=600000`).catch(() => null);
        await server.waitFor(
          new RegExp(`\\[(ERROR|CRITICAL)\\] (Worker \\(pid:${pid}\\) was sent|WORKER TIMEOUT)`),
        );
        await drip.ended;
        const sent = chunkedBytesSoFar(drip.got());
        assert.equal(sent, "first line\n".length, drip.got());
        const line = '"GET /drip?ms=60000 HTTP/1.1"';
        await eventually(() => ours().some((l) => l.includes(line)), "the /drip line", 20_000);
        const drips = ours().filter((l) => l.includes(line));
        assert.equal(drips.length, 1, ours().join("\n"));
        assert.match(drips[0], new RegExp(`" 200 ${sent} `));
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

for (const klass of [[], ["-k", "gthread", "--threads", "2"]]) {
  e2e(
    `a worker killed (SIGKILL) from outside while a TERM stop drains it: its exit line, its request named, a 502 line (${
      klass.join(" ") || "-k async"
    })`,
    async (t) => {
      const { server, url, ours, remove } = await loggedServer(t, [
        "-w",
        "1",
        ...klass,
        "-b",
        "127.0.0.1:0",
      ]);
      try {
        const slow = get(`${url}/slow?ms=60000&tell=1`).catch(() => null);
        await server.waitFor(/slow began/);
        const pid = await server.onlyWorker();
        server.signal("SIGTERM");
        await server.waitFor(/Handling signal: term/);
        process.kill(pid, "SIGKILL");
        assert.equal((await server.exited).code, 0, server.stderr);
        await slow;
        assert.match(
          server.stderr,
          new RegExp(
            `\\[ERROR\\] Worker \\(pid:${pid}\\) was sent SIGKILL! Perhaps out of memory\\?$`,
            "m",
          ),
        );
        assert.match(
          server.stderr,
          new RegExp(
            `\\[ERROR\\] In flight on worker \\(pid:${pid}\\): GET /slow\\?ms=60000&tell=1 from 127\\.0\\.0\\.1:\\d+ for`,
          ),
        );
        assert.equal(ours().length, 1, ours().join("\n"));
        assert.match(ours()[0], /"GET \/slow\?ms=60000&tell=1 HTTP\/1\.1" 502 /);
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

e2e(
  "a worker killed (SIGKILL) from outside while it drains after a HUP: its exit line, its request named, a 502 line",
  async (t) => {
    const { server, url, ours, remove } = await loggedServer(t, ["-w", "1", "-b", "127.0.0.1:0"]);
    try {
      const slow = get(`${url}/slow?ms=60000&tell=1`).catch(() => null);
      await server.waitFor(/slow began/);
      const old = await server.onlyWorker();
      server.signal("SIGHUP");
      // The old worker drains once its replacement serves.
      await eventually(async () => pidOf(await get(url)) !== old, "the new worker serving");
      process.kill(old, "SIGKILL");
      await server.waitFor(
        new RegExp(
          `\\[ERROR\\] Worker \\(pid:${old}\\) was sent SIGKILL! Perhaps out of memory\\?$`,
          "m",
        ),
      );
      await server.waitFor(
        new RegExp(
          `\\[ERROR\\] In flight on worker \\(pid:${old}\\): GET /slow\\?ms=60000&tell=1 from 127\\.0\\.0\\.1:\\d+ for`,
        ),
      );
      await slow;
      // Among the probes' lines (written in batches): the killed request's.
      const line = /"GET \/slow\?ms=60000&tell=1 HTTP\/1\.1" 502 /;
      await eventually(() => ours().some((l) => line.test(l)), "the killed request's 502 line");
      assert.equal((await server.stop()).code, 0);
    } finally {
      await server.stop();
      remove();
    }
  },
);

e2e(
  "a TERM stop whose worker finishes its request and exits by itself says nothing more than before",
  async (t) => {
    const { server, url, ours, remove } = await loggedServer(t, ["-w", "1", "-b", "127.0.0.1:0"]);
    try {
      const slow = get(`${url}/slow?ms=1000&tell=1`);
      await server.waitFor(/slow began/);
      server.signal("SIGTERM");
      assert.equal((await server.exited).code, 0, server.stderr);
      assert.equal((await slow).status, 200);
      assert.equal(ours().length, 1, ours().join("\n"));
      assert.match(ours()[0], /"GET \/slow\?ms=1000&tell=1 HTTP\/1\.1" 200 /);
      assert.doesNotMatch(server.stderr, /\[(ERROR|WARNING|CRITICAL)\]|was sent|In flight/);
    } finally {
      await server.stop();
      remove();
    }
  },
);

/**
 * A server with an access log in a temp dir, ready, its readiness probe's lines counted: `ours()`
 * are the lines written since.
 */
async function loggedServer(target: Target, args: string[], ca?: string) {
  const dir = tempDir();
  const log = join(dir.path, "access.log");
  const server = start(target, ["--access-logfile", log, ...args, PID_APP]);
  // With `ca` the server speaks HTTPS, which the probe of ready() does not.
  const url = ca === undefined
    ? await server.ready(1)
    : (await server.waitFor(/Listening at: (https:\/\/[^ ,]+)/))[1];
  if (ca !== undefined) {
    await eventually(async () => (await curl(["--cacert", ca, url])).code === 0, "HTTPS");
  }
  const lines = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
  await eventually(() => lines().length > 0, "the probe's access line");
  const before = lines().length;
  return { server, url, ours: () => lines().slice(before), remove: () => dir.remove() };
}

/** `n` fast requests and a stuck one, in one write on one connection. */
async function pipelineStuck(url: string, n: number, tag: string): Promise<Socket> {
  const request = (target: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const socket = await rawConnect(Number(new URL(url).port));
  socket.on("error", () => {});
  socket.write(
    Array.from({ length: n }, (_, i) => request(`/fast?${tag}=${i}`)).join("") +
      request(`/spin?ms=600000&${tag}=stuck`),
  );
  return socket;
}

// With the shared socket (appserve's HTTP layer) and --reuse-port (the runtime's own server).
for (const reusePort of [false, true]) {
  const variant = reusePort ? "--reuse-port: " : "";
  const listen = async () => {
    if (!reusePort) return ["-b", "127.0.0.1:0"];
    return ["--reuse-port", "-b", `127.0.0.1:${await freePort()}`];
  };

  e2e(
    `${variant}a worker killed for --timeout loses no access line: 50 fast requests, a stuck ` +
      "one, 51 lines",
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "-t", "2", ...await listen()],
      ]);
      try {
        for (let i = 0; i < 50; i++) assert.equal((await get(`${url}/fast?i=${i}`)).status, 200);
        get(`${url}/spin?ms=600000`).catch(() => {});
        const timeout = await server.waitFor(/WORKER TIMEOUT \(pid:(\d+)\)/);
        await server.waitFor(new RegExp(`Worker \\(pid:${timeout[1]}\\) was sent SIGKILL!$`, "m"));
        await eventually(() => ours().length === 51, "51 access lines", 10_000);
        ours().slice(0, 50).forEach((line, i) =>
          assert.match(line, new RegExp(` /fast\\?i=${i} .* 200 `))
        );
        // The killed request: 504 with no body sent, as gthread answers a hung thread's request.
        assert.match(ours()[50], /"GET \/spin\?ms=600000 HTTP\/1\.1" 504 - /);
        assert.equal((await server.stop()).code, 0);
        assert.equal(ours().length, 51);
      } finally {
        await server.stop();
        remove();
      }
    },
  );

  // 50 requests and the stuck one in one write on one connection: the worker answers them all
  // in one go, so their lines are still waiting for their batch when the loop gets stuck, and
  // only the master can write them (from the worker's scoreboard slot).
  e2e(
    `${variant}a worker killed for --timeout leaves its waiting access lines to the master: ` +
      "50 pipelined requests, a stuck one, 51 lines",
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "-t", "2", ...await listen()],
      ]);
      try {
        const socket = await pipelineStuck(url, 50, "p");
        const answer = readAll(socket, 20_000);
        const timeout = await server.waitFor(/WORKER TIMEOUT \(pid:(\d+)\)/);
        await server.waitFor(new RegExp(`Worker \\(pid:${timeout[1]}\\) was sent SIGKILL!$`, "m"));
        // The 50 answers came before the stuck one.
        assert.equal((await answer).text.match(/^HTTP\/1\.1 200 /gm)?.length, 50);
        await eventually(() => ours().length >= 51, "51 access lines", 10_000);
        ours().slice(0, 50).forEach((line, i) =>
          assert.match(line, new RegExp(` /fast\\?p=${i} .* 200 `))
        );
        assert.match(ours()[50], /"GET \/spin\?ms=600000&p=stuck HTTP\/1\.1" 504 - /);
        assert.equal((await server.stop()).code, 0);
        assert.equal(ours().length, 51);
      } finally {
        await server.stop();
        remove();
      }
    },
  );

  // The same waiting lines when no timeout fires: a stop (TERM, then INT) kills the stuck worker
  // at its deadline, and the master writes them before it exits; it names the stuck request (a
  // WARNING, as a worker names those it cuts off) and writes its 504 line.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    e2e(
      `${variant}a ${signal} stop that kills a stuck worker loses none of its waiting access ` +
        "lines and names the stuck request: 50 pipelined requests, a stuck one, 51 lines",
      async (target) => {
        const { server, url, ours, remove } = await loggedServer(target, [
          ...["-w", "1", "-t", "600", "--graceful-timeout", "1", ...await listen()],
        ]);
        try {
          const socket = await pipelineStuck(url, 50, "s");
          let answers = "";
          socket.on("data", (chunk) => answers += chunk);
          await eventually(() => answers.match(/^HTTP\/1\.1 200 /gm)?.length === 50, "50 answers");
          const pid = await server.onlyWorker();
          server.signal(signal);
          assert.equal((await server.exited).code, 0);
          assert.equal(ours().length, 51, ours().join("\n"));
          ours().slice(0, 50).forEach((line, i) =>
            assert.match(line, new RegExp(` /fast\\?s=${i} .* 200 `))
          );
          assert.match(ours()[50], /"GET \/spin\?ms=600000&s=stuck HTTP\/1\.1" 504 - /);
          const [head, lead] = signal === "SIGTERM"
            ? ["the graceful timeout \\(1 s\\)", "Cut off at the graceful timeout \\(1 s\\) on"]
            : ["2 s of the quick stop", "In flight on"];
          assert.match(
            server.stderr,
            new RegExp(
              `\\[WARNING\\] Worker \\(pid:${pid}\\) did not exit within ${head}: killed$`,
              "m",
            ),
          );
          assert.match(
            server.stderr,
            new RegExp(
              `\\[WARNING\\] ${lead} worker \\(pid:${pid}\\): GET /spin\\?ms=600000&s=stuck from `,
            ),
          );
          // Killed by the master, which said why: no "Perhaps out of memory?".
          assert.doesNotMatch(server.stderr, /was sent SIGKILL/);
          socket.destroy();
        } finally {
          await server.stop();
          remove();
        }
      },
    );
  }
}

e2e(
  "THREAD TIMEOUT names the request that hung a gthread thread, and its 504 is in the access log",
  async (target) => {
    const dir = tempDir();
    try {
      const log = join(dir.path, "access.log");
      const server = start(target, [
        ...["-w", "1", "-k", "gthread", "--threads", "2", "-t", "3"],
        ...["--access-logfile", log, "-b", "127.0.0.1:0", PID_APP],
      ]);
      const url = await server.ready(1);
      for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/fast?i=${i}`)).status, 200);
      const answer = await get(`${url}/spin?ms=600000&q=1`, { localAddress: "127.0.0.9" });
      assert.equal(answer.status, 504);
      const head = await server.waitFor(
        /\[CRITICAL\] THREAD TIMEOUT \(thread (\d+) .*\) gthread worker, 1 request in flight$/m,
      );
      await server.waitFor(
        new RegExp(
          `\\[CRITICAL\\] In flight on thread ${head[1]} \\(pid:\\d+\\): ` +
            `GET /spin\\?ms=600000&q=1 from 127\\.0\\.0\\.9:\\d+ for \\d+\\.\\d s$`,
          "m",
        ),
      );
      const lines = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
      await eventually(() => lines().some((l) => l.includes("/spin")), "the 504's access line");
      const ours = lines().filter((l) => / \/(fast|spin)/.test(l));
      assert.equal(ours.length, 6, ours.join("\n"));
      assert.match(ours[5], /^127\.0\.0\.9 .*"GET \/spin\?ms=600000&q=1 HTTP\/1\.1" 504 /);
      await server.stop();
    } finally {
      dir.remove();
    }
  },
);

// The field trial's sequence: a CPU-bound request hangs one thread, an endless one the other,
// and two plain requests come behind them: one queues on the second thread, the other is handed
// to the first (which never takes it). Each client gets its answer and each request exactly one access line with
// the status its client got; under Deno the worker then retires, and the requests the process
// answered are not cut off again at the end of its drain.
e2e(
  "THREAD TIMEOUT: every request of the hung threads gets one access line, with the status its " +
    "client got",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "2", "-t", "3", "--graceful-timeout", "4"],
      ...["-b", "127.0.0.1:0"],
    ]);
    try {
      const pid = pidOf(await get(url));
      // Requests that held each thread's app a while: the second thread then hands the last
      // plain request to the first rather than queue it behind two (src/worker/thread_board.ts).
      await Promise.all([get(`${url}/slow?ms=400`), get(`${url}/slow?ms=400`)]);
      const asked = (path: string) =>
        get(`${url}${path}`).then((a) => ({ path, status: a.status }), () => ({ path, status: 0 }));
      const spin = asked("/spin?ms=600000");
      await sleep(300);
      const hang = asked("/hang");
      await sleep(300);
      const answers = await Promise.all([spin, hang, asked("/?i=1"), asked("/?i=2")]);
      assert.deepEqual(answers.map((a) => a.status), [504, 504, 503, 503], server.stderr);
      if (target.workers === "deno") {
        await server.waitFor(new RegExp(`Worker exiting \\(pid: ${pid}\\)`), 15_000);
      }
      assert.equal((await server.stop()).code, 0);
      const lines = ours().filter((line) => / \/(spin|hang|\?i=)/.test(line));
      assert.equal(lines.length, 4, lines.join("\n"));
      for (const { path, status } of answers) {
        const line = lines.filter((l) => l.includes(`"GET ${path} HTTP/1.1" ${status} `));
        assert.equal(line.length, 1, `${path} ${status}:\n${lines.join("\n")}`);
      }
      assert.doesNotMatch(server.stderr, /Cut off at the graceful timeout/);
      assert.equal(
        server.stderr.match(/cannot stop a busy thread/g)?.length ?? 0,
        target.workers === "deno" ? 1 : 0,
      );
    } finally {
      await server.stop();
      remove();
    }
  },
);

// process.exit() (Deno.exit() too) in a gthread thread ends the thread, not the worker, as an
// error nobody catches does: its client still gets an answer, with its access line, and the log
// says the app exited it, with the code.
e2e(
  "an exit call of the app, or a crash, ends only its gthread thread: a 500 with its access " +
    "line, and the exit code in the log",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "2", "-b", "127.0.0.1:0"],
    ]);
    try {
      const pid = pidOf(await get(url));
      assert.equal((await get(`${url}/crash`)).status, 500);
      await server.waitFor(/\[ERROR\] Thread \d+ crashed: Error: crash outside the request$/m);
      const exits: [string, number][] = [["code=3", 3]];
      if (target.workers === "deno") exits.push(["code=4&deno", 4]);
      for (const [query, code] of exits) {
        assert.equal((await get(`${url}/exit?${query}`)).status, 500);
        await server.waitFor(
          new RegExp(`\\[ERROR\\] Thread \\d+ exited: the app called exit with code ${code}$`, "m"),
        );
      }
      await eventually(
        () => server.stderr.match(/\[INFO\] Replacing thread/g)?.length === exits.length + 1,
        "the threads replaced",
      );
      // The same worker serves on, with both threads.
      for (let i = 0; i < 4; i++) assert.equal(pidOf(await get(url)), pid);
      assert.equal((await server.stop()).code, 0);
      assert.equal(server.stderr.match(/crashed|Uncaught/g)?.length, 2, server.stderr);
      assert.doesNotMatch(server.stderr, /Thread \d+ exited$/m);
      const crash = ours().filter((line) => line.includes("/crash"));
      assert.equal(crash.length, 1, ours().join("\n"));
      assert.match(crash[0], /"GET \/crash HTTP\/1\.1" 500 /);
      const lines = ours().filter((line) => line.includes("/exit"));
      assert.equal(lines.length, exits.length, lines.join("\n"));
      exits.forEach(([query], i) =>
        assert.ok(lines[i].includes(`"GET /exit?${query} HTTP/1.1" 500 `), lines[i])
      );
    } finally {
      await server.stop();
      remove();
    }
  },
);

e2e(
  "--reuse-port: WORKER TIMEOUT names the stuck request and the access log gets its line",
  async (target) => {
    const dir = tempDir();
    try {
      const log = join(dir.path, "access.log");
      const port = await freePort();
      const server = start(target, [
        ...["-w", "1", "--reuse-port", "-t", "2", "--access-logfile", log],
        ...["-b", `127.0.0.1:${port}`, PID_APP],
      ]);
      const url = await server.ready(1);
      const lines = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
      await eventually(() => lines().length > 0, "the probe's access line");
      const before = lines().length;
      for (let i = 0; i < 5; i++) assert.equal((await get(`${url}/fast?i=${i}`)).status, 200);
      get(`${url}/spin?ms=600000&q=2`, { localAddress: "127.0.0.8" }).catch(() => {});
      const head = await server.waitFor(
        /\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) async worker, 1 request in flight$/m,
      );
      await server.waitFor(
        new RegExp(
          `\\[CRITICAL\\] In flight on worker \\(pid:${head[1]}\\): ` +
            `GET /spin\\?ms=600000&q=2 from 127\\.0\\.0\\.8:\\d+ for \\d+\\.\\d s$`,
          "m",
        ),
      );
      await eventually(() => !alive(Number(head[1])), "the stuck worker is gone");
      await eventually(() => lines().length === before + 6, "6 access lines", 10_000);
      const ours = lines().slice(before);
      ours.slice(0, 5).forEach((line, i) =>
        assert.match(line, new RegExp(` /fast\\?i=${i} .* 200 `))
      );
      assert.match(ours[5], /^127\.0\.0\.8 .*"GET \/spin\?ms=600000&q=2 HTTP\/1\.1" 504 - /);
      assert.equal((await server.stop()).code, 0);
    } finally {
      dir.remove();
    }
  },
);

// A graceful stop whose --graceful-timeout runs out cuts off what is still in flight: the worker
// names each such request at WARNING, as WORKER TIMEOUT names a stuck one, and logs its 504.
const CUT_OFF_VARIANTS: [string, string[]][] = [
  ["async", []],
  ["--reuse-port", ["--reuse-port"]],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
];
for (const [variant, args] of CUT_OFF_VARIANTS) {
  e2e(
    `a request cut off at the graceful timeout is named at WARNING, with its 504 access line ` +
      `(${variant})`,
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "--graceful-timeout", "1", ...args],
        ...["-b", `127.0.0.1:${await freePort()}`],
      ]);
      try {
        // A 3 s request, 1 s to finish once the stop begins.
        const slow = get(`${url}/slow?ms=3000&q=cut&tell`, { localAddress: "127.0.0.6" })
          .then((answer) => `${answer.status}`, () => "cut off");
        await server.waitFor(/slow began: \?ms=3000&q=cut&tell$/m);
        server.signal("SIGTERM");
        const result = await server.exited;
        assert.equal(result.code, 0, result.stderr);
        // The client gets the 504 its access line says, from the native server too.
        assert.equal(await slow, "504");
        const where = variant === "gthread"
          ? "thread \\d+ \\(pid:\\d+\\)"
          : "worker \\(pid:\\d+\\)";
        const warnings = result.stderr.match(
          new RegExp(
            `\\[WARNING\\] Cut off at the graceful timeout \\(1 s\\) on ${where}: ` +
              `GET /slow\\?ms=3000&q=cut&tell from 127\\.0\\.0\\.6:\\d+ for \\d+\\.\\d s$`,
            "gm",
          ),
        );
        assert.equal(warnings?.length, 1, result.stderr);
        const access = ours().filter((line) => line.includes("/slow"));
        assert.equal(access.length, 1, ours().join("\n"));
        // With the bytes of the 504's body, which went out (the native server's too).
        const bytes = "16";
        assert.match(
          access[0],
          new RegExp(
            `^127\\.0\\.0\\.6 .*"GET /slow\\?ms=3000&q=cut&tell HTTP/1\\.1" 504 ${bytes} `,
          ),
        );
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

// More requests than the in-flight table names (32): the worker or thread that cuts them off
// names 32 and counts the rest, and writes every one's access line, with its headers.
const OVERFLOW_VARIANTS: [string, string[]][] = [
  ["async", []],
  ["--reuse-port", ["--reuse-port"]],
  ["gthread", ["-k", "gthread", "--threads", "1"]],
];
for (const [variant, args] of OVERFLOW_VARIANTS) {
  e2e(
    `40 requests cut off at the graceful timeout: 32 named, 8 counted, 40 access lines (${variant})`,
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "--graceful-timeout", "1", ...args],
        "--access-logformat",
        '%(h)s "%(r)s" %(s)s "%(a)s"',
        ...["-b", `127.0.0.1:${await freePort()}`],
      ]);
      try {
        const cut = Array.from(
          { length: 40 },
          (_, i) =>
            get(`${url}/slow?ms=30000&n=${i}&tell`, { headers: { "user-agent": `ua-${i}` } })
              .then((answer) => `${answer.status}`, () => "cut off"),
        );
        // gthread's one thread has one in its app and the rest waiting in line, all in flight.
        const began = variant === "gthread" ? 1 : 40;
        await eventually(
          () => (server.stdout.match(/slow began/g)?.length ?? 0) >= began,
          `${began} requests in the app`,
        );
        if (variant === "gthread") await sleep(500);
        server.signal("SIGTERM");
        const result = await server.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(
          new Set(await Promise.all(cut)),
          new Set(["504"]),
        );
        const named = result.stderr.match(
          /\[WARNING\] Cut off at the graceful timeout .*GET \/slow/g,
        );
        assert.equal(named?.length, 32, result.stderr);
        assert.match(result.stderr, /\[WARNING\] Cut off at the graceful timeout .*: 8 more/);
        const access = ours().filter((line) => line.includes("/slow"));
        assert.equal(access.length, 40, ours().join("\n"));
        for (let i = 0; i < 40; i++) {
          const line = access.find((l) => l.includes(`&n=${i}&`));
          assert.ok(line, `no access line for request ${i}:\n${access.join("\n")}`);
          assert.match(line, / 504 /);
        }
        // Those past the table are logged from the request itself: every header is there.
        assert.ok(access.filter((l) => /"ua-\d+"$/.test(l)).length >= 8, access.join("\n"));
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

/** One GET on its own connection: its status, 0 when the connection ended without an answer. */
function asked(url: string, path: string): Promise<{ path: string; status: number }> {
  return get(`${url}${path}`).then(
    (a) => ({ path, status: a.status }),
    () => ({ path, status: 0 }),
  );
}

// A gthread thread stuck in app code when the graceful timeout runs out never cuts off its own
// requests (its timer cannot fire): the worker process answers them from the thread's slots
// before it exits, 504 for the one the app runs, 503 for the one waiting behind it, names them
// at WARNING as a thread that can speak does, and writes one access line each. With --timeout 0
// no THREAD TIMEOUT comes first. Under Bun the thread is terminated; under Deno it cannot be,
// and the process's exit ends it.
e2e(
  "a gthread thread stuck in app code at the graceful timeout: its requests are answered " +
    "(504 in the app, 503 waiting), named at WARNING, one access line each",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "1", "-t", "0", "--graceful-timeout", "1"],
      ...["-b", "127.0.0.1:0"],
    ]);
    try {
      // The spin awaits 1.5 s first: the second request reaches the thread meanwhile and waits
      // for its app.
      const spin = asked(url, "/spin?ms=600000&after=1500&tell");
      await server.waitFor(/spin began: /);
      const waiting = asked(url, "/?i=1");
      await server.waitFor(/spinning: /);
      server.signal("SIGTERM");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(
        (await Promise.all([spin, waiting])).map((a) => a.status),
        [504, 503],
        result.stderr,
      );
      const warned = (path: string) =>
        result.stderr.match(
          new RegExp(
            `\\[WARNING\\] Cut off at the graceful timeout \\(1 s\\) on thread \\d+ ` +
              `\\(pid:\\d+\\): GET ${path} from 127\\.0\\.0\\.1:\\d+ for \\d+\\.\\d s$`,
            "gm",
          ),
        )?.length;
      assert.equal(warned("/spin\\?ms=600000&after=1500&tell"), 1, result.stderr);
      assert.equal(warned("/\\?i=1"), 1, result.stderr);
      const lines = ours().filter((line) => / \/(spin|\?i=)/.test(line));
      assert.equal(lines.length, 2, lines.join("\n"));
      assert.match(lines.join("\n"), /"GET \/spin\?ms=600000&after=1500&tell HTTP\/1\.1" 504 /);
      assert.match(lines.join("\n"), /"GET \/\?i=1 HTTP\/1\.1" 503 /);
    } finally {
      await server.stop();
      remove();
    }
  },
);

// An error nobody catches ends a gthread thread: the request the app was running keeps its 500,
// but one that waited behind it for the thread's app never reached the app: a 503, as THREAD
// TIMEOUT gives those waiting behind a hung request.
e2e(
  "a crashed gthread thread: 500 for the request the app ran, 503 for the one waiting for the app",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "1", "-b", "127.0.0.1:0"],
    ]);
    try {
      const crash = asked(url, "/crash?ms=1500&tell");
      await server.waitFor(/crash began: /);
      const waiting = asked(url, "/?i=2");
      const answers = await Promise.all([crash, waiting]);
      assert.deepEqual(answers.map((a) => a.status), [500, 503], server.stderr);
      await server.waitFor(/\[ERROR\] Thread \d+ crashed: Error: crash outside the request$/m);
      await eventually(() => ours().filter((l) => / \/(crash|\?i=)/.test(l)).length === 2, "lines");
      const lines = ours().filter((line) => / \/(crash|\?i=)/.test(line)).join("\n");
      assert.match(lines, /"GET \/crash\?ms=1500&tell HTTP\/1\.1" 500 /);
      assert.match(lines, /"GET \/\?i=2 HTTP\/1\.1" 503 /);
      assert.equal((await server.stop()).code, 0);
    } finally {
      await server.stop();
      remove();
    }
  },
);

// On a TLS listener the TLS session of a connection lives in its thread: the worker process,
// answering for a stuck thread, cannot write a reply in it, and plain text there is garbage to
// the client (its TLS layer fails on it). It shuts the connection down instead; the access
// lines say the same statuses as without TLS.
e2e(
  "TLS: a stuck gthread thread's requests cut off by the process get no plain-text reply, and " +
    "their access lines",
  async (target) => {
    const dir = tempDir();
    const pki = makePki(dir.path);
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "1", "-t", "0", "--graceful-timeout", "1"],
      ...["--certfile", pki.cert, "--keyfile", pki.key, "-b", "127.0.0.1:0"],
    ], pki.ca);
    try {
      const ask = (path: string) => curl(["--cacert", pki.ca, `${url}${path}`]);
      const spin = ask("/spin?ms=600000&after=1500&tell");
      await server.waitFor(/spin began: /);
      const waiting = ask("/?i=3");
      await server.waitFor(/spinning: /);
      server.signal("SIGTERM");
      const result = await server.exited;
      assert.equal(result.code, 0, result.stderr);
      for (const answer of await Promise.all([spin, waiting])) {
        // No answer, and nothing the client's TLS layer could not read (old: "wrong version
        // number", "record layer failure" and the like, curl's 35 or 56).
        assert.equal(answer.stdout, "");
        assert.match(
          answer.stderr,
          /unexpected eof|Empty reply|reset|Recv failure/i,
          answer.stderr,
        );
        assert.doesNotMatch(answer.stderr, /version|record|packet|decrypt|alert/i, answer.stderr);
      }
      const lines = ours().filter((line) => / \/(spin|\?i=)/.test(line)).join("\n");
      assert.match(lines, /"GET \/spin\?ms=600000&after=1500&tell HTTP\/1\.1" 504 /);
      assert.match(lines, /"GET \/\?i=3 HTTP\/1\.1" 503 /);
    } finally {
      await server.stop();
      remove();
      dir.remove();
    }
  },
);

// The access lines appserve writes itself for requests the app could not answer (WORKER TIMEOUT,
// a worker that died, the graceful cut-off, THREAD TIMEOUT) show what the format asks of the
// request, as the app's own lines do: its referer, user agent, headers, Basic user, protocol,
// and the pid of the worker that had it (the master writes some of them).
const TRACED = '%(h)s %(u)s %(p)s "%(r)s" %(s)s "%(f)s" "%(a)s" rid=%({x-request-id}i)s';
const tracing = (rid: string) => ({
  "user-agent": "probe/1.0",
  referer: "http://ref.example/from",
  "x-request-id": rid,
  authorization: `Basic ${btoa("bob:x")}`,
});

/** The line TRACED gives a request `tracing(rid)` sent to `target`. */
function traced(target: string, status: number, pid: string, rid: string, protocol = "1.1") {
  const escaped = target.replace(/[?.]/g, "\\$&");
  return new RegExp(
    `^127\\.0\\.0\\.1 bob <${pid}> "GET ${escaped} HTTP/${protocol.replace(".", "\\.")}" ` +
      `${status} "http://ref\\.example/from" "probe/1\\.0" rid=${rid}$`,
  );
}

/** The one line of `lines` that names `path`. */
function lineOf(lines: string[], path: string): string {
  const found = lines.filter((line) => line.includes(` ${path}`));
  assert.equal(found.length, 1, lines.join("\n"));
  return found[0];
}

e2e(
  "WORKER TIMEOUT's access line carries the request's headers, user, protocol and worker pid",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-t", "2", "--access-logformat", TRACED, "-b", "127.0.0.1:0"],
    ]);
    try {
      // A normal request's line first: the killed one's must read the same.
      await get(`${url}/fast`, { headers: tracing("n1") });
      await eventually(() => ours().length === 1, "the normal line");
      const pid = String(pidOf(await get(url)));
      assert.match(ours()[0], traced("/fast", 200, pid, "n1"));
      // HTTP/1.0, on its own connection.
      const socket = await rawConnect(Number(new URL(url).port));
      socket.on("error", () => {});
      const head = Object.entries(tracing("k1")).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      socket.write(`GET /spin?ms=600000 HTTP/1.0\r\nHost: x\r\n${head}\r\n`);
      await server.waitFor(new RegExp(`WORKER TIMEOUT \\(pid:${pid}\\)`));
      await eventually(() => ours().some((l) => l.includes("/spin")), "the 504's line");
      assert.match(lineOf(ours(), "/spin"), traced("/spin?ms=600000", 504, pid, "k1", "1.0"));
      socket.destroy();
    } finally {
      await server.stop();
      remove();
    }
  },
);

e2e(
  "a dead worker's 502 access line carries the request's headers, user and worker pid",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "--access-logformat", TRACED, "-b", "127.0.0.1:0"],
    ]);
    try {
      const pid = String(pidOf(await get(url)));
      await get(`${url}/exit?code=7`, { headers: tracing("d1") }).catch(() => null);
      await server.waitFor(new RegExp(`Worker \\(pid:${pid}\\) exited with code 7`));
      await eventually(() => ours().some((l) => l.includes("/exit")), "the 502's line");
      assert.match(lineOf(ours(), "/exit"), traced("/exit?code=7", 502, pid, "d1"));
    } finally {
      await server.stop();
      remove();
    }
  },
);

for (const [variant, args] of CUT_OFF_VARIANTS) {
  e2e(
    `a request cut off at the graceful timeout: its access line carries its headers, user and ` +
      `pid (${variant})`,
    async (target) => {
      const { server, url, ours, remove } = await loggedServer(target, [
        ...["-w", "1", "--graceful-timeout", "1", "--access-logformat", TRACED, ...args],
        ...["-b", `127.0.0.1:${await freePort()}`],
      ]);
      try {
        const pid = String(pidOf(await get(url)));
        const slow = get(`${url}/slow?ms=3000&tell`, { headers: tracing("c1") }).catch(() => 0);
        await server.waitFor(/slow began: /);
        server.signal("SIGTERM");
        assert.equal((await server.exited).code, 0);
        await slow;
        assert.match(lineOf(ours(), "/slow"), traced("/slow?ms=3000&tell", 504, pid, "c1"));
      } finally {
        await server.stop();
        remove();
      }
    },
  );
}

e2e(
  "THREAD TIMEOUT's access line carries the request's headers, user and pid",
  async (target) => {
    const { server, url, ours, remove } = await loggedServer(target, [
      ...["-w", "1", "-k", "gthread", "--threads", "2", "-t", "3"],
      ...["--access-logformat", TRACED, "-b", "127.0.0.1:0"],
    ]);
    try {
      const pid = String(pidOf(await get(url)));
      const answer = await get(`${url}/spin?ms=600000`, { headers: tracing("t1") });
      assert.equal(answer.status, 504);
      await eventually(() => ours().some((l) => l.includes("/spin")), "the 504's line");
      assert.match(lineOf(ours(), "/spin"), traced("/spin?ms=600000", 504, pid, "t1"));
    } finally {
      await server.stop();
      remove();
    }
  },
);
