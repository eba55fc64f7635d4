import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workspaceMembers } from "../src/deno_workspace.ts";

Deno.test("workspaceMembers(): folders, globs (* one level, ** any) and ! exclusions, as Deno", () => {
  const root = mkdtempSync(join(tmpdir(), "appserve-workspace-"));
  const files = [
    "packages/api/deno.json",
    "packages/greet/deno.jsonc",
    "packages/legacy/package.json",
    "packages/deep/inner/deno.json",
    "packages/notes/readme.txt", // no configuration: no member
    "packages/.hidden/deno.json",
    "packages/node_modules/dep/package.json",
    "tools/deno.json",
  ];
  for (const file of files) {
    mkdirSync(join(root, file, ".."), { recursive: true });
    writeFileSync(join(root, file), "{}");
  }
  const members = (...workspace: string[]) =>
    workspaceMembers({ workspace }, join(root, "deno.json")).map((dir) => dir.slice(root.length));
  try {
    assert.deepEqual(members("./tools", "./missing"), ["/tools", "/missing"]);
    assert.deepEqual(members("./packages/*"), [
      "/packages/api",
      "/packages/greet",
      "/packages/legacy",
    ]);
    assert.deepEqual(members("packages/g*", "./tools"), ["/packages/greet", "/tools"]);
    assert.deepEqual(members("./packages/**"), [
      "/packages/api",
      "/packages/deep/inner",
      "/packages/greet",
      "/packages/legacy",
    ]);
    assert.deepEqual(members("./packages/*", "!./packages/legacy"), [
      "/packages/api",
      "/packages/greet",
    ]);
    assert.deepEqual(members("./nowhere/*"), []);
    // The object form.
    assert.deepEqual(
      workspaceMembers({ workspace: { members: ["./packages/a*"] } }, join(root, "deno.json")),
      [join(root, "packages/api")],
    );
  } finally {
    rmSync(root, { recursive: true });
  }
});
