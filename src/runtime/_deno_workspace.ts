// A Deno workspace's import map for Bun workers, as `deno run` resolves a member's imports: the
// root deno.json's imports and scopes, each member's own as a scope of its folder, and each
// member's "name" (with its "exports") importable from every member. Bun alone sees only the
// nearest deno.json, so a member's app importing the root's mappings or another member by name
// would fail in Bun's raw words instead of loading (or saying it needs Deno).

import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type ImportMap, parseFile, readImportMap } from "./_import_map.ts";

type Imports = Record<string, string>;

function configIn(dir: string): string | undefined {
  return ["deno.json", "deno.jsonc"].map((name) => join(dir, name))
    .find((file) => existsSync(file) && statSync(file).isFile());
}

// The member folders a deno.json lists: `"workspace": [...]` or `{ "members": [...] }`.
function membersOf(json: Record<string, unknown>, file: string): string[] {
  const workspace = json.workspace as unknown;
  const list = Array.isArray(workspace)
    ? workspace
    : (workspace as { members?: unknown } | undefined)?.members;
  return Array.isArray(list) ? list.map((m) => resolve(dirname(file), String(m))) : [];
}

/** The workspace root's deno.json and its members: `config` itself or the root listing it. */
function workspaceOf(config: string): { root: string; members: string[] } | undefined {
  const own = membersOf(parseFile(config), config);
  if (own.length) return { root: config, members: own };
  const member = dirname(config);
  for (let dir = dirname(member); dirname(dir) !== dir; dir = dirname(dir)) {
    const file = configIn(dir);
    if (!file) continue;
    const members = membersOf(parseFile(file), file);
    return members.includes(member) ? { root: file, members } : undefined;
  }
  return undefined;
}

// A member's "name" and "exports" as import map entries: "@acme/lib" and "@acme/lib/sub".
function exportsOf(json: Record<string, unknown>, dir: string): Imports {
  const name = json.name;
  if (typeof name !== "string" || !name) return {};
  const raw = json.exports;
  const exports = typeof raw === "string" ? { ".": raw } : raw;
  if (exports === null || typeof exports !== "object" || Array.isArray(exports)) return {};
  const out: Imports = {};
  for (const [key, target] of Object.entries(exports)) {
    if (typeof target !== "string") continue;
    const specifier = key === "." ? name : key.startsWith("./") ? `${name}/${key.slice(2)}` : "";
    if (specifier) out[specifier] = resolve(dir, target);
  }
  return out;
}

/**
 * The import map Bun workers apply for the app whose nearest configuration is `config`: the
 * workspace's when `config` is a workspace root or one of its members, else `config`'s own.
 * Undefined when there is none. Throws an Error naming a broken file.
 */
export function readProjectImportMap(config: string): ImportMap | undefined {
  const workspace = workspaceOf(config);
  if (!workspace) return readImportMap(config);
  const top = readImportMap(workspace.root);
  const map: ImportMap = {
    file: top?.file ?? workspace.root,
    imports: { ...top?.imports },
    scopes: [...top?.scopes ?? []],
  };
  for (const dir of workspace.members) {
    const file = configIn(dir);
    if (!file) continue; // A package.json member: Bun resolves it from node_modules itself.
    // The root's own mapping of a name wins over the member's.
    map.imports = { ...exportsOf(parseFile(file), dir), ...map.imports };
    const own = file === workspace.root ? undefined : readImportMap(file);
    if (!own) continue;
    map.scopes.push([dir + "/", own.imports, own.file]);
    for (const [prefix, imports] of own.scopes) map.scopes.push([prefix, imports, own.file]);
  }
  if (!Object.keys(map.imports).length && !map.scopes.length) return undefined;
  map.scopes.sort((a, b) => b[0].length - a[0].length);
  return map;
}
