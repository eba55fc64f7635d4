// Bun runs a bunfig.toml's `preload`, and BUN_OPTIONS' `--preload`, in a process's main thread
// only, never in its Web Workers (Bun 1.4.4, under `bun` and in a compiled file alike). gthread's
// threads run the app, so each is given the same modules through the Worker's own `preload`
// option: the globals and Bun.plugin loaders they set are there, as under `bun run` and the other
// worker classes. BUN_INSPECT_PRELOAD's module, which Bun skips in Workers too, is not given: it
// stays in the main thread, as under `bun` (README says so).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parse as parseToml } from "npm:smol-toml@1.9.1";

/**
 * The modules `dir`'s bunfig.toml preloads (`preload`, a string or a list), as the paths they
 * resolve to from `dir`, where Bun resolves them from (the working directory the process's own
 * preload ran in); none when there is no bunfig.toml or it names none. One that does not resolve
 * is left as written: the Worker then fails on it as the process's main thread would have.
 */
export function bunfigPreload(dir: string): string[] {
  const file = join(dir, "bunfig.toml");
  if (!existsSync(file)) return [];
  let preload: unknown;
  try {
    preload = parseToml(readFileSync(file, "utf8")).preload;
  } catch {
    // Bun refused the process's start on a broken bunfig.toml already.
    return [];
  }
  const names = typeof preload === "string" ? [preload] : Array.isArray(preload) ? preload : [];
  return names.filter((name): name is string => typeof name === "string").map((name) =>
    resolved(name, dir)
  );
}

// One that does not resolve is left as written: the Worker then fails on it as the process's
// main thread would have.
function resolved(name: string, dir: string): string {
  try {
    return Bun.resolveSync(name, dir);
  } catch {
    return name;
  }
}

// Bun's names of its preload option (--require and --import as Node's).
const PRELOAD_FLAGS = new Set(["--preload", "-r", "--require", "--import"]);

/**
 * The modules BUN_OPTIONS (`options`) preloads (`--preload X`, `--preload=X`, and its other
 * names), resolved from `dir` as {@linkcode bunfigPreload}'s. Bun splits BUN_OPTIONS on
 * whitespace outside double quotes, in which a backslash takes the next character as it is.
 */
export function bunOptionsPreload(dir: string, options = process.env.BUN_OPTIONS): string[] {
  const tokens = [...(options ?? "").matchAll(/"((?:[^"\\]|\\.)*)"|\S+/g)].map((m) =>
    m[1] === undefined ? m[0] : m[1].replace(/\\(.)/g, "$1")
  );
  const names: string[] = [];
  tokens.forEach((token, i) => {
    const equals = token.indexOf("=");
    if (equals > 0 && PRELOAD_FLAGS.has(token.slice(0, equals))) {
      names.push(token.slice(equals + 1));
    } else if (PRELOAD_FLAGS.has(token) && i + 1 < tokens.length) names.push(tokens[i + 1]);
  });
  return names.map((name) => resolved(name, dir));
}
