// The access log end to end: gunicorn's default line, stdout, unix sockets,
// USR1 reopening, an unwritable path, and stdout or stderr whose reader is gone.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { existsSync, readFileSync, renameSync } from "node:fs";
import type { Socket } from "node:net";
import { join } from "node:path";
import { rawConnect, rawExchange } from "../_raw.ts";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  freePort,
  get,
  getWhenReady,
  type HttpAnswer,
  pidOf,
  run,
  sleep,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const TIME = String.raw`\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]`;

e2e("--access-logfile writes gunicorn's default line per request", async (target) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const server = start(target, ["--access-logfile", file, "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(1);
    await get(`${url}/echo?x=1`, {
      method: "POST",
      body: "12345",
      headers: { "user-agent": "ua/1", referer: "http://r/" },
    });
    await eventually(() => readFileSync(file, "utf8").includes("POST /echo"), "the access line");
    const line = readFileSync(file, "utf8").trim().split("\n").at(-1)!;
    const bytes = JSON.stringify({
      method: "POST",
      url: `${url}/echo?x=1`,
      body: "12345",
      header: null,
      env: null,
    }).length;
    assert.match(
      line,
      new RegExp(
        `^127\\.0\\.0\\.1 - - ${TIME} "POST /echo\\?x=1 HTTP/1\\.1" 200 ${bytes} "http://r/" "ua/1"$`,
      ),
    );
    await server.stop();
  } finally {
    dir.remove();
  }
});

for (const args of [[], ["--reuse-port"]]) {
  e2e(
    `a %0A in a path forges no access line: %(U)s writes it \\x0a ${args.join(" ")}`,
    async (target) => {
      const dir = tempDir();
      const file = join(dir.path, "access.log");
      try {
        const port = args.length ? await freePort() : 0;
        const server = start(target, [
          ...args,
          ...["--access-logfile", file, "--access-logformat", "%(s)s %(U)s"],
          ...["-b", `127.0.0.1:${port}`, PID_APP],
        ]);
        const url = await server.ready(1);
        await get(`${url}/x%0A200%20/forged%0D`);
        await eventually(() => readFileSync(file, "utf8").includes("/x"), "the access line");
        // The readiness probe's line is "200 /": no other line but the one.
        const lines = readFileSync(file, "utf8").split("\n").filter((l) => l && l !== "200 /");
        assert.deepEqual(lines, ["200 /x\\x0a200 /forged\\x0d"]);
        await server.stop();
      } finally {
        dir.remove();
      }
    },
  );
}

for (const args of [[], ["--reuse-port"]]) {
  e2e(
    `header values are logged as their UTF-8 text, bytes that are not UTF-8 as \\xHH ${
      args.join(" ")
    }`,
    async (target) => {
      const dir = tempDir();
      const file = join(dir.path, "access.log");
      try {
        const port = await freePort();
        const server = start(target, [
          ...args,
          ...["--access-logfile", file],
          ...["--access-logformat", "%(a)s|%({x-h}i)s|%(f)s|%({HTTP_X_H}e)s"],
          ...["-b", `127.0.0.1:${port}`, PID_APP],
        ]);
        await server.ready(1);
        // As the bytes go over the wire: é in UTF-8; a latin1 é with a quote and a backslash;
        // U+2028 in UTF-8.
        for (const value of [[0xc3, 0xa9], [0x61, 0xe9, 0x22, 0x62, 0x5c], [0xe2, 0x80, 0xa8]]) {
          const v = Buffer.from(value);
          const head = Buffer.concat([
            Buffer.from("GET /h HTTP/1.1\r\nHost: x\r\nUser-Agent: "),
            v,
            Buffer.from("\r\nX-H: "),
            v,
            Buffer.from("\r\nReferer: "),
            v,
            Buffer.from("\r\nConnection: close\r\n\r\n"),
          ]);
          assert.equal((await rawExchange(port, head)).status, 200);
        }
        const expected = ["é", 'a\\xe9\\"b\\x5c', "\\u2028"].map((v) => `${v}|${v}|${v}|${v}`);
        // The readiness probe's line has no headers: "-|-|-|-".
        const lines = () =>
          readFileSync(file, "utf8").split("\n").filter((l) => l && l !== "-|-|-|-");
        await eventually(() => lines().length >= expected.length, "the access lines");
        assert.deepEqual(lines(), expected);
        await server.stop();
      } finally {
        dir.remove();
      }
    },
  );
}

e2e("--access-logfile - writes to stdout; over a unix socket h is empty", async (target) => {
  const dir = tempDir();
  const socketPath = join(dir.path, "app.sock");
  try {
    const server = start(target, [
      "--access-logfile",
      "-",
      "--access-logformat",
      '[%(h)s] "%(r)s" %(s)s %({x-test}i)s',
      "-b",
      `unix:${socketPath}`,
      PID_APP,
    ]);
    await server.waitFor(/Listening at: unix:/);
    await eventually(
      async () =>
        (await get("http://localhost/x", { socketPath, headers: { "x-test": "t1" } }).catch(() => ({
          status: 0,
        }))).status === 200,
      "an answer",
    );
    await eventually(
      () => server.stdout.includes('[] "GET /x HTTP/1.1" 200 t1\n'),
      "the stdout line",
    );
    await server.stop();
  } finally {
    dir.remove();
  }
});

e2e("USR1 reopens the access log", async (target) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  try {
    const server = start(target, ["--access-logfile", file, "-b", "127.0.0.1:0", PID_APP]);
    const url = await server.ready(1);
    await get(`${url}/before`);
    await eventually(() => readFileSync(file, "utf8").includes("/before"), "the first line");
    renameSync(file, `${file}.1`);
    server.signal("SIGUSR1");
    // Lines written before the worker reopened land in the old file: none may be lost.
    let sent = 0;
    await eventually(async () => {
      await get(`${url}/after`);
      sent += 1;
      return existsSync(file) && readFileSync(file, "utf8").includes("/after");
    }, "lines in the new file");
    const count = (path: string) =>
      readFileSync(path, "utf8").split("\n").filter((l) => l.includes("/after")).length;
    // Lines are written in batches (up to 20 ms late): wait for the last one.
    await eventually(() => count(file) + count(`${file}.1`) >= sent, "every line");
    assert.equal(count(file) + count(`${file}.1`), sent);
    await server.stop();
  } finally {
    dir.remove();
  }
});

e2e("an access log that cannot be opened is one line and exit 1", async (target) => {
  const result = await run(target, [
    "--access-logfile",
    "/nonexistent-dir/access.log",
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^Error: Cannot open access log "\/nonexistent-dir\/access\.log": ENOENT.*\n$/,
  );
});

e2e("--access-logfile - keeps every line whole while stdout is read slowly", async (target) => {
  const server = start(target, [
    "--access-logfile",
    "-",
    "--access-logformat",
    "%(U)s %(a)s",
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  const url = await server.ready(1);
  // Nobody reads the pipe for a while: it fills, and the worker's stdout holds the batches
  // that follow (Bun) or the worker waits for it (Deno, whose stdout writes block, as
  // gunicorn's do) while the requests keep coming.
  server.child.stdout!.pause();
  const pad = "x".repeat(200);
  const count = 3000;
  let next = 0;
  const client = async () => {
    for (let i = next++; i < count; i = next++) {
      assert.equal(
        (await get(`${url}/n${i}`, { headers: { "user-agent": `${pad}${i}` } })).status,
        200,
      );
    }
  };
  const clients = Promise.all(Array.from({ length: 8 }, client));
  const lines = () => server.stdout.split("\n").filter((l) => l.startsWith("/n"));
  await new Promise((resolve) => setTimeout(resolve, 500));
  // 3000 lines of ~210 bytes are far more than a pipe holds: most still wait in the worker.
  assert.ok(lines().length < count / 2, `${lines().length} lines arrived unread`);
  server.child.stdout!.resume();
  await clients;
  await eventually(() => lines().length >= count, "every line");
  const expected = Array.from({ length: count }, (_, i) => `/n${i} ${pad}${i}`);
  assert.deepEqual(lines().sort(), expected.sort());
  await server.stop();
});

e2e("an access log that fills up is reported and serving goes on", async (target) => {
  // /dev/full opens but refuses every write with ENOSPC, as a full disk does.
  const server = start(target, ["--access-logfile", "/dev/full", "-b", "127.0.0.1:0", PID_APP]);
  const url = await server.ready(1);
  const pid = (await get(url)).body;
  for (let i = 0; i < 3; i++) {
    const answer = await get(`${url}/more`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, pid, "the same worker serves on");
    // Each lands in a batch of its own.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const result = await server.stop();
  assert.equal(result.code, 0, result.stderr);
  const reports = result.stderr.split('Cannot write access log "/dev/full"').length - 1;
  assert.equal(reports, 1, result.stderr);
  assert.match(
    result.stderr,
    /\[ERROR\] Cannot write access log "\/dev\/full": .*(ENOSPC|No space)/,
  );
});

e2e("an error log that fills up is reported on stderr and serving goes on", async (target) => {
  // Not even "Listening at" reaches the error log: the port is chosen here.
  const url = `http://127.0.0.1:${await freePort()}`;
  const server = start(target, ["--error-logfile", "/dev/full", "-b", url.slice(7), PID_APP]);
  let pid: number;
  try {
    await server.waitFor(
      /\[\d+\] \[ERROR\] Cannot write error log "\/dev\/full": .*(ENOSPC|No space)/,
    );
    pid = pidOf(await getWhenReady(url));
    for (const path of ["/boom", "/", "/boom", "/"]) {
      const answer = await get(`${url}${path}`);
      assert.equal(answer.status, path === "/boom" ? 500 : 200);
    }
    assert.equal(pidOf(await get(url)), pid, "the same worker serves on");
  } finally {
    await server.stop();
  }
  const result = await server.exited;
  assert.equal(result.code, 0, result.stderr);
  // Once per process, master and worker.
  const reporters = [...result.stderr.matchAll(/\[(\d+)\] \[ERROR\] Cannot write error log/g)]
    .map((m) => Number(m[1]));
  assert.deepEqual(reporters.sort(), [server.pid, pid].sort(), result.stderr);
});

// A pipe whose reader is gone: the first write after that fails with EPIPE. Every worker class,
// threads included (each gthread thread writes its own access lines).
const CLASSES = [["-k", "async"], ["-k", "sync"], ["-k", "gthread", "--threads", "2"]];

/** An answer, or a failure after 10 s (a worker that died mid-request may leave it hanging). */
function answer(url: string): Promise<HttpAnswer> {
  return Promise.race([
    get(url),
    sleep(10_000).then(() => Promise.reject(new Error(`no answer from ${url} in 10 s`))),
  ]);
}

/** Requests the same worker answers, with `also` (requests that make error-log lines) between. */
async function servesOn(url: string, pid: number, also: string[] = []): Promise<void> {
  for (let i = 0; i < 5; i++) {
    for (const path of also) await answer(`${url}${path}`);
    const served = await answer(`${url}/n${i}`);
    assert.equal(served.status, 200, served.body);
    assert.equal(pidOf(served), pid, "the same worker serves on");
    // Each access line in a batch of its own.
    await sleep(40);
  }
}

async function stdoutGone(target: Target, workerClass: string[]): Promise<void> {
  const server = start(target, [
    ...workerClass,
    "--access-logfile",
    "-",
    "-b",
    "127.0.0.1:0",
    PID_APP,
  ]);
  server.child.stdout!.destroy();
  try {
    const url = await server.ready(1);
    const pid = pidOf(await answer(url));
    await servesOn(url, pid);
    await eventually(
      () => server.stderr.includes("Cannot write access log to stdout"),
      "the report",
    );
    await servesOn(url, pid);
    assert.deepEqual(childPids(server.pid), [pid], "no worker was replaced");
  } finally {
    await server.stop();
  }
  const result = await server.exited;
  assert.equal(result.code, 0, result.stderr);
  // Said once in the error log, by each process or thread that wrote access lines.
  const reports = result.stderr.match(/\[ERROR\] Cannot write access log to stdout: .*EPIPE.*/g);
  assert.ok(reports && reports.length <= (workerClass.includes("gthread") ? 2 : 1), result.stderr);
  assert.doesNotMatch(result.stderr, /exited with code|Replacing thread|Uncaught/, result.stderr);
}

e2e("an access log on a stdout nobody reads any more: serving goes on", async (target) => {
  for (const workerClass of CLASSES) await stdoutGone(target, workerClass);
});

async function stderrGone(target: Target, workerClass: string[]): Promise<void> {
  const server = start(target, [...workerClass, "-b", "127.0.0.1:0", PID_APP]);
  try {
    const url = await server.ready(1);
    const pid = pidOf(await answer(url));
    server.child.stderr!.destroy();
    // /boom's error lines come from the worker (a thread under gthread), USR1's from the master.
    await servesOn(url, pid, ["/boom"]);
    server.signal("SIGUSR1");
    await sleep(300);
    await servesOn(url, pid, ["/boom"]);
    assert.ok(!server.ended, "the master serves on");
    assert.deepEqual(childPids(server.pid), [pid], "no worker was replaced");
  } finally {
    await server.stop();
  }
  assert.equal((await server.exited).code, 0);
}

e2e("an error log on a stderr nobody reads any more: serving goes on", async (target) => {
  for (const workerClass of CLASSES) await stderrGone(target, workerClass);
});

// A client that goes away before its response was written whole still gets its request an
// access line, as gunicorn writes one for every request it handled: the status of the head that
// went out, the body bytes written before the disconnect, the time until it. One only: the
// graceful timeout's cut-off writes its own (504) and the HTTP layer none.
const THREADS_APP = join(FIXTURES, "apps", "threads_app.ts");
const ABANDON_CLASSES: [string, string[]][] = [
  ["async", []],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
  ["--reuse-port", ["--reuse-port"]],
];

/** `-b` for `flags`: --reuse-port needs a port of its own (it refuses port 0). */
async function bindFor(flags: string[]): Promise<string[]> {
  return ["-b", `127.0.0.1:${flags.includes("--reuse-port") ? await freePort() : 0}`];
}

/**
 * Sends `GET path` on a raw connection and reads its head and at least `bytes` of what follows;
 * the socket is returned still open, and counts what it received in `received`.
 */
async function readSome(
  url: string,
  path: string,
  bytes: number,
): Promise<{ socket: Socket; received: () => number }> {
  const socket = await rawConnect(Number(new URL(url).port));
  socket.on("error", () => {});
  let got = 0;
  let head = -1;
  let text = "";
  await new Promise<void>((resolve) => {
    socket.on("data", (d: Uint8Array) => {
      got += d.length;
      if (head < 0) {
        text += new TextDecoder("latin1").decode(d);
        const end = text.indexOf("\r\n\r\n");
        if (end >= 0) head = end + 4;
      }
      if (head >= 0 && got - head >= bytes) resolve();
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
  assert.match(text, /^HTTP\/1\.1 200 /);
  return { socket, received: () => got };
}

/** The access lines (`%(U)s?%(q)s %(s)s %(b)s %(D)s`) of requests with `q=tag`, parsed. */
function linesOf(file: string, tag: string): { status: number; bytes: number; micros: number }[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.includes(`q=${tag} `)).map((l) => {
    const [, status, bytes, micros] = l.split(" ");
    return { status: Number(status), bytes: Number(bytes), micros: Number(micros) };
  });
}

for (const [name, flags] of ABANDON_CLASSES) {
  e2e(
    `a response its client abandoned mid-body gets one access line with the bytes sent (${name})`,
    async (target) => {
      const dir = tempDir();
      const file = join(dir.path, "access.log");
      const server = start(target, [
        ...["-w", "1", ...flags, "--access-logfile", file],
        ...["--access-logformat", "%(U)s?%(q)s %(s)s %(b)s %(D)s", ...await bindFor(flags)],
        THREADS_APP,
      ]);
      try {
        const url = await server.ready(1);
        // Server-sent events, 200 of them 50 ms apart (10 s, some 6 KB): the client reads the
        // head and three, then is gone (curl killed by `timeout`).
        const sse = await readSome(url, "/events?n=200&ms=50&q=sse", 60);
        sse.socket.destroy();
        // A 1 GiB download the client stops reading, then closes.
        const download = await readSome(url, "/generate?bytes=1073741824&q=download", 1 << 20);
        download.socket.pause();
        await sleep(300);
        download.socket.destroy();
        // The same with its length declared: the line says what went out, not the length.
        const declared = await readSome(
          url,
          "/generate?bytes=1073741824&length=1&q=declared",
          1 << 20,
        );
        declared.socket.pause();
        await sleep(300);
        declared.socket.destroy();
        await eventually(
          () =>
            linesOf(file, "sse").length > 0 && linesOf(file, "download").length > 0 &&
            linesOf(file, "declared").length > 0,
          "the access lines of the abandoned requests",
        );
        // A later request's line is written after theirs: no second line of theirs came.
        assert.equal((await get(`${url}/whoami?q=after`)).status, 200);
        await eventually(() => linesOf(file, "after").length === 1, "the next request's line");
        await sleep(300);
        const [sseLine, ...moreSse] = linesOf(file, "sse");
        assert.deepEqual(moreSse, [], "one line for the event stream");
        assert.equal(sseLine.status, 200);
        assert.ok(sseLine.bytes > 0 && sseLine.bytes < 200 * 20, `${sseLine.bytes} bytes`);
        // Logged at the disconnect, not when the stream would have ended (10 s; a loaded box
        // may take a while to notice the client gone).
        assert.ok(sseLine.micros < 9_000_000, `${sseLine.micros} µs`);
        const [downloadLine, ...moreDownload] = linesOf(file, "download");
        assert.deepEqual(moreDownload, [], "one line for the download");
        assert.equal(downloadLine.status, 200);
        assert.ok(
          downloadLine.bytes >= 1 << 19 && downloadLine.bytes < 1 << 30,
          `${downloadLine.bytes} bytes`,
        );
        const [declaredLine, ...moreDeclared] = linesOf(file, "declared");
        assert.deepEqual(moreDeclared, [], "one line for the declared download");
        assert.equal(declaredLine.status, 200);
        assert.ok(
          declaredLine.bytes >= 1 << 19 && declaredLine.bytes < 1 << 30,
          `${declaredLine.bytes} bytes`,
        );
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );

  // A stream under way is named at its cut as any request in flight is, the native servers'
  // (--reuse-port) too, from the worker's in-flight table, and its line has the status and bytes
  // that went out.
  const native = flags.includes("--reuse-port");
  e2e(
    `a stream cut off at the graceful timeout gets only the cut-off's access line (${name})`,
    async (target) => {
      const dir = tempDir();
      const file = join(dir.path, "access.log");
      const server = start(target, [
        ...["-w", "1", ...flags, "--graceful-timeout", "1", "--access-logfile", file],
        ...["--access-logformat", "%(U)s?%(q)s %(s)s %(b)s %(D)s", ...await bindFor(flags)],
        THREADS_APP,
      ]);
      try {
        const url = await server.ready(1);
        // 20 s of events, read as they come: still streaming when the second of grace is over.
        const sse = await readSome(url, "/events?n=200&ms=100&q=cut", 60);
        server.signal("SIGTERM");
        const result = await server.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stderr,
          native
            ? /\[WARNING\] Cut off at the graceful timeout \(1 s\) on worker \(pid:\d+\): GET \/events\?n=200&ms=100&q=cut from 127\.0\.0\.1:\d+ for \d+\.\d s\n/
            : /\[WARNING\] Cut off at the graceful timeout \(1 s\) on .*: GET \/events\?n=200&ms=100&q=cut from 127\.0\.0\.1:\d+ for \d+\.\d s\n/,
        );
        sse.socket.destroy();
        const lines = linesOf(file, "cut");
        assert.equal(lines.length, 1, readFileSync(file, "utf8"));
        // The status its client got, and what the server had taken of the stream (the native
        // one) or written (the shared socket): some, not all 200 events.
        assert.equal(lines[0].status, 200);
        assert.ok(lines[0].bytes > 0 && lines[0].bytes < 200 * 20, `${lines[0].bytes}`);
      } finally {
        await server.stop();
        dir.remove();
      }
    },
  );
}

// `{name}o` is the head as it went out: the length and framing the server chose and a type the
// runtime keeps out of the app's headers (Bun's for a string body) are logged as sent, not as
// the app's headers have them (none).
e2e("{name}o logs the content-type, content-length and transfer-encoding sent", async (target) => {
  const dir = tempDir();
  const file = join(dir.path, "access.log");
  const server = start(target, [
    ...["--access-logfile", file, "-b", "127.0.0.1:0"],
    ...[
      "--access-logformat",
      "%(U)s|%({Content-Type}o)s|%({content-length}o)s|%({transfer-encoding}o)s",
    ],
    THREADS_APP,
  ]);
  try {
    const url = await server.ready(1);
    const hello = await get(`${url}/hello`);
    const bytes = await get(`${url}/bytes`);
    const events = await get(`${url}/events?n=3&ms=10`);
    await eventually(() => readFileSync(file, "utf8").includes("/events|"), "the lines");
    const line = (path: string) =>
      readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(`${path}|`))!.split("|");
    const [, helloType, helloLength, helloFraming] = line("/hello");
    assert.equal(helloType.toLowerCase(), String(hello.headers["content-type"]).toLowerCase());
    assert.equal(helloType.toLowerCase(), "text/plain;charset=utf-8");
    assert.equal(helloLength, String(hello.body.length));
    assert.equal(helloLength, hello.headers["content-length"]);
    assert.equal(helloFraming, "-");
    const [, bytesType, bytesLength, bytesFraming] = line("/bytes");
    assert.equal(bytesType, String(bytes.headers["content-type"] ?? "-"));
    assert.equal(bytesLength, "100000");
    assert.equal(bytesFraming, "-");
    assert.deepEqual(line("/events").slice(1), ["text/event-stream", "-", "chunked"]);
    assert.equal(events.headers["transfer-encoding"], "chunked");
  } finally {
    await server.stop();
    dir.remove();
  }
});

// The writer's record of a response is the current one's: a request whose client left before
// its answer was written logs none of the bytes or head of the one before on its connection.
e2e(
  "a kept-alive request whose client left before its answer logs nothing sent",
  async (target) => {
    const dir = tempDir();
    const file = join(dir.path, "access.log");
    const server = start(target, [
      ...["--access-logfile", file, "-b", "127.0.0.1:0"],
      ...["--access-logformat", "%(q)s %(s)s %(b)s %({content-length}o)s", PID_APP],
    ]);
    try {
      const url = await server.ready(1);
      const socket = await rawConnect(Number(new URL(url).port));
      socket.on("error", () => {});
      let text = "";
      const answered = new Promise<void>((resolve) =>
        socket.on("data", (d: Uint8Array) => {
          text += new TextDecoder().decode(d);
          if (text.includes("hello pid")) resolve();
        })
      );
      socket.write("GET /?q=first HTTP/1.1\r\nHost: x\r\n\r\n");
      await answered;
      socket.write("GET /slow?ms=500&q=second HTTP/1.1\r\nHost: x\r\n\r\n");
      await sleep(100);
      // A reset, not a half-close (after which the answer would still be written).
      socket.resetAndDestroy();
      await eventually(() => readFileSync(file, "utf8").includes("q=second "), "the second line");
      const lines = readFileSync(file, "utf8");
      // Before: the second request's line had the first one's 15 bytes.
      assert.match(lines, /^ms=500&q=second 200 - -$/m);
      assert.match(lines, /^q=first 200 (\d+) \1$/m);
    } finally {
      await server.stop();
      dir.remove();
    }
  },
);

// A FIN cannot be told from a half-close (`curl -m`, `nc -N`): the answer is written and the
// client can still read it, so its line has the bytes the socket took. After a reset (above)
// nothing is written: `-`.
e2e(
  "a request whose client half-closed before its answer logs the bytes written, which it reads",
  async (target) => {
    const dir = tempDir();
    const file = join(dir.path, "access.log");
    const server = start(target, [
      ...["--access-logfile", file, "-b", "127.0.0.1:0"],
      ...["--access-logformat", "%(q)s %(s)s %(b)s", PID_APP],
    ]);
    try {
      const url = await server.ready(1);
      const socket = await rawConnect(Number(new URL(url).port));
      socket.on("error", () => {});
      let text = "";
      const ended = new Promise<void>((resolve) => {
        socket.on("data", (d: Uint8Array) => (text += new TextDecoder().decode(d)));
        socket.on("close", () => resolve());
      });
      socket.write("GET /slow?ms=500&q=half HTTP/1.1\r\nHost: x\r\n\r\n");
      await sleep(100);
      socket.end();
      await ended;
      const body = text.slice(text.indexOf("\r\n\r\n") + 4);
      assert.match(text, /^HTTP\/1\.1 200 /, text);
      assert.match(body, /^slow done pid \d+\n$/, text);
      await eventually(() => readFileSync(file, "utf8").includes("q=half "), "the line");
      assert.match(
        readFileSync(file, "utf8"),
        new RegExp(`^ms=500&q=half 200 ${body.length}$`, "m"),
      );
    } finally {
      await server.stop();
      dir.remove();
    }
  },
);

e2e(
  "--reuse-port: %(b)s and %(B)s are the body bytes sent, as on the shared socket",
  async (target) => {
    const requests: [string, { method?: string; body?: string }][] = [
      ["/", {}],
      ["/", { method: "HEAD" }],
      ["/bytes", {}],
      ["/drip?ms=10", {}],
      ["/echo", { method: "POST", body: "abc" }],
    ];
    for (const mode of [[], ["--reuse-port"]]) {
      const dir = tempDir();
      const file = join(dir.path, "access.log");
      const server = start(target, [
        ...["-w", "1", ...mode, "--access-logfile", file],
        ...["--access-logformat", "%(m)s %(U)s %(b)s %(B)s", ...await bindFor(mode)],
        PID_APP,
      ]);
      try {
        const url = await server.ready(1);
        const expected: string[] = [];
        for (const [path, init] of requests) {
          const answer = await get(`${url}${path}`, init);
          assert.equal(answer.status, 200);
          const bytes = Buffer.byteLength(answer.body);
          const method = init.method ?? "GET";
          expected.push(`${method} ${path.split("?")[0]} ${bytes || "-"} ${bytes}`);
        }
        // After the lines of ready()'s own requests.
        const ours = () => readFileSync(file, "utf8").trim().split("\n").slice(-requests.length);
        await eventually(() => ours().at(-1)?.startsWith("POST") === true, "the last line");
        assert.deepEqual(ours(), expected, mode.join(" "));
      } finally {
        await server.stop();
        dir.remove();
      }
    }
  },
);
