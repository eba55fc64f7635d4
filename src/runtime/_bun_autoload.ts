// What `bun run` reads from the project's directory at start and the compiled binary does not:
// it is built without Bun's .env and bunfig.toml autoload, so that its master reads nothing of
// the app (a .env's PORT must not move appserve's bind, a bunfig preload must not run as root
// before the privilege drop). Its Bun workers get both here, in the worker's own directory
// (after --chdir) and as the worker's user.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseEnv } from "node:util";
import { parse as parseToml } from "smol-toml";

// The binary defines these as themselves (Makefile: LIVE_ENV), on its command line, which Bun
// puts over a bunfig.toml's [define]: a project's own define of one is restated after it.
const LIVE_DEFINES = ["process.env.NODE_ENV", "process.env.BUN_ENV"];

/** `file`'s [define] of LIVE_DEFINES as `--define` options; none where Bun would say it is broken. */
function ownDefines(file: string): string[] {
  let defines: unknown;
  try {
    defines = parseToml(readFileSync(file, "utf8")).define;
  } catch {
    return [];
  }
  if (defines === null || typeof defines !== "object") return [];
  return LIVE_DEFINES.flatMap((key) => {
    const value = (defines as Record<string, unknown>)[key];
    if (typeof value !== "string") return [];
    const quote = value.includes("'") ? '"' : "'";
    // No quoting holds both kinds (Bun's splitting has no escapes): a JS string has no need to.
    return value.includes(quote) ? [] : [`${quote}--define=${key}=${value}${quote}`];
  });
}

/**
 * The environment variable that makes a worker process of the binary read `dir`'s bunfig.toml
 * (preload, [define], ...), as `bun run` there would; undefined when it has none.
 */
export function bunfigEnv(dir: string, env = process.env): Record<string, string> | undefined {
  const file = join(dir, "bunfig.toml");
  if (!existsSync(file)) return undefined;
  // Before the user's own options, which win. Bun splits BUN_OPTIONS on spaces outside quotes.
  const quote = file.includes('"') ? "'" : '"';
  const own = [`${quote}--config=${file}${quote}`, ...ownDefines(file)].join(" ");
  return { BUN_OPTIONS: env.BUN_OPTIONS ? `${own} ${env.BUN_OPTIONS}` : own };
}

/** The .env files Bun autoloads in `dir`, the one that wins first. */
function dotenvFiles(dir: string, env: NodeJS.ProcessEnv): string[] {
  const mode = env.NODE_ENV || "development";
  const names = [".env"];
  if (["production", "development", "test"].includes(mode)) names.unshift(`.env.${mode}`);
  if (mode !== "test") names.unshift(".env.local");
  return names.map((name) => join(dir, name)).filter((file) => existsSync(file));
}

const REFERENCE = /\\\$|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g;

/**
 * Sets the variables of `dir`'s .env files that the environment has not, as Bun's autoload
 * does: `.env.local` over `.env.${NODE_ENV}` over `.env`, `$VAR` and `${VAR}` expanded (from
 * the environment first, then the files; `\$` is a dollar sign). Returns the files read.
 */
export function loadDotenv(dir: string, env = process.env): string[] {
  const files = dotenvFiles(dir, env);
  const values = new Map<string, string>();
  for (const file of files) {
    for (const [key, value] of Object.entries(parseEnv(readFileSync(file, "utf8")))) {
      if (!values.has(key)) values.set(key, value ?? "");
    }
  }
  const expanded = new Map<string, string>();
  const expand = (key: string, seen: Set<string>): string => {
    const done = expanded.get(key);
    if (done !== undefined) return done;
    const text = (values.get(key) ?? "").replace(REFERENCE, (escape, braced, bare) => {
      if (escape === "\\$") return "$";
      const name = braced ?? bare;
      if (env[name] !== undefined) return env[name]!;
      // A cycle (A=$B, B=$A) ends as empty, as an unknown name does.
      if (!values.has(name) || seen.has(name)) return "";
      return expand(name, new Set(seen).add(name));
    });
    expanded.set(key, text);
    return text;
  };
  for (const key of values.keys()) {
    if (env[key] === undefined) env[key] = expand(key, new Set([key]));
  }
  return files;
}
