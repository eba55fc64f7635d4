// A Deno workspace that lists its members by a glob (`"workspace": ["./packages/*"]`, as Deno's
// docs show for larger repositories): a member's app gets the root's imports and the other
// members by name on every target, started from the root or from the member's folder, and
// --reload watches the whole workspace, as it does for members listed one by one.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { e2e, eventually, get, start, tempDir } from "../_helpers.ts";

const FILES: Record<string, string> = {
  "deno.json": JSON.stringify({
    workspace: ["./packages/*"],
    imports: { "#root/": "./lib/" },
  }),
  "lib/words.ts": 'export const via = "the root\'s imports";\n',
  // A member with its own imports, whose app imports another member by name.
  "packages/api/deno.json": JSON.stringify({ imports: { "page": "./page.ts" } }),
  "packages/api/page.ts": "export const page = (text: string) => `<p>${text}</p>`;\n",
  "packages/api/app.ts": [
    'import process from "node:process";',
    'import { greet } from "@acme/greet";',
    'import { via } from "#root/words.ts";',
    'import { page } from "page";',
    "export default {",
    "  fetch: () => new Response(page(`${greet()}, via ${via}, pid ${process.pid}`)),",
    "};",
    "",
  ].join("\n"),
  "packages/greet/deno.json": JSON.stringify({
    name: "@acme/greet",
    version: "0.1.0",
    exports: "./mod.ts",
  }),
  "packages/greet/mod.ts": 'export const greet = () => "hello v1";\n',
  // Another member's module by path: it loads without the workspace, so only --reload needs it.
  "packages/api/by_path.ts": [
    'import { greet } from "../greet/mod.ts";',
    "export default { fetch: () => new Response(greet()) };",
    "",
  ].join("\n"),
  // A folder the glob matches with no configuration is no member (Deno skips it).
  "packages/notes/readme.txt": "notes\n",
};

function workspace(root: string): void {
  for (const [path, text] of Object.entries(FILES)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

for (const from of ["the root", "the member's folder"]) {
  e2e(`a glob-listed workspace member's app, started from ${from}`, async (target) => {
    const dir = tempDir();
    workspace(dir.path);
    const atRoot = from === "the root";
    const server = start(
      target,
      ["-b", "127.0.0.1:0", atRoot ? "packages/api/app.ts" : "app.ts"],
      { cwd: atRoot ? dir.path : join(dir.path, "packages", "api") },
    );
    try {
      const url = await server.ready(1);
      assert.match(
        (await get(url)).body,
        /^<p>hello v1, via the root's imports, pid \d+<\/p>$/,
      );
    } finally {
      const result = await server.stop();
      dir.remove();
      assert.equal(result.code, 0, result.stderr);
    }
  });
}

e2e("--reload in a glob-listed workspace sees an edit in another member", async (target) => {
  const dir = tempDir();
  workspace(dir.path);
  const server = start(target, ["--reload", "-b", "127.0.0.1:0", "by_path.ts"], {
    cwd: join(dir.path, "packages", "api"),
  });
  try {
    const url = await server.ready(1);
    assert.match((await get(url)).body, /hello v1/);
    writeFileSync(
      join(dir.path, "packages", "greet", "mod.ts"),
      'export const greet = () => "hello v2";\n',
    );
    await eventually(async () => /hello v2/.test((await get(url)).body), "the edit served");
    assert.match(server.stderr, /Worker reloading: .*packages\/greet\/mod\.ts modified/);
  } finally {
    const result = await server.stop();
    dir.remove();
    assert.equal(result.code, 0, result.stderr);
  }
});
