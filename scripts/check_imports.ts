// Fails when an import goes up the folder order below or closes a cycle
// between files: each folder may import only the folders listed before it,
// so a newcomer can read the tree bottom-up (docs/architecture.md's map).

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import process from "node:process";

/**
 * The folder order, lowest first. A "folder" is a directory under src/, a
 * file directly in src/, workers/ or mod.ts, or a file listed on its own
 * (the CLI's entry, src/cli/main.ts); each may import only what comes before
 * it (and itself). The entry files come last: they hand mod.ts's exports to
 * --logger-class modules.
 */
export const LAYERS: readonly string[] = [
  "src/version.ts",
  "src/exit_codes.ts",
  "src/errors.ts",
  "src/address_space.ts",
  "src/jsonc.ts",
  "src/nearest.ts",
  "src/deno_workspace.ts",
  "src/body_tap.ts",
  "src/spent_body.ts",
  "src/request_signal.ts",
  "src/fetch_handler.ts",
  "src/runtime",
  "src/net",
  "src/config",
  "src/process_title.ts",
  "src/tls",
  "src/http",
  "src/app",
  "src/log",
  "src/hooks.ts",
  "src/ipc",
  "src/worker",
  "src/master",
  "src/cli",
  "mod.ts",
  "workers",
  "src/cli/main.ts",
];

/** An import the check tolerates while it exists; listed here so it stays visible. */
export interface KnownException {
  from: string;
  to: string;
  why: string;
}

export const KNOWN_EXCEPTIONS: readonly KnownException[] = [];

/** One relative import of one file, with the line it is on. */
export interface ImportEdge {
  from: string;
  to: string;
  line: number;
}

/** Options for {@linkcode checkImports}. */
export interface CheckImportsOptions {
  /** Folder order, lowest first. @default {LAYERS} */
  layers?: readonly string[];
  /** Imports tolerated while they exist. @default {KNOWN_EXCEPTIONS} */
  exceptions?: readonly KnownException[];
  /** Paths under root to scan. @default {["src", "workers", "mod.ts"]} */
  roots?: readonly string[];
}

// A static import or re-export at the start of a line (deno fmt puts every
// module-level one there, so JSDoc examples and strings never match), a
// side-effect import, or a dynamic import("literal") anywhere in code.
const STATIC =
  /^(?:import|export)\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\}|[\w$]+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+[\w$]+))?)\s+from\s*["']([^"']+)["']/gm;
const SIDE_EFFECT = /^import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Every relative import in one file's source, as paths relative to root. */
export function parseImports(file: string, source: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const add = (specifier: string, index: number) => {
    if (!specifier.startsWith(".")) return;
    const to = join(dirname(file), specifier).split(sep).join("/");
    edges.push({ from: file, to, line: source.slice(0, index).split("\n").length });
  };
  for (const m of source.matchAll(STATIC)) add(m[1], m.index);
  for (const m of source.matchAll(SIDE_EFFECT)) add(m[1], m.index);
  // Dynamic imports: only in code, not in comment lines or after `//`.
  let offset = 0;
  for (const line of source.split("\n")) {
    if (!/^\s*(\*|\/\*|\/\/)/.test(line)) {
      const code = line.replace(/\/\/.*$/, "");
      for (const m of code.matchAll(DYNAMIC)) add(m[1], offset + m.index);
    }
    offset += line.length + 1;
  }
  return edges;
}

/**
 * The folder a file belongs to: itself when the order lists it on its own, else src/<dir>, a file
 * directly in src/, workers or mod.ts.
 */
export function folderOf(file: string, layers: readonly string[] = LAYERS): string {
  if (layers.includes(file)) return file;
  const parts = file.split("/");
  if (parts[0] === "src" && parts.length > 2) return `src/${parts[1]}`;
  if (parts[0] === "workers") return "workers";
  return file;
}

function listFiles(root: string, path: string, out: string[]): void {
  const full = join(root, path);
  if (statSync(full).isDirectory()) {
    for (const entry of readdirSync(full).sort()) listFiles(root, join(path, entry), out);
  } else if (full.endsWith(".ts")) out.push(path.split(sep).join("/"));
}

/** Every import of every .ts file under the roots, relative to root. */
export function collectImports(root: string, roots: readonly string[]): ImportEdge[] {
  const files: string[] = [];
  for (const path of roots) listFiles(root, path, files);
  return files.flatMap((file) => parseImports(file, readFileSync(join(root, file), "utf8")));
}

// Tarjan's strongly connected components: every component of more than one
// file (or a file importing itself) is a cycle.
function cycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!next.has(from)) next.set(from, []);
    if (!next.has(to)) next.set(to, []);
    next.get(from)!.push(to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node)!) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || next.get(node)!.includes(node)) found.push(component.sort());
  };
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

// One path around a cycle, starting and ending at its first file, for the message.
function cyclePath(component: readonly string[], edges: readonly ImportEdge[]): string[] {
  const members = new Set(component);
  const start = component[0];
  const previous = new Map<string, string>([[start, ""]]);
  const queue = [start];
  while (queue.length) {
    const node = queue.shift()!;
    for (const { from, to } of edges) {
      if (from !== node || !members.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let at = node; at !== start; at = previous.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(to)) {
        previous.set(to, node);
        queue.push(to);
      }
    }
  }
  return [...component, start];
}

/** One line per offence: upward imports, unknown folders, cycles, stale exceptions. */
export function findOffences(
  edges: readonly ImportEdge[],
  options: Pick<CheckImportsOptions, "layers" | "exceptions"> = {},
): string[] {
  const layers = options.layers ?? LAYERS;
  const exceptions = options.exceptions ?? KNOWN_EXCEPTIONS;
  const rank = new Map(layers.map((folder, i) => [folder, i]));
  const excused = (edge: ImportEdge) =>
    exceptions.some((e) => e.from === edge.from && e.to === edge.to);
  const offences: string[] = [];
  const unplaced = new Set<string>();
  for (const edge of edges) {
    const [from, to] = [folderOf(edge.from, layers), folderOf(edge.to, layers)];
    for (const folder of [from, to]) {
      if (!rank.has(folder) && !unplaced.has(folder)) {
        unplaced.add(folder);
        offences.push(`${folder}: not in the folder order in scripts/check_imports.ts`);
      }
    }
    if (from === to || !rank.has(from) || !rank.has(to) || excused(edge)) continue;
    if (rank.get(to)! > rank.get(from)!) {
      offences.push(
        `${edge.from}:${edge.line}: upward import of ${edge.to} (${from} may not import ${to})`,
      );
    }
  }
  // Every cycle between folders has an upward import, reported above; cycles
  // between files are reported here, inside a folder too.
  for (const component of cycles(edges.filter((edge) => !excused(edge)))) {
    const path = cyclePath(component, edges);
    const all = component.length > path.length - 1
      ? ` (${component.length} files in all: ${component.join(", ")})`
      : "";
    offences.push(`import cycle: ${path.join(" -> ")}${all}`);
  }
  for (const e of exceptions) {
    if (!edges.some((edge) => edge.from === e.from && edge.to === e.to)) {
      offences.push(`${e.from}: no longer imports ${e.to}; remove its known exception`);
    }
  }
  return offences;
}

/** What each folder imports today, in folder order: one line per folder. */
export function folderGraph(
  edges: readonly ImportEdge[],
  layers: readonly string[] = LAYERS,
): string[] {
  const uses = new Map<string, Set<string>>();
  for (const edge of edges) {
    const [from, to] = [folderOf(edge.from, layers), folderOf(edge.to, layers)];
    if (from === to) continue;
    if (!uses.has(from)) uses.set(from, new Set());
    uses.get(from)!.add(to);
  }
  return layers.map((folder) => {
    const targets = [...uses.get(folder) ?? []].sort((a, b) =>
      layers.indexOf(a) - layers.indexOf(b)
    );
    return `${folder}: ${targets.join(", ") || "(nothing)"}`;
  });
}

/**
 * The folders of the map in a markdown document: the backquoted first cells of
 * the table rows under the "## Folders" heading, in their order.
 */
export function mapFolders(markdown: string): string[] {
  const section = markdown.split(/^## /m).find((part) => part.startsWith("Folders\n")) ?? "";
  return [...section.matchAll(/^\| `([^`]+)`\s*\|/gm)].map((m) => m[1]);
}

/** An offence when the document's map lists other folders, or in another order, than layers. */
export function checkMap(markdown: string, layers: readonly string[] = LAYERS): string[] {
  const listed = mapFolders(markdown);
  if (listed.length === 0) return ['docs/architecture.md: no folder map table under "## Folders"'];
  const row = layers.findIndex((folder, i) => listed[i] !== folder);
  if (row < 0 && listed.length === layers.length) return [];
  const at = row < 0 ? layers.length : row;
  return [
    `docs/architecture.md: row ${at + 1} of the folder map is ${listed[at] ?? "missing"}, ` +
    `scripts/check_imports.ts has ${layers[at] ?? "no folder"} there`,
  ];
}

/** Scans root and returns one line per offence; empty when the imports are in order. */
export function checkImports(root: string, options: CheckImportsOptions = {}): string[] {
  return findOffences(collectImports(root, options.roots ?? ["src", "workers", "mod.ts"]), options);
}

function main(root: string, args: readonly string[]): number {
  if (args.includes("--graph")) {
    const edges = collectImports(root, ["src", "workers", "mod.ts"]);
    process.stdout.write(folderGraph(edges).join("\n") + "\n");
    return 0;
  }
  const offences = [
    ...checkImports(root),
    ...checkMap(readFileSync(join(root, "docs", "architecture.md"), "utf8")),
  ];
  if (offences.length) {
    process.stderr.write(`Imports out of the folder order:\n${offences.join("\n")}\n`);
    return 1;
  }
  process.stdout.write(`imports: ok (${LAYERS.length} folders, one way)\n`);
  return 0;
}

if (import.meta.main) process.exitCode = main(join(import.meta.dirname!, ".."), process.argv);
