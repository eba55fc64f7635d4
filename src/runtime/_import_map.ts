// A Deno project's import map (`imports` and `scopes` of its deno.json or
// deno.jsonc, or of the file its `importMap` names), read so that Bun workers
// resolve the project's specifiers the way `deno run` would.

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseJsonc } from "../jsonc.ts";
import { denoConfigIn } from "../deno_workspace.ts";
import { nearest } from "../nearest.ts";

type Imports = Record<string, string>;

/** An import map with its targets and scope prefixes made absolute. */
export interface ImportMap {
  /** The file it was read from. */
  file: string;
  imports: Imports;
  /**
   * Scope prefix and its imports, the longest prefix first; a third element names the file the
   * scope comes from when it is not `file` (a workspace member's own deno.json).
   */
  scopes: [string, Imports, string?][];
}

/** The deno.json or deno.jsonc in `dir` or the nearest folder above it, as `deno run` finds it. */
export function findDenoConfig(dir: string): string | undefined {
  return nearest(dir, denoConfigIn);
}

// A target or scope key written relative to the map file, or as a file URL, becomes a path.
function absolute(value: string, base: string): string {
  if (value.startsWith("file://")) return fileURLToPath(value) + (value.endsWith("/") ? "/" : "");
  if (/^\.{0,2}\//.test(value)) return resolve(base, value) + (value.endsWith("/") ? "/" : "");
  return value;
}

function stringsOf(value: unknown, what: string, base: string): Imports {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`"${what}" must be an object`);
  }
  const out: Imports = {};
  for (const [key, target] of Object.entries(value)) {
    if (typeof target !== "string") throw new Error(`"${what}" entry "${key}" must be a string`);
    out[key] = absolute(target, base);
  }
  return out;
}

/** A deno.json, deno.jsonc or tsconfig.json as an object; throws an Error naming the file. */
export function parseFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
  }
  return parseJsonc(text, file);
}

/**
 * The import map of a deno.json/deno.jsonc: its own `imports` and `scopes`, or those of the
 * file its `importMap` names. Undefined when it has none. Throws an Error naming the file.
 */
export function readImportMap(configFile: string): ImportMap | undefined {
  let file = configFile;
  let json = parseFile(file);
  if (json.imports === undefined && json.scopes === undefined) {
    if (typeof json.importMap !== "string") return undefined;
    file = absolute(json.importMap, dirname(configFile));
    json = parseFile(file);
  }
  const base = dirname(file);
  try {
    const imports = stringsOf(json.imports, "imports", base);
    const raw = json.scopes ?? {};
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new Error(`"scopes" must be an object`);
    }
    const scopes: [string, Imports][] = Object.entries(raw).map((
      [prefix, map],
    ) => [absolute(prefix, base), stringsOf(map, `scopes["${prefix}"]`, base)]);
    scopes.sort((a, b) => b[0].length - a[0].length);
    return { file, imports, scopes };
  } catch (error) {
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
  }
}

// Deno lets `"pkg": "npm:pkg@1"` (or jsr:) also serve `pkg/sub`, as if `"pkg/"` were mapped too.
const PACKAGE_TARGET = /^(npm|jsr):/;

function lookup(imports: Imports, specifier: string): string | undefined {
  if (Object.hasOwn(imports, specifier)) return imports[specifier];
  let best = "";
  let found: string | undefined;
  for (const [key, target] of Object.entries(imports)) {
    const prefix = key.endsWith("/") ? key : PACKAGE_TARGET.test(target) ? `${key}/` : undefined;
    if (prefix === undefined || prefix.length <= best.length || !specifier.startsWith(prefix)) {
      continue;
    }
    best = prefix;
    const rest = specifier.slice(prefix.length);
    found = key.endsWith("/") ? target + rest : `${target}/${rest}`;
  }
  return found;
}

/**
 * What `specifier`, imported by the module at path `importer`, maps to: the most specific
 * scope holding the importer first, then the top-level imports. Undefined when unmapped.
 */
export function mapSpecifier(
  map: ImportMap,
  specifier: string,
  importer: string,
): string | undefined {
  return find(map, specifier, importer)?.[0];
}

/** The file whose entry maps `specifier` in `importer`, for messages; `map.file` by default. */
export function mappedBy(map: ImportMap, specifier: string, importer: string): string {
  return find(map, specifier, importer)?.[1] ?? map.file;
}

function find(map: ImportMap, specifier: string, importer: string): [string, string] | undefined {
  for (const [prefix, imports, file] of map.scopes) {
    if (!importer.startsWith(prefix)) continue;
    const found = lookup(imports, specifier);
    if (found !== undefined) return [found, file ?? map.file];
  }
  const found = lookup(map.imports, specifier);
  return found === undefined ? undefined : [found, map.file];
}
