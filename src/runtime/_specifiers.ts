// The import specifiers written in a module's source, and Deno's `npm:` form of
// them, for the Bun loader plugin (_bun_imports.ts) that makes a Deno project's
// imports what Bun resolves. Text and file names only: nothing here loads a module.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { nearest } from "../nearest.ts";

// A string literal after `from`, `import`, `import(` or `require(` (not a method such as
// `Array.from("...")`). Only the literal itself is replaced, so no line moves and the
// user's stack traces keep their lines.
const SPECIFIER = /((?<![.$\w])(?:from|import|require)\s*\(?\s*)(["'])([^"'\r\n]+)\2/g;

/**
 * `source` with every import specifier for which `rewrite` returns a string replaced by it;
 * the same string when none is.
 */
export function rewriteSpecifiers(
  source: string,
  rewrite: (specifier: string) => string | undefined,
): string {
  return source.replace(SPECIFIER, (whole, lead: string, _quote: string, specifier: string) => {
    const replaced = rewrite(specifier);
    return replaced === undefined ? whole : lead + JSON.stringify(replaced);
  });
}

/** The parts of an `npm:` specifier. */
export interface NpmSpecifier {
  /** The package name, with its scope. */
  name: string;
  /** The version or range after `@`; "" when none. */
  version: string;
  /** What follows the name and version, with its leading `/`; "" when none. */
  subpath: string;
}

const NPM = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]*))?(\/.*)?$/;

/** `npm:@scope/name@^1/sub` in parts; undefined for anything else. */
export function parseNpmSpecifier(specifier: string): NpmSpecifier | undefined {
  const m = NPM.exec(specifier);
  return m ? { name: m[1], version: m[2] ?? "", subpath: m[3] ?? "" } : undefined;
}

/** Whether `node_modules/NAME` exists in `dir` or a folder above it, where Bun would look. */
export function isInstalled(name: string, dir: string): boolean {
  return nearest(
    dir,
    (at) => existsSync(join(at, "node_modules", name, "package.json")) || undefined,
  ) ?? false;
}
