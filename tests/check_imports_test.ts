import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  checkImports,
  checkMap,
  findOffences,
  folderGraph,
  parseImports,
} from "../scripts/check_imports.ts";

// A small tree in the shape of appserve's: two folders, a root file and mod.ts.
const LAYERS = ["src/errors.ts", "src/low", "src/high", "mod.ts"];
const TREE: Record<string, string> = {
  "src/errors.ts": "export class Oops extends Error {}\n",
  "src/low/a.ts": 'import { Oops } from "../errors.ts";\nexport const a = () => new Oops();\n',
  "src/low/b.ts": 'import { a } from "./a.ts";\nexport const b = a;\n',
  "src/high/c.ts": [
    "import {",
    "  b,",
    '} from "../low/b.ts";',
    'import type { Oops } from "../errors.ts";',
    "export const c = (o?: Oops) => b() ?? o;",
    "",
  ].join("\n"),
  "mod.ts":
    'export { c } from "./src/high/c.ts";\nexport const main = () => import("./src/high/c.ts");\n',
};

function withTree(
  edits: Record<string, string>,
  check: (offences: string[]) => void,
  exceptions: { from: string; to: string; why: string }[] = [],
): void {
  const root = mkdtempSync(join(tmpdir(), "check_imports_"));
  try {
    for (const [path, text] of Object.entries({ ...TREE, ...edits })) {
      mkdirSync(join(root, dirname(path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    check(checkImports(root, { layers: LAYERS, exceptions, roots: ["src", "mod.ts"] }));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

Deno.test("checkImports() passes a tree whose imports go down the folder order", () => {
  withTree({}, (offences) => assert.deepEqual(offences, []));
});

Deno.test("checkImports() reports an upward import between folders, with its line", () => {
  const upward = 'import { c } from "../high/c.ts";\nexport const a = () => c;\n';
  withTree({ "src/low/a.ts": upward }, (offences) => {
    assert.ok(
      offences.includes(
        "src/low/a.ts:1: upward import of src/high/c.ts (src/low may not import src/high)",
      ),
      offences.join("\n"),
    );
  });
});

Deno.test("checkImports() reports an upward dynamic import into mod.ts", () => {
  const dynamic = 'export const a = async () => (await import("../../mod.ts")).c;\n';
  withTree({ "src/low/a.ts": dynamic }, (offences) => {
    assert.ok(offences.some((o) => o.startsWith("src/low/a.ts:1: upward import of mod.ts")));
  });
});

Deno.test("checkImports() reports a cycle between files of one folder", () => {
  const back = 'import { b } from "./b.ts";\nexport const a = () => b;\n';
  withTree({ "src/low/a.ts": back }, (offences) => {
    assert.deepEqual(offences, ["import cycle: src/low/a.ts -> src/low/b.ts -> src/low/a.ts"]);
  });
});

Deno.test("checkImports() reports a folder missing from the order", () => {
  withTree({ "src/extra/d.ts": 'import { a } from "../low/a.ts";\nexport const d = a;\n' }, (
    offences,
  ) => {
    assert.deepEqual(offences, ["src/extra: not in the folder order in scripts/check_imports.ts"]);
  });
});

Deno.test("checkImports() tolerates a known exception only while it exists", () => {
  const upward = 'import { c } from "../high/c.ts";\nexport const a = () => c;\n';
  const exception = { from: "src/low/a.ts", to: "src/high/c.ts", why: "test" };
  withTree({ "src/low/a.ts": upward }, (offences) => assert.deepEqual(offences, []), [exception]);
  withTree({}, (offences) => {
    assert.deepEqual(offences, [
      "src/low/a.ts: no longer imports src/high/c.ts; remove its known exception",
    ]);
  }, [exception]);
});

Deno.test("parseImports() reads static, type, multi-line and dynamic imports, not comments", () => {
  const source = [
    "// Usage:",
    ' * import { x } from "./in_a_comment.ts";',
    'import type { A } from "./a.ts";',
    "import {",
    "  b,",
    "  type B,",
    '} from "./b.ts";',
    'export * from "./c.ts";',
    'export { d } from "./d.ts";',
    'import "./side_effect.ts";',
    'import process from "node:process";',
    'const e = await import("./e.ts"); // not import("./f.ts")',
    "",
  ].join("\n");
  const edges = parseImports("src/x/file.ts", source);
  assert.deepEqual(
    edges.map((e) => `${e.to}:${e.line}`).sort(),
    [
      "src/x/a.ts:3",
      "src/x/b.ts:4",
      "src/x/c.ts:8",
      "src/x/d.ts:9",
      "src/x/e.ts:12",
      "src/x/side_effect.ts:10",
    ].sort(),
  );
});

Deno.test("folderGraph() lists what each folder imports, in folder order", () => {
  const edges = [
    { from: "mod.ts", to: "src/high/c.ts", line: 1 },
    { from: "src/high/c.ts", to: "src/low/b.ts", line: 1 },
    { from: "src/high/c.ts", to: "src/errors.ts", line: 2 },
    { from: "src/low/b.ts", to: "src/low/a.ts", line: 1 },
  ];
  assert.deepEqual(folderGraph(edges, LAYERS), [
    "src/errors.ts: (nothing)",
    "src/low: (nothing)",
    "src/high: src/errors.ts, src/low",
    "mod.ts: src/high",
  ]);
  assert.deepEqual(findOffences(edges, { layers: LAYERS, exceptions: [] }), []);
});

Deno.test("checkMap() holds the document's folder table to the order", () => {
  const table = (rows: string[]) =>
    ["# Doc", "", "## Folders", "", "| Folder | What |", "| --- | --- |"]
      .concat(rows.map((r) => `| \`${r}\` | something |`), ["", "## Next", "", "| `x` | y |"])
      .join("\n");
  assert.deepEqual(checkMap(table(LAYERS), LAYERS), []);
  assert.deepEqual(checkMap(table(["src/errors.ts", "src/high", "src/low", "mod.ts"]), LAYERS), [
    "docs/architecture.md: row 2 of the folder map is src/high, " +
    "scripts/check_imports.ts has src/low there",
  ]);
  assert.deepEqual(checkMap("# Doc\n", LAYERS), [
    'docs/architecture.md: no folder map table under "## Folders"',
  ]);
});
