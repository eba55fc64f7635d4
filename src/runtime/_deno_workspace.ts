// A Deno workspace's import map for Bun workers, as `deno run` resolves a member's imports: the
// root deno.json's imports and scopes, each member's own as a scope of its folder, and each
// member's "name" (with its "exports") importable from every member. Bun alone sees only the
// nearest deno.json, so a member's app importing the root's mappings or another member by name
// would fail in Bun's raw words instead of loading (or saying it needs Deno).

import { resolve } from "node:path";
import { denoConfigIn, findWorkspace } from "../deno_workspace.ts";
import { type ImportMap, parseFile, readImportMap } from "./_import_map.ts";

type Imports = Record<string, string>;

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
  const workspace = findWorkspace(config, parseFile);
  if (!workspace) return readImportMap(config);
  const top = readImportMap(workspace.root);
  const map: ImportMap = {
    file: top?.file ?? workspace.root,
    imports: { ...top?.imports },
    scopes: [...top?.scopes ?? []],
  };
  for (const dir of workspace.members) {
    const file = denoConfigIn(dir);
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
