// Bun runs a bunfig.toml's `preload` in a process's main thread only, never in its Web Workers
// (Bun 1.4.4, under `bun` and in a compiled file alike). gthread's threads run the app, so each is
// given the same modules through the Worker's own `preload` option: the globals and Bun.plugin
// loaders they set are there, as under `bun run` and the other worker classes.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
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
  return names.filter((name): name is string => typeof name === "string").map((name) => {
    try {
      return Bun.resolveSync(name, dir);
    } catch {
      return name;
    }
  });
}
