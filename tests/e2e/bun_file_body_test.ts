// Blob and file bodies of Bun apps, as Bun.serve sends them, on the shared socket and with
// --reuse-port (Bun workers only: Bun.file() and the typing of Blobs are Bun's): a file that
// cannot be sent (missing, a directory) goes to the app's `error`, or without one is logged at
// ERROR and answered 500, with its access line; a typed Blob keeps its type.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, constants, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, freePort, get, ownFrames, start, TARGETS, tempDir } from "../_helpers.ts";
import { differences, type Probe, serveWithBun } from "../_bun_routes_diff.ts";

const APP = join(FIXTURES, "apps", "bun_file_body_app.ts");
const BUN_WORKERS = TARGETS.filter((t) => t.workers === "bun");
// gthread's threads serve the shared socket with an app each (workers/thread_entry.ts).
const MODES: [string, string[]][] = [
  ["shared socket", []],
  ["gthread", ["-k", "gthread", "--threads", "2"]],
  ["--reuse-port", ["--reuse-port"]],
];
const PATHS = ["/missing", "/dir", "/missing-slice", "/blob", "/slice", "/file", "/throw"];
// Bun.serve's Content-Disposition for a file, by its name and type: none with HEAD (whose type
// Bun.serve leaves out for a Response made without fields: PLAIN), none when the app set its own.
const NAMES = ["a.bin", "a.pdf", "noext", "a.txt", "a.png", "a.json", 'qu"ote.bin', "sé mi.bin"];
const NAMED = NAMES.map((name) => `/named/${encodeURIComponent(name)}`);
const DISPOSED = [
  ...NAMED,
  ...[0, 1, 2, 3, 4].map((n) => `/typed/${n}`),
  "/own-disposition",
  "/cloned",
  "/by-url",
  "/bin-slice",
  "/empty-file",
];
// Made without header fields, which nothing read, or a clone of one: Bun.serve sends their HEAD
// without a type.
const PLAIN = [...NAMED, "/by-url", "/empty-file", "/plain-slice", "/part-206", "/cloned"];
// Header fields given as a Map or a generator, or none by an empty Map or a function: the app's
// type with HEAD too, or none; a 206 part's Content-Range only without fields.
const SHAPED = ["map", "generator", "empty-map", "function"].flatMap((shape) => [
  `/shaped/${shape}`,
  `/shaped-part/${shape}`,
]);
const PROBES: Probe[] = [
  ...PATHS.map((path) => ({ path })),
  ...DISPOSED.map((path) => ({ path })),
  ...DISPOSED.filter((path) => !PLAIN.includes(path)).map((path) => ({
    method: "HEAD",
    path,
    headTypeDiffers: true,
  })),
  ...PLAIN.map((path) => ({ method: "HEAD", path })),
  // A part the app answers with 206: Bun.serve adds its Content-Range.
  { path: "/part-206" },
  ...[...SHAPED, "/cloned-part"].flatMap((path) => [{ path }, { method: "HEAD", path }]),
];

/**
 * A directory of the files NAMES, for the app's /named/ and /typed/ routes, and an empty one
 * (NAMED_FILES).
 */
function namedFiles(): { path: string; remove: () => void } {
  const dir = tempDir();
  for (const name of NAMES) writeFileSync(join(dir.path, name), "some bytes\n");
  writeFileSync(join(dir.path, "empty.bin"), "");
  return dir;
}

function serve(
  target: (typeof TARGETS)[number],
  args: string[],
  port: number,
  app: string,
  env: Record<string, string> = {},
) {
  return start(target, [
    "-w",
    "1",
    ...args,
    "--access-logfile",
    "-",
    "--access-logformat",
    "%(r)s %(s)s %(B)s",
    "-b",
    `127.0.0.1:${port}`,
    app,
  ], { env });
}

for (const target of BUN_WORKERS) {
  for (const [mode, args] of MODES) {
    Deno.test({
      name:
        `[${target.name}] [${mode}] a file body that cannot be sent goes to the app's error(), a typed Blob keeps its type, a file gets its Content-Disposition, as under Bun.serve`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        // Listeners of their own must agree on a port beforehand.
        const port = args.includes("--reuse-port") ? await freePort() : 0;
        const named = namedFiles();
        const env = { NAMED_FILES: named.path };
        const server = serve(target, args, port, APP, env);
        const url = await server.ready(1);
        const native = await serveWithBun(APP, env);
        try {
          assert.deepEqual(
            await differences(native.url, url, PROBES, ["content-disposition", "content-range"]),
            [],
          );
        } finally {
          native.stop();
          named.remove();
        }
        // Each answer's access line: the status and the bytes the client got.
        const lines = await server.waitFor(/^GET \/throw .*$/m).then(() =>
          server.stdout.split("\n").filter((l) => /^GET \/\S/.test(l))
        );
        const blob = lines.find((l) => l.startsWith("GET /blob "));
        assert.equal(blob, "GET /blob HTTP/1.1 200 6");
        assert.match(lines.find((l) => l.startsWith("GET /missing "))!, / 503 1\d\d$/);
        assert.match(lines.find((l) => l.startsWith("GET /dir "))!, / 503 \d+$/);
        assert.equal(lines.find((l) => l.startsWith("GET /slice ")), "GET /slice HTTP/1.1 200 100");
        const result = await server.stop();
        // The app's error() answered: nothing logged, as under Bun.serve.
        assert.doesNotMatch(result.stderr, /\[ERROR\]/);
      },
    });

    Deno.test({
      name:
        `[${target.name}] [${mode}] without error(), a file body that cannot be sent is logged at ERROR and answered 500, with its access line`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const port = args.includes("--reuse-port") ? await freePort() : 0;
        const server = serve(target, args, port, `${APP}:plain`);
        const url = await server.ready(1);
        for (const path of ["/missing", "/dir"]) {
          const answer = await get(`${url}${path}`);
          assert.deepEqual([answer.status, answer.body], [500, "Internal Server Error\n"], path);
          await server.waitFor(new RegExp(`^GET ${path} HTTP/1.1 500 22$`, "m"));
        }
        await server.waitFor(
          /\[ERROR\] Error handling request GET \/missing\nError: ENOENT: no such file or directory, open '[^']*no_such_file\.txt'$/m,
        );
        await server.waitFor(
          /\[ERROR\] Error handling request GET \/dir\nError: Cannot stream a directory as a response body$/m,
        );
        const result = await server.stop();
        // The error is the runtime's, about the app's file: no stack of appserve's.
        assert.deepEqual(ownFrames(result.stderr), []);
      },
    });

    Deno.test({
      name:
        `[${target.name}] [${mode}] a file body that is a FIFO nobody writes to does not hold the worker`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const dir = tempDir();
        const fifo = join(dir.path, "fifo");
        assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
        const port = args.includes("--reuse-port") ? await freePort() : 0;
        const server = serve(target, args, port, APP, { FIFO_PATH: fifo });
        try {
          const url = await server.ready(1);
          // Its answer may wait for a writer; the worker's other requests must not.
          const waiting = fetch(`${url}/fifo`, { signal: AbortSignal.timeout(3000) }).catch(
            () => {},
          );
          await new Promise((resolve) => setTimeout(resolve, 300));
          const other = await fetch(`${url}/file`, { signal: AbortSignal.timeout(5000) })
            .then((r) => r.status, (e) => `no answer: ${e}`);
          assert.equal(other, 200);
          await waiting;
        } finally {
          // A writer lets a worker blocked in open(2) go (the old code), so it can stop; opened
          // non-blocking, it fails at once (ENXIO) when no reader waits.
          try {
            closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
          } catch {
            // No reader: nothing to let go.
          }
          await server.stop();
          dir.remove();
        }
      },
    });
  }
}
