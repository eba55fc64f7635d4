// A default export's onListen (`deno serve`'s) under Bun workers: each worker calls it once its
// listeners accept, once per listener, with the address Deno would pass, on the shared socket and
// under --reuse-port (Bun.serve's own server); a throw is the app's error, logged, and the worker
// serves on (src/worker/on_listen.ts).

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, freePort, get, sleep, start, TARGETS, tempDir } from "../_helpers.ts";

const BUN_WORKERS = TARGETS.filter((t) => t.workers === "bun");

function writeApp(dir: string, calls: string): void {
  writeFileSync(
    join(dir, "app.ts"),
    'import { appendFileSync } from "node:fs";\n' +
      "export default {\n" +
      '  fetch: () => new Response("ok"),\n' +
      "  onListen(addr: unknown) {\n" +
      `    appendFileSync(${JSON.stringify(calls)}, ` +
      "JSON.stringify({ pid: process.pid, addr }) + '\\n');\n" +
      '    if (process.env.ON_LISTEN_THROWS) throw new Error("boom in onListen");\n' +
      "  },\n};\n",
  );
}

function callsIn(file: string): { pid: number; addr: unknown }[] {
  try {
    return readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

for (const target of BUN_WORKERS) {
  for (const reusePort of [false, true]) {
    const mode = reusePort ? "--reuse-port" : "the shared socket";
    Deno.test({
      name: `[${target.name}] onListen under Bun workers on ${mode}: once per worker and listener`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const dir = tempDir();
        try {
          const calls = join(dir.path, "calls.jsonl");
          const sock = join(dir.path, "app.sock");
          writeApp(dir.path, calls);
          const port = await freePort();
          const binds = reusePort
            ? ["--reuse-port", "-b", `127.0.0.1:${port}`]
            : ["-b", `127.0.0.1:${port}`, "-b", `unix:${sock}`];
          const server = start(target, ["-w", "2", ...binds, "app.ts"], { cwd: dir.path });
          try {
            await server.ready(2);
            const expected = reusePort ? [{ transport: "tcp", hostname: "127.0.0.1", port }] : [
              { transport: "tcp", hostname: "127.0.0.1", port },
              { transport: "unix", path: sock },
            ];
            await eventually(() => callsIn(calls).length >= 2 * expected.length, "the calls");
            await sleep(300); // No more come.
            const byPid = Map.groupBy(callsIn(calls), (c) => c.pid);
            assert.equal(byPid.size, 2, server.stderr);
            for (const each of byPid.values()) assert.deepEqual(each.map((c) => c.addr), expected);
          } finally {
            assert.equal((await server.stop()).code, 0);
          }
          // A throw is logged as the app's error; the worker serves on.
          const throwing = start(target, [...binds, "app.ts"], {
            cwd: dir.path,
            env: { ON_LISTEN_THROWS: "1" },
          });
          try {
            const url = await throwing.ready(1);
            await throwing.waitFor(/\[ERROR\] Error in the app's onListen\n.*boom in onListen/);
            assert.equal((await get(url)).status, 200);
          } finally {
            assert.equal((await throwing.stop()).code, 0);
          }
        } finally {
          dir.remove();
        }
      },
    });
  }
}
