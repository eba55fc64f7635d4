// What `bun run` reads from the project's directory at start and the compiled binary does not:
// it is built without Bun's .env and bunfig.toml autoload, so that its master reads nothing of
// the app (a .env's PORT must not move appserve's bind, a bunfig preload must not run as root
// before the privilege drop). Its Bun workers get both here, in the worker's own directory
// (after --chdir) and as the worker's user.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseEnv } from "node:util";
import { parse as parseToml } from "npm:smol-toml@1.9.1";

/** TOKEN as one option of BUN_OPTIONS, which Bun splits on whitespace outside quotes. */
function asOption(token: string): string {
  // Unquoted, a token is taken as it is, quotes and backslashes too; in double quotes a backslash
  // takes the next character as it is.
  return /\s/.test(token) ? `"${token.replace(/["\\]/g, "\\$&")}"` : token;
}

/**
 * `file`'s [define] as `--define` options. Bun drops a bunfig's defines as soon as its command
 * line has one, and the binary's always has its own (Makefile: LIVE_ENV keeps
 * process.env.NODE_ENV and BUN_ENV live reads): each is restated after those, so it applies, and
 * one of the two wins over the binary's, as under `bun run`. Bun reads only string values.
 */
function ownDefines(file: string): string[] {
  let defines: unknown;
  try {
    defines = parseToml(readFileSync(file, "utf8")).define;
  } catch {
    return [];
  }
  if (defines === null || typeof defines !== "object") return [];
  return Object.entries(defines as Record<string, unknown>).flatMap(([key, value]) =>
    typeof value === "string" ? [asOption(`--define=${key}=${value}`)] : []
  );
}

/**
 * The environment variable that makes a worker process of the binary read `dir`'s bunfig.toml
 * (preload, [define], ...), as `bun run` there would; undefined when it has none.
 */
export function bunfigEnv(dir: string, env = process.env): Record<string, string> | undefined {
  const file = join(dir, "bunfig.toml");
  if (!existsSync(file)) return undefined;
  // Before the user's own options, which win.
  const own = [asOption(`--config=${file}`), ...ownDefines(file)].join(" ");
  return { BUN_OPTIONS: env.BUN_OPTIONS ? `${own} ${env.BUN_OPTIONS}` : own };
}

const MODES = ["production", "development", "test"];

/**
 * The names of the .env files Bun autoloads, the one that wins first: under NODE_ENV `mode`, or
 * (no mode) under any of them.
 */
export function dotenvNames(mode?: string): string[] {
  const modes = mode === undefined ? MODES : MODES.filter((m) => m === mode);
  return [...(mode === "test" ? [] : [".env.local"]), ...modes.map((m) => `.env.${m}`), ".env"];
}

/** The .env files Bun autoloads in `dir`, the one that wins first. */
function dotenvFiles(dir: string, env: NodeJS.ProcessEnv): string[] {
  return dotenvNames(env.NODE_ENV || "development").map((name) => join(dir, name))
    .filter((file) => existsSync(file));
}

// `\$`, `${NAME}`, `${NAME:-default}` (the default, itself expanded, only for a name that is not
// set: Bun keeps an empty value), `$NAME`.
const REFERENCE = /\\\$|\$\{([A-Za-z_]\w*)(?::-([^}]*))?\}|\$([A-Za-z_]\w*)/g;

/**
 * Sets the variables of `dir`'s .env files that the environment has not, as Bun's autoload
 * does: `.env.local` over `.env.${NODE_ENV}` over `.env`, `$VAR`, `${VAR}` and `${VAR:-default}`
 * expanded (from the environment first, then the files; `\$` is a dollar sign). Returns the files
 * read.
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
    const reference = (escape: string, braced?: string, fallback?: string, bare?: string) => {
      if (escape === "\\$") return "$";
      const name = (braced ?? bare)!;
      if (env[name] !== undefined) return env[name]!;
      if (!values.has(name) && fallback !== undefined) {
        return fallback.replace(REFERENCE, reference);
      }
      // A cycle (A=$B, B=$A) ends as empty, as an unknown name does.
      if (!values.has(name) || seen.has(name)) return "";
      return expand(name, new Set(seen).add(name));
    };
    const text = (values.get(key) ?? "").replace(REFERENCE, reference);
    expanded.set(key, text);
    return text;
  };
  for (const key of values.keys()) {
    if (env[key] === undefined) env[key] = expand(key, new Set([key]));
  }
  return files;
}
