// The JSX settings a project names in its config (`compilerOptions`: `jsx`, `jsxImportSource`,
// `jsxFactory`, `jsxFragmentFactory`), for Bun workers to apply where Bun reads no config: a Deno
// project's deno.json always, and the binary's tsconfig.json, whose JSX options the binary's Bun
// leaves unread (its paths it applies). They become pragmas, which Bun honours in any file.

import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseFile } from "./_import_map.ts";
import { nearest } from "../nearest.ts";

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

/** tsconfig.json in `dir` or the nearest folder above it, as Bun finds it for a module. */
function findTsconfig(dir: string): string | undefined {
  return nearest(dir, (at) => {
    const file = join(at, "tsconfig.json");
    return isFile(file) ? file : undefined;
  });
}

const NAMES = ["jsx", "jsxImportSource", "jsxFactory", "jsxFragmentFactory"] as const;
type Jsx = Partial<Record<(typeof NAMES)[number], string>>;

/**
 * The JSX settings of a config file, over those of the file its `extends` names and so on, as
 * Bun 1.4 reads them: a path from the config's folder, with its `.json` (Bun ignores a list, a
 * package name and a path without the extension, and so does this). A file that is not there, or
 * one already on the way, adds nothing.
 */
function jsxIn(file: string, seen = new Set<string>()): Jsx | undefined {
  seen.add(file);
  const json = parseFile(file);
  const jsx: Jsx = {};
  if (typeof json.extends === "string") {
    const base = resolve(dirname(file), json.extends);
    if (isFile(base) && !seen.has(base)) Object.assign(jsx, jsxIn(base, seen));
  }
  const options = json.compilerOptions as Record<string, unknown> | undefined;
  for (const name of NAMES) {
    const value = options?.[name];
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") {
      throw new Error(`Cannot read ${file}: "compilerOptions.${name}" must be a string`);
    }
    jsx[name] = value;
  }
  return Object.keys(jsx).length ? jsx : undefined;
}

function pragmasOf(jsx: Jsx, map: (source: string) => string): string | undefined {
  const pragmas = jsx.jsx === "react"
    ? [
      "@jsxRuntime classic",
      ...(jsx.jsxFactory ? [`@jsx ${jsx.jsxFactory}`] : []),
      ...(jsx.jsxFragmentFactory ? [`@jsxFrag ${jsx.jsxFragmentFactory}`] : []),
    ]
    : jsx.jsxImportSource
    ? [`@jsxImportSource ${map(jsx.jsxImportSource)}`]
    : [];
  // On the file's first line, so that its lines stay where they are.
  return pragmas.length ? pragmas.map((p) => `/** ${p} */ `).join("") : undefined;
}

/**
 * The pragmas that give a Deno project's .tsx/.jsx files the JSX settings of its deno.json
 * (one for the whole program, as in Deno); `map` turns an import source into what Bun should
 * import. Undefined when it sets none. A broken deno.json throws an Error naming it.
 */
export function denoJsxPragma(
  denoConfig: string,
  map: (source: string) => string,
): string | undefined {
  const jsx = jsxIn(denoConfig);
  return jsx && pragmasOf(jsx, map);
}

/**
 * The pragmas for a .tsx/.jsx file in `dir` from the tsconfig.json nearest to it (and the file it
 * extends), as Bun would apply it; undefined when it sets none or cannot be read (Bun reads it
 * too, for its paths, and says what it makes of a broken one). Remembered per folder: every file
 * asks.
 */
export function tsconfigJsxPragma(dir: string): string | undefined {
  if (TSCONFIG_PRAGMAS.has(dir)) return TSCONFIG_PRAGMAS.get(dir);
  const file = findTsconfig(dir);
  let pragma: string | undefined;
  try {
    const jsx = file ? jsxIn(file) : undefined;
    pragma = jsx && pragmasOf(jsx, (source) => source);
  } catch {
    pragma = undefined;
  }
  TSCONFIG_PRAGMAS.set(dir, pragma);
  return pragma;
}

const TSCONFIG_PRAGMAS = new Map<string, string | undefined>();
