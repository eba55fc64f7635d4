// A request the app fails is logged alike on the shared socket and under --reuse-port (the
// runtime's native server): an access line with the status the client got, and the error log's
// ERROR with what was thrown, or, for a body the client cut, a WARNING and 400.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  e2e,
  eventually,
  FIXTURES,
  get,
  ownFrames,
  type Server,
  start,
  startOneWorker,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { uploadUnderWay } from "../_upload.ts";
import { rawConnect, rawExchange } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "failing_app.ts");

// One worker, its access log on stdout.
const startOne = (target: Target, args: string[], app = APP): Promise<Server> =>
  startOneWorker(target, app, ["--access-logfile", "-", ...args]);

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

// Each app failure: the request, and the line after the ERROR's headline.
const FAILURES: [string, RegExp][] = [
  ["/throw", /Error: thrown by the app\n/],
  ["/reject", /Error: rejected by the app\n/],
  ["/none", /TypeError: app handler returned number instead of a Response\n/],
  ["/throw-null", /null \(a value with no message or stack\)\n/],
  // The cause follows the stack, with its own, as `deno run` prints it.
  ["/cause", /Error: thrown with a cause\n(?: +at .*\n)+Caused by: SyntaxError: .*JSON.*\n/],
];

// Whether the client resets, and the app's failed read thrown (/upload) or answered with a 500 of
// the app's own (/upload-answered, as Hono's onError does).
const UPLOADS: [boolean, string][] = [
  [false, "/upload"],
  [true, "/upload"],
  [false, "/upload-answered"],
];

const SETUPS: [string, string[]][] = [
  ["the shared socket", []],
  ["--reuse-port", ["--reuse-port"]],
  ["--reuse-port (sync)", ["--reuse-port", "-k", "sync"]],
];

for (const [name, args] of SETUPS) {
  e2e(`app failures get an access line and an ERROR, on ${name}`, async (target) => {
    const server = await startOne(target, args);
    const url = await server.ready();
    for (const [path, detail] of FAILURES) {
      const answer = await get(url + path);
      assert.equal(answer.status, 500, answer.body);
      assert.equal(answer.body, "Internal Server Error\n");
      await server.waitFor(new RegExp(`"GET ${escaped(path)} HTTP/1\\.1" 500 22 `));
      const headline = `[ERROR] Error handling request GET ${path}\n`;
      assert.match(server.stderr, new RegExp(escaped(headline) + detail.source));
      // One ERROR a request.
      assert.equal(server.stderr.split(headline).length, 2, server.stderr);
    }
    await server.stop();
  });

  // Under Deno workers appserve's frames are its bundle's (process_entry.js, minified names), under
  // Bun the binary's (/$bunfs/): the user's stack stops at the app's own frames.
  e2e(`an app error's stack shows the app's frames, not appserve's, on ${name}`, async (target) => {
    const server = await startOne(target, args);
    const url = await server.ready();
    assert.equal((await get(url + "/helper")).status, 500);
    const headline = "[ERROR] Error handling request GET /helper\n";
    await server.waitFor(new RegExp(escaped(headline)));
    // Up to the next log line.
    const stack = server.stderr.split(headline)[1].split(/\n(?=\[\d{4}-)/)[0].trimEnd();
    const [message, ...frames] = stack.split("\n");
    assert.equal(message, "Error: thrown by a helper for /helper");
    const app = (file: string) =>
      new RegExp(`^ +at .*${escaped(join(FIXTURES, "apps", file))}:\\d+:\\d+\\)?$`);
    assert.match(frames[0] ?? "", app("failing_helper.ts"), stack);
    assert.match(frames[1] ?? "", app("failing_app.ts"), stack);
    assert.equal(frames.length, 2, stack);
    assert.deepEqual(ownFrames(server.stderr), [], server.stderr);
    await server.stop();
  });

  // Sized: a Content-Length the stream never reaches does not make its body known whole.
  for (const path of ["/midway", "/midway-sized"]) {
    e2e(
      `a response stream that fails midway: an ERROR with the request line, on ${name} (${path})`,
      async (target) => {
        const server = await startOne(target, args);
        const url = new URL(await server.ready());
        const answer = await rawExchange(
          Number(url.port),
          `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        // Cut: the first chunk, never the chunked body's end.
        assert.match(answer.text, /^HTTP\/1\.1 200 [^]*first\n/);
        assert.doesNotMatch(answer.text, /\r\n0\r\n\r\n$/);
        // What a cut sized reply counts is the runtime's to say.
        const bytes = path === "/midway" ? "6" : "\\d+";
        await server.waitFor(new RegExp(`"GET ${escaped(path)} HTTP/1\\.1" 200 ${bytes} `));
        await server.waitFor(
          new RegExp(
            escaped(`[ERROR] Error in the response body of GET ${path}; the reply was cut off\n`) +
              "Error: boom midway\n",
          ),
        );
        // Said once, through the logger: nothing of the runtime's own.
        assert.equal(server.stderr.split("boom midway").length, 2, server.stderr);
        await server.stop();
      },
    );
  }

  // The sync worker serves no /uploading while the upload is under way.
  if (args.includes("sync")) continue;
  for (const [reset, path] of UPLOADS) {
    const how = (reset ? "reset (RST)" : "closed (FIN)") +
      (path === "/upload" ? "" : ", the app answering 500");
    e2e(
      `an upload the client ${how} is its fault: 400 and a WARNING, on ${name}`,
      async (target) => {
        // Not yet with Deno.serve, which leaves the request's signal alone when the client
        // leaves mid-body: nothing tells the worker the read failed (clientLeftMidBody).
        const native = args.includes("--reuse-port");
        if (native && path === "/upload-answered" && target.workers === "deno") return;
        const server = await startOne(target, args);
        const url = new URL(await server.ready());
        const socket = await uploadUnderWay(url, path);
        if (reset) socket.resetAndDestroy();
        else socket.destroy();
        // After a reset nothing can reach the client: no bytes, where the native server has none.
        await server.waitFor(new RegExp(`"POST ${path} HTTP/1\\.1" 400 (79|-) `));
        assert.match(
          server.stderr,
          /\[WARNING\] Invalid request from ip=127\.0\.0\.1: client closed the connection before the request body was complete \(400\)\n/,
        );
        assert.doesNotMatch(server.stderr, /\[ERROR\]/);
        await server.stop();
      },
    );
  }
}

// Says to a GET how many bodies it read. Reads a POST's body whole, then answers a 500 of its own
// once the client left (Bun.serve aborts the signal then; Deno.serve does not: after 2 s).
const READ_THEN_500 = `let read = 0;
export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response(read + "\\n");
    await request.text();
    read++;
    await new Promise((done) => {
      request.signal.addEventListener("abort", done);
      setTimeout(done, 2000);
    });
    return new Response("the app's own\\n", { status: 500 });
  },
};
`;

// A client that left after its whole body was read did not break the read: the app's 500 stays
// the app's (--reuse-port's Bun workers took it for a body cut: 400 and a WARNING).
for (const [name, args] of SETUPS.filter(([, args]) => !args.includes("sync"))) {
  e2e(`a 500 after the body was read whole stays the app's, on ${name}`, async (target) => {
    const dir = tempDir();
    try {
      const app = join(dir.path, "app.js");
      writeFileSync(app, READ_THEN_500);
      const server = await startOne(target, args, app);
      const url = new URL(await server.ready());
      const socket = await rawConnect(Number(url.port));
      socket.on("error", () => {});
      socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
      await eventually(
        async () => (await get(url.href)).body === "1\n",
        "the app reading the body",
      );
      socket.destroy();
      await server.waitFor(/"POST \/ HTTP\/1\.1" 500 /);
      assert.doesNotMatch(server.stderr, /Invalid request|client closed|\[ERROR\]/);
      await server.stop();
    } finally {
      dir.remove();
    }
  });
}

// XDG_CACHE_HOME set to the project's own folder (README: a folder the image keeps): the Deno
// worker bundle is then <project>/appserve/VERSION-ID/, and the folders beside it are the user's.
// A frame in the project's workers/ (a name appserve's source tree has too) is the user's.
e2e(
  "the user's frames stay in an app error's stack with XDG_CACHE_HOME at the project",
  async (t) => {
    const project = tempDir();
    try {
      mkdirSync(join(project.path, "workers"));
      writeFileSync(
        join(project.path, "workers", "boom.ts"),
        'export function boom(): Response {\n  throw new Error("thrown in workers/boom.ts");\n}\n',
      );
      const app = join(project.path, "app.ts");
      writeFileSync(
        app,
        // Not a tail call (`return boom()`), which Bun's JavaScriptCore leaves no frame of.
        'import { boom } from "./workers/boom.ts";\n' +
          'export default { fetch() {\n  boom();\n  return new Response("not thrown");\n} };\n',
      );
      const server = start(t, ["-w", "1", "-b", "127.0.0.1:0", app], {
        env: { XDG_CACHE_HOME: project.path },
      });
      const url = await server.ready();
      assert.equal((await get(url)).status, 500);
      const headline = "[ERROR] Error handling request GET /\n";
      await server.waitFor(new RegExp(escaped(headline)));
      const stack = server.stderr.split(headline)[1].split(/\n(?=\[\d{4}-)/)[0].trimEnd();
      const [message, ...frames] = stack.split("\n");
      assert.equal(message, "Error: thrown in workers/boom.ts");
      // Where it was thrown, then the app's frame that called it.
      for (const [i, file] of [join("workers", "boom.ts"), "app.ts"].entries()) {
        const at = escaped(join(project.path, file));
        assert.match(frames[i] ?? "", new RegExp(`^ +at .*${at}:\\d+:\\d+\\)?$`), stack);
      }
      await server.stop();
    } finally {
      project.remove();
    }
  },
);
