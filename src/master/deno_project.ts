// The user's Deno project as a Deno worker must see it: the deno.json/deno.jsonc found from the
// app module's folder up (as `deno run` finds one), or a package.json, and the import map the
// worker gets: `deno run --import-map` replaces the configuration's imports, so the map holds
// them (made absolute), plus "appserve" mapped to the shim unless the project maps it itself.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.ts";
import { parseJsonc } from "../jsonc.ts";
import { denoConfigIn, findWorkspace } from "../deno_workspace.ts";
import { nearest } from "../nearest.ts";

/** What was found from the app's folder up; both unset for a bare script. */
export interface DenoProject {
  /** The nearest deno.json or deno.jsonc. */
  config?: string;
  /** The nearest package.json, when no deno configuration is at its level or below. */
  packageJson?: string;
  /** The user's `--import-map` (--deno-flags): replaces the configuration's imports. */
  importMap?: string;
}

/**
 * Walks up from `appFile`'s folder (`deno run` would from its cwd; the app's is what counts) to
 * the first folder with a deno.json/deno.jsonc or a package.json: a Node project's root ends the
 * walk, so a deno.json further up (of a checkout the project sits in) is not its configuration.
 */
export function findDenoProject(appFile: string): DenoProject {
  return nearest<DenoProject>(dirname(resolve(appFile)), (dir) => {
    const config = denoConfigIn(dir);
    if (config) return { config };
    const pkg = join(dir, "package.json");
    return existsSync(pkg) ? { packageJson: pkg } : undefined;
  }) ?? {};
}

type Imports = Record<string, string>;
interface ImportMap {
  imports: Imports;
  scopes: Record<string, Imports>;
}

/** Reads a deno.json(c): comments and trailing commas allowed; a broken file is one line. */
export function readDenoConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: Cannot read: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    return parseJsonc(text, file);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

function isRelative(value: string): boolean {
  return value.startsWith("./") || value.startsWith("../") || value.startsWith("/");
}

function stringMap(value: unknown, what: string, file: string): Imports {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${file}: Cannot read "${what}": expected an object`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new ConfigError(`${file}: Cannot read "${what}": "${key}" is not a string`);
    }
  }
  return value as Imports;
}

// An import map file takes keys and values as they are; deno.json also lets "hono": "npm:hono@4"
// serve "hono/jsx" (and the same for jsr:), so those prefixes are spelled out here.
function absolute(map: Imports, base: string, fromConfig: boolean): Imports {
  const out: Imports = {};
  for (const [key, value] of Object.entries(map)) {
    const k = isRelative(key) ? new URL(key, base).href : key;
    const v = isRelative(value) ? new URL(value, base).href : value;
    out[k] = v;
    const registry = /^(npm|jsr):\/?(.+)$/.exec(v);
    if (fromConfig && registry && !k.endsWith("/") && !(`${key}/` in map)) {
      out[`${k}/`] = `${registry[1]}:/${registry[2]}/`;
    }
  }
  return out;
}

function importsOf(config: Record<string, unknown>, file: string): ImportMap {
  const base = pathToFileURL(file).href;
  if (typeof config.importMap === "string") {
    const mapFile = resolve(dirname(file), config.importMap);
    const external = readDenoConfig(mapFile);
    const mapBase = pathToFileURL(mapFile).href;
    return {
      imports: absolute(stringMap(external.imports, "imports", mapFile), mapBase, false),
      scopes: scopesOf(external.scopes, mapBase, mapFile, false),
    };
  }
  return {
    imports: absolute(stringMap(config.imports, "imports", file), base, true),
    scopes: scopesOf(config.scopes, base, file, true),
  };
}

function scopesOf(
  value: unknown,
  base: string,
  file: string,
  fromConfig: boolean,
): Record<string, Imports> {
  const out: Record<string, Imports> = {};
  for (const [scope, map] of Object.entries(stringMaps(value, file))) {
    out[new URL(scope, base).href] = absolute(map, base, fromConfig);
  }
  return out;
}

function stringMaps(value: unknown, file: string): Record<string, Imports> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${file}: Cannot read "scopes": expected an object`);
  }
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, stringMap(v, `scopes.${k}`, file)]),
  );
}

/** The configuration itself when it is a workspace root, else the root listing its folder. */
export function workspaceRoot(config: string): string | undefined {
  return findWorkspace(config, readDenoConfig)?.root;
}

/**
 * The folder whose files the app is made of, as `--reload` watches it: the workspace root when
 * the project is a member of one (a deno.json `workspace`, a package.json `workspaces`), else
 * the project's own root, else the app module's folder. gunicorn's reloader watches every module
 * the app imported; a master that never imports the app watches the project instead.
 */
export function projectRoot(appFile: string): string {
  const root = rootOf(appFile);
  // A stray package.json in the home folder (or at /) is no project of the app's: watching
  // everything under it would watch the user's whole home.
  return root === homedir() || dirname(root) === root ? dirname(resolve(appFile)) : root;
}

function rootOf(appFile: string): string {
  const project = findDenoProject(appFile);
  try {
    if (project.config) return dirname(workspaceRoot(project.config) ?? project.config);
  } catch {
    return dirname(project.config!); // A broken configuration: the start said so, if it matters.
  }
  if (project.packageJson) {
    return dirname(npmWorkspaceRoot(project.packageJson) ?? project.packageJson);
  }
  return dirname(resolve(appFile));
}

// The nearest package.json above `pkg`'s folder that declares workspaces (npm, Bun, yarn).
function npmWorkspaceRoot(pkg: string): string | undefined {
  // The first package.json up ends the walk, whether it declares workspaces or not.
  const found = nearest<{ root?: string }>(dirname(dirname(pkg)), (dir) => {
    const file = join(dir, "package.json");
    if (!existsSync(file)) return undefined;
    try {
      return {
        root: JSON.parse(readFileSync(file, "utf8")).workspaces !== undefined ? file : undefined,
      };
    } catch {
      return {};
    }
  });
  return found?.root;
}

/**
 * The import map for `deno run --import-map` with `--config project.config`: the configuration's
 * imports and scopes (its workspace root's, with each member's own imports as a scope of the
 * member's folder), and "appserve" → `shimUrl` unless mapped already.
 */
export function denoImportMap(project: DenoProject, shimUrl: string): ImportMap {
  const map: ImportMap = { imports: {}, scopes: {} };
  if (project.config) {
    const workspace = findWorkspace(project.config, readDenoConfig);
    const root = workspace?.root ?? project.config;
    const top = importsOf(readDenoConfig(root), root);
    Object.assign(map.imports, top.imports);
    Object.assign(map.scopes, top.scopes);
    // Each member's own imports apply inside its folder, as in a Deno workspace.
    for (const dir of workspace?.members ?? []) {
      const file = denoConfigIn(dir);
      if (!file) continue;
      const own = importsOf(readDenoConfig(file), file);
      const scope = pathToFileURL(dir + "/").href;
      map.scopes[scope] = { ...own.imports, ...map.scopes[scope] };
      Object.assign(map.scopes, own.scopes);
    }
  }
  if (project.importMap) {
    // As `deno run --import-map` does: the file's imports and scopes, not the configuration's.
    const own = importsOf({ importMap: project.importMap }, project.importMap);
    map.imports = own.imports;
    map.scopes = own.scopes;
  }
  if (!("appserve" in map.imports)) map.imports.appserve = shimUrl;
  return map;
}
