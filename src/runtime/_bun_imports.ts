/// <reference types="npm:bun-types@1.4.4" />
// Bun workers load a Deno project as far as Bun can. A loader plugin resolves
// `npm:` specifiers from node_modules and applies the deno.json import map to
// the project's modules, and its JSX settings (deno.json's, or in the binary
// tsconfig.json's) to its .tsx/.jsx files; what only Deno loads (`jsr:`, `https:`,
// the `Deno` global) becomes one line that says to use Deno. The plugin acts only when a
// module is loaded, never on a request.

import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { denoWhereabouts } from "./find_deno.ts";
import { findWorkspace } from "../deno_workspace.ts";
import { readProjectImportMap } from "./_deno_workspace.ts";
import { bunInstall, lists } from "./_bun_missing_package.ts";
import {
  findDenoConfig,
  type ImportMap,
  mappedBy,
  mapSpecifier,
  parseFile,
} from "./_import_map.ts";
import { denoJsxPragma, tsconfigJsxPragma } from "./_jsx_source.ts";
import { once } from "./_libc_symbols.ts";
import {
  isInstalled,
  type NpmSpecifier,
  parseNpmSpecifier,
  rewriteSpecifiers,
} from "./_specifiers.ts";

/** An error about the user's imports whose message is the whole one-line report. */
class UserImportError extends Error {
  override name = "UserImportError";
}

const whereabouts = once(() => denoWhereabouts());
const advice = () => `run it with --runtime deno (${whereabouts()})`;

/** A path as the user would write it: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" || rel.startsWith("../") ? path : rel;
}

// The modules the import map applies to: the project's own. Not appserve's (inside the binary
// under /$bunfs/, or the checkout's src/, workers/ and mod.ts under `bun`), not npm
// packages' (Deno applies no import map inside them), and not .js or .cjs files: they may
// be CommonJS, and a module a plugin returns is always loaded as ESM.
const COMPILED = import.meta.url.includes("$bunfs") || import.meta.url.includes("%7EBUN");
const OWN = COMPILED ? "" : decodeURIComponent(new URL("../../", import.meta.url).pathname);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const NOT_OWN = OWN ? `|${escape(OWN.slice(1))}(?:src/|workers/|mod\\.ts$)` : "";
const USER_PATH = `^/(?!\\$bunfs/${NOT_OWN})(?!.*/node_modules/).*`;
const USER_MODULE = new RegExp(`${USER_PATH}\\.(?:m?ts|[jt]sx|mjs)$`);
const USER_JSX = new RegExp(`${USER_PATH}\\.[jt]sx$`);
const LOADERS: Record<string, "ts" | "tsx" | "jsx" | "js"> = {
  ".ts": "ts",
  ".mts": "ts",
  ".tsx": "tsx",
  ".jsx": "jsx",
  ".mjs": "js",
};

// Specifiers no import map entry can change: the program's own module (a logger class
// imports "appserve", which the running program provides) and those Bun resolves itself.
const FIXED = /^(?:appserve(?:\/|$)|\.{0,2}\/|node:|bun:|data:)/;

interface Project {
  /** A mapped target → how the user wrote it, for errors about the target. */
  origins: Map<string, string>;
  /** The deno.json whose folder `deno install` fills: the workspace root's, or the nearest. */
  root?: string;
}

/** What the import map makes of `specifier` in `importer`; undefined to leave it as written. */
function mapped(project: Project, map: ImportMap, specifier: string, importer: string) {
  if (FIXED.test(specifier)) return undefined;
  const target = mapSpecifier(map, specifier, importer);
  if (target !== undefined && target !== specifier) {
    const by = shown(mappedBy(map, specifier, importer));
    project.origins.set(target, `"${specifier}" (mapped to "${target}" by ${by})`);
  }
  return target;
}

/**
 * How Deno lays out node_modules for the project whose deno.json is `root`, as Deno 2.9.6 reads
 * it: its "nodeModulesDir", else "manual" when a package.json is beside it, else none.
 */
function nodeModulesDir(root: string): string | undefined {
  try {
    const mode = parseFile(root).nodeModulesDir;
    if (mode !== undefined) return String(mode);
  } catch {
    // Read before the app was; a file broken since is Deno's to report.
  }
  return existsSync(join(dirname(root), "package.json")) ? "manual" : undefined;
}

/**
 * Where an npm package Bun cannot find goes, and the command that puts it there. In a Deno
 * project `deno install` fills node_modules with "nodeModulesDir" "auto" or "manual" (the app as
 * its entrypoint for an `npm:` import in code), and so does `npm install` for what a "manual"
 * project's package.json lists; with neither mode Deno makes no node_modules. Bun's in a
 * package.json project or none.
 */
function installAdvice(project: Project, npm: NpmSpecifier, importer: string): string {
  const at = (dir: string) => `node_modules/${npm.name} is not installed in ${shown(dir)}`;
  if (project.root) {
    const dir = dirname(project.root);
    const mode = nodeModulesDir(project.root);
    // lists() is false for a package.json that is not there.
    if (mode === "manual" && lists(join(dir, "package.json"), npm.name)) {
      return `${at(dir)}: run \`npm install\` (or \`deno install\`) there`;
    }
    const set = mode === "auto" || mode === "manual"
      ? ""
      : `set "nodeModulesDir": "auto" in ${shown(project.root)} and `;
    const entry = relative(dir, importer);
    return `${at(dir)}: ${set}run \`deno install --entrypoint ${entry}\` there`;
  }
  const install = bunInstall(dirname(importer), npm.name, npm.version);
  return `${at(install.dir)}: run \`${install.command}\` there`;
}

/** The one-line report on a specifier in a form only Deno loads. */
function unloadable(project: Project, specifier: string, importer: string): string {
  const what = project.origins.get(specifier) ?? `"${specifier}"`;
  const head = `${shown(importer)} imports ${what}`;
  const npm = parseNpmSpecifier(specifier);
  return npm
    ? `${head}, but ${installAdvice(project, npm, importer)}, or ${advice()}`
    : `${head}, which Bun cannot load; ${advice()}`;
}

/**
 * Registers the plugin for the app at `appFile` in this process or thread (each gthread
 * thread has a loader of its own), before the app is imported. A broken deno.json throws.
 */
export function prepareImports(appFile: string): void {
  const config = findDenoConfig(dirname(appFile));
  let map: ImportMap | undefined;
  let denoPragma: string | undefined;
  let root: string | undefined;
  try {
    map = config ? readProjectImportMap(config) : undefined;
    root = config && (findWorkspace(config, parseFile)?.root ?? config);
    // The import source mapped as Deno would map it.
    const source = (s: string) => (map && mapSpecifier(map, s, appFile)) || s;
    denoPragma = config ? denoJsxPragma(config, source) : undefined;
  } catch (error) {
    throw new UserImportError((error as Error).message);
  }
  // The binary's Bun applies tsconfig.json's paths but not its JSX settings: each file gets those
  // of the tsconfig.json nearest to it, as under `bun run`. deno.json's are Deno's, for all.
  const jsx = denoPragma || COMPILED;
  const pragmaFor = (path: string) =>
    denoPragma ?? (COMPILED ? tsconfigJsxPragma(dirname(path)) : undefined);
  const project: Project = { origins: new Map(), root };
  Bun.plugin({
    name: "appserve:deno-specifiers",
    setup(build) {
      // Bun offers a plugin only specifiers with a "." or a ":" (not "hono" or "hono/jsx"),
      // so the import map is applied to the module's text; an npm: target it writes there
      // comes back below.
      if (map || jsx) {
        build.onLoad({ filter: map ? USER_MODULE : USER_JSX }, ({ path }) => {
          let text = readFileSync(path, "utf8");
          if (map) {
            text = rewriteSpecifiers(text, (specifier) => mapped(project, map, specifier, path));
          }
          // A file's own pragmas win.
          if (path.endsWith("sx") && !text.startsWith("#!") && !text.includes("@jsx")) {
            const pragma = pragmaFor(path);
            if (pragma) text = pragma + text;
          }
          return { contents: text, loader: LOADERS[extname(path)] };
        });
      }
      // Bun hands these over with the scheme taken off as the namespace. A bare path
      // returned is resolved from the importer, as an import written there would be.
      build.onResolve({ filter: /.*/, namespace: "npm" }, ({ path, importer }) => {
        const npm = parseNpmSpecifier(`npm:${path}`);
        if (npm && isInstalled(npm.name, dirname(importer))) {
          return { path: npm.name + npm.subpath };
        }
        throw new UserImportError(unloadable(project, `npm:${path}`, importer));
      });
      for (const namespace of ["jsr", "http", "https"]) {
        build.onResolve({ filter: /.*/, namespace }, ({ path, importer }) => {
          throw new UserImportError(unloadable(project, `${namespace}:${path}`, importer));
        });
      }
    },
  });
}

// A stack frame's location: `at [NAME (]PATH:LINE:COL[)]`, the path possibly with spaces.
const FRAME =
  /^\s+at (?:async )?(?:.+? \((?=(?:file:\/\/)?\/))?((?:file:\/\/)?\/.*):(\d+):(\d+)\)?$/m;

/** Where the code that touched `Deno` is, and which of its APIs it wanted. */
function denoUse(stack: string): string {
  const m = FRAME.exec(stack);
  if (!m) return "The app uses the Deno global";
  const file = m[1].startsWith("file://") ? fileURLToPath(m[1]) : m[1];
  const [line, column] = [Number(m[2]), Number(m[3])];
  let api = "the Deno global";
  try {
    const text = readFileSync(file, "utf8").split("\n")[line - 1] ?? "";
    const use = /^Deno\s*\.\s*(\w+)/.exec(text.slice(column - 1)) ??
      /\bDeno\s*\.\s*(\w+)/.exec(text);
    if (use) api = `Deno.${use[1]}`;
  } catch {
    // The file is gone or unreadable: name the place without the API.
  }
  return `${shown(file)}:${line}:${column} uses ${api}`;
}

/** The one-line account of an error that means the user's code needs Deno; else undefined. */
export function explainAppError(error: unknown): string | undefined {
  if (error instanceof UserImportError) return error.message;
  if (error instanceof ReferenceError && error.message.startsWith("Deno is not defined")) {
    return `${denoUse(error.stack ?? "")}, which Bun does not have; ${advice()}`;
  }
  return undefined;
}
