// The README's advice for a SQLite file that several Bun workers write (a busy timeout, then WAL,
// before the first statement): two workers boot on a fresh database, each running the schema at
// import, and concurrent inserts all succeed.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES, get, start, TARGETS, tempDir } from "../_helpers.ts";

const binary = TARGETS.find((t) => t.name === "binary")!;
const APP = join(FIXTURES, "bun_workers", "sqlite", "app.ts");

Deno.test({
  name: "[binary] a SQLite file in WAL mode with a busy timeout takes -w 2's writes, none locked",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = tempDir();
    const server = start(binary, ["--runtime", "bun", "-w", "2", "-b", "127.0.0.1:0", APP], {
      env: { APP_DB: join(dir.path, "app.sqlite") },
    });
    try {
      const url = await server.allAnswering(2);
      const posts = await Promise.all(
        Array.from({ length: 200 }, () => fetch(url, { method: "POST" }).then((r) => r.status)),
      );
      assert.deepEqual(posts.filter((s) => s !== 200), []);
      assert.match((await get(url)).body, /^200 pid \d+\n$/);
      assert.doesNotMatch(server.stderr, /locked|ERROR/);
    } finally {
      const result = await server.stop();
      dir.remove();
      assert.equal(result.code, 0, result.stderr);
    }
  },
});
