// The Deno worker bundle: appserve's worker and thread entries with every dependency inlined
// (only node: builtins left), so `deno run` loads it under the user's deno.json instead of
// appserve's. `make` builds it into dist/deno/ (scripts/build_worker_bundle.ts) and the binary
// embeds it; before Deno workers start, the master installs the files into a per-version cache
// directory, written to a temporary name and renamed (two masters at once are safe) and checked
// against their hashes every time (a damaged file is written again, never run); before each
// worker is spawned the master sees they are still there (a temp cleaner may empty the folder).

import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.ts";
import { markBundleUsed } from "./bundle_prune.ts";
import type { Runtime } from "../runtime/types.ts";
import { VERSION } from "../version.ts";

/** The bundle's files; the binary embeds each as `<name>.txt` (Bun's file loader keeps bytes). */
export const BUNDLE_FILES = ["process_entry.js", "thread_entry.js", "appserve_shim.js"] as const;
export type BundleFile = typeof BUNDLE_FILES[number];

const ENTRIES = ["workers/process_entry.ts", "workers/thread_entry.ts", "workers/appserve_shim.ts"];

/** The checkout this file belongs to (meaningless inside the binary). */
const ROOT = fileURLToPath(new URL("../../", import.meta.url).href);

/** Where `make` and the source launcher put the bundle. */
export const SOURCE_BUNDLE_DIR = join(ROOT, "dist", "deno");

/**
 * `deno bundle` arguments that write the bundle into `outdir`. src/runtime/bun.ts stays out
 * (its bun:ffi import would stop Deno from loading the bundle; Deno never takes that branch), and
 * so does the command line mod.ts main() loads: a worker never runs it, and the bundler would
 * load every `node:` module it imports at the worker's start (docs/architecture.md).
 */
export function bundleArgs(outdir: string): string[] {
  return [
    "bundle",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    "--platform",
    "deno",
    // Every worker holds the bundle's source in its heap and parses it at start: minified, that
    // is 1 MB less of heap per idle worker (docs/architecture.md). Names are kept for messages.
    "--minify",
    "--keep-names",
    "--external",
    "*/bun.ts",
    "--external",
    "*/run_cli.ts",
    "--outdir",
    outdir,
    ...ENTRIES,
  ];
}

/** Builds the bundle into `dir` with `deno`: into a temporary folder, then renamed file by file. */
export function buildBundle(deno: string, dir: string): void {
  const temp = `${dir}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const run = spawnSync(deno, bundleArgs(temp), {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    if (run.status !== 0) {
      const why = (run.stderr || run.error?.message || "").trim().split("\n")[0];
      throw new ConfigError(`Cannot build the Deno worker bundle with ${deno}: ${why}`);
    }
    mkdirSync(dir, { recursive: true });
    for (const name of BUNDLE_FILES) {
      const path = join(temp, name);
      writeFileSync(path, lazyRequire(latin1Source(readFileSync(path, "utf8"))));
      renameSync(path, join(dir, name));
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * `source` with a module-level `require` for its CommonJS dependencies (ws, hot-shots), made on
 * the first call. `deno bundle --minify` leaves out the `createRequire` of `node:module` its
 * unminified output starts with, so esbuild's shim threw "Dynamic require of "node:events" is not
 * supported" on the first WebSocket; and made eagerly it cost an idle worker about 1 MB of RSS
 * (docs/architecture.md, "Memory and start-up"). Only the shim names `require` in the bundle.
 */
export function lazyRequire(source: string): string {
  if (!source.includes("Dynamic require of")) return source;
  return "var __appserveRequire;var require=function(id){return(__appserveRequire??=globalThis." +
    `process.getBuiltinModule("node:module").createRequire(import.meta.url))(id)};${source}`;
}

/**
 * `source` with every character past U+00FF written as a `\u` escape, the same code. V8 keeps a
 * script's source for as long as it runs, and one such character (a `→` in a comment) makes it
 * keep two bytes per character (docs/architecture.md, "Memory and start-up").
 */
export function latin1Source(source: string): string {
  // A character a backslash escapes (`/\→/`) becomes the escape itself; U+2028/U+2029 stay, as
  // they end a `//` comment (the bundle test then fails). A String.raw template would keep the
  // escape's text: the bundle has none with such a character.
  return source.replace(/(\\*)([\u0100-\u2027\u202a-\uffff])/g, (_, slashes: string, c: string) => {
    const kept = slashes.length % 2 === 1 ? slashes.slice(1) : slashes;
    return `${kept}\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

// The newest modification time of appserve's sources, which the bundle must not be older than.
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(ROOT, "src"));
  walk(join(ROOT, "workers"));
  for (const file of ["deno.json", "package.json"]) {
    newest = Math.max(newest, statSync(join(ROOT, file)).mtimeMs);
  }
  return newest;
}

/** Why dist/deno/ must be (re)built under the source launcher, or undefined when it is current. */
export function sourceBundleStale(dir: string = SOURCE_BUNDLE_DIR): string | undefined {
  let oldest = Infinity;
  for (const name of BUNDLE_FILES) {
    try {
      oldest = Math.min(oldest, statSync(join(dir, name)).mtimeMs);
    } catch {
      return "missing";
    }
  }
  return oldest < newestSource() ? "older than the sources" : undefined;
}

/** The bundle's bytes: embedded in the binary, or dist/deno/ under the source launcher. */
export async function bundleBytes(
  runtime: Runtime,
  dir: string = SOURCE_BUNDLE_DIR,
): Promise<Map<BundleFile, Uint8Array>> {
  const files = new Map<BundleFile, Uint8Array>();
  for (const name of BUNDLE_FILES) {
    const bytes = runtime.compiled
      ? await runtime.embeddedFile(`${name}.txt`)
      : readFileSync(join(dir, name));
    if (!bytes) throw new ConfigError(`This appserve binary holds no Deno worker bundle: ${name}`);
    files.set(name, bytes);
  }
  return files;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Where the bundle went, and what the master should say about it. */
export interface InstalledBundle {
  dir: string;
  /** Every file written there (the bundle's and the `alongside` ones), to see they are still. */
  paths: string[];
  /** The paths of the `alongside` files, in their order. */
  alongside: string[];
  /** Warnings of what installing did: a damaged file was written again. */
  notes: string[];
  /** Why the bundle is in the private temp folder (the cache was not writable), to warn of. */
  fallback?: string;
}

export interface InstallOptions {
  env: Record<string, string | undefined>;
  /** @default the effective uid */
  uid?: number;
  /**
   * Files that name the folder they are in (the import map names the shim by its path), written
   * with the bundle's: a folder that cannot take them is fallen back from as for the bundle's.
   */
  alongside?: (dir: string) => Map<string, Uint8Array>;
}

/** The cache base, then a private temp dir: `$XDG_CACHE_HOME/appserve`, `/tmp/appserve-UID`. */
export function cacheCandidates(options: InstallOptions): { dir: string; private: boolean }[] {
  const { env } = options;
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const xdg = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : "";
  const cache = xdg || (env.HOME ? join(env.HOME, ".cache") : "");
  return [
    ...(cache ? [{ dir: join(cache, "appserve"), private: false }] : []),
    { dir: join(tmpdir(), `appserve-${uid}`), private: true },
  ];
}

// A shared temp folder must be ours alone: not a symlink, owned by us, writable by nobody else.
function ownPrivateDir(dir: string, uid: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`not a private folder of uid ${uid}`);
  }
}

/**
 * Writes `bytes` to `dir/name` under a temporary name and renames it into place. A failed write
 * (a full disk) or rename removes the temporary file: each retry would leave one more.
 */
function writeAtomically(dir: string, name: string, bytes: Uint8Array): void {
  const temp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", 0o644);
  try {
    try {
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, join(dir, name));
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

// The file's hash; "missing" when there is none, or why it cannot be read (a chmod 000 file).
function hashOf(file: string): { hash: string } | { unreadable: string } | "missing" {
  try {
    return { hash: sha256(readFileSync(file)) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "missing" : { unreadable: code ?? (error as Error).message };
  }
}

/** Makes `dir/name` hold exactly `bytes`; says so when a different or unreadable file was there. */
export function placeFile(dir: string, name: string, bytes: Uint8Array, notes: string[]): void {
  const want = sha256(bytes);
  const file = join(dir, name);
  const had = hashOf(file);
  if (typeof had === "object" && "hash" in had && had.hash === want) return;
  writeAtomically(dir, name, bytes);
  const now = hashOf(file);
  if (typeof now !== "object" || !("hash" in now) || now.hash !== want) {
    throw new Error(`${file} does not read back as written`);
  }
  if (had === "missing") return;
  const why = "hash" in had ? "its hash differed" : `unreadable: ${had.unreadable}`;
  notes.push(`${file} was damaged (${why}): written again`);
}

/** Installs the files into `<cache>/appserve/<version>-<hash>/` (or the temp fallback). */
export function installBundle(
  files: Map<string, Uint8Array>,
  options: InstallOptions,
): InstalledBundle {
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const id = sha256(
    new TextEncoder().encode([...files].map(([name, b]) => `${name}:${sha256(b)}`).join("\n")),
  ).slice(0, 16);
  const notes: string[] = [];
  const failures: string[] = [];
  for (const candidate of cacheCandidates(options)) {
    const dir = join(candidate.dir, `${VERSION}-${id}`);
    try {
      if (candidate.private) ownPrivateDir(candidate.dir, uid);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const alongside = [...options.alongside?.(dir) ?? []];
      const all = [...files, ...alongside];
      for (const [name, bytes] of all) placeFile(dir, name, bytes, notes);
      markBundleUsed(dir);
      const path = ([name]: [string, Uint8Array]) => join(dir, name);
      const fallback = failures.length
        ? `Cannot use ${failures[0]}; the Deno worker bundle is in ${dir}`
        : undefined;
      return { dir, paths: all.map(path), alongside: alongside.map(path), notes, fallback };
    } catch (error) {
      failures.push(`${candidate.dir}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  // A container with a read-only filesystem: both ways out, as the README's recipe has them.
  throw new ConfigError(
    `Cannot write the Deno worker bundle to ${failures.join(", nor ")}: set XDG_CACHE_HOME ` +
      "to a writable folder, or extract the bundle at image build time (appserve --check-config " +
      "with --runtime deno and XDG_CACHE_HOME set to the folder the image keeps)",
  );
}
