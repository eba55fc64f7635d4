// A package the app imports that is not in node_modules. `bun run` installs it itself when the
// project has no node_modules at all (its auto-install); the binary's Bun never does, so a
// project deployed without `bun install` stops at its first import. Bun's message names the
// package and the importer; this adds what to do, as Deno's `deno add` hint does.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { findDenoConfig, parseFile } from "./_import_map.ts";
import { nearest } from "../nearest.ts";
import { isInstalled } from "./_specifiers.ts";

const DEPENDENCIES = [
  "dependencies",
  "devDependencies",
  "optionalDependencies",
  "peerDependencies",
];

/** `dayjs` of `dayjs/plugin/utc`, `@scope/name` of `@scope/name/sub`; undefined if not bare. */
function packageName(specifier: string): string | undefined {
  if (/^(?:\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(specifier)) return undefined;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** The package.json nearest to `dir`, upwards. */
function findPackageJson(dir: string): string | undefined {
  return nearest(dir, (at) => {
    const file = join(at, "package.json");
    return existsSync(file) ? file : undefined;
  });
}

/** Whether `packageJson` lists `name` among its dependencies of any kind. */
export function lists(packageJson: string, name: string): boolean {
  try {
    const json = parseFile(packageJson);
    return DEPENDENCIES.some((field) => {
      const deps = json[field];
      return deps !== null && typeof deps === "object" && name in deps;
    });
  } catch {
    return false;
  }
}

/** How Bun installs a package a module needs. */
export interface BunInstall {
  /** The nearest package.json, when it lists the package. */
  listedIn: string | undefined;
  /** Where to run `command`: the nearest package.json's folder, else the module's. */
  dir: string;
  /** `bun install` when the package is listed, else `bun add NAME[@VERSION]`. */
  command: string;
}

/**
 * How to install package `name` (`version`: "" for none) for a module in folder `from`: run
 * `bun install` when the nearest package.json lists it, else `bun add` it.
 */
export function bunInstall(from: string, name: string, version = ""): BunInstall {
  const packageJson = findPackageJson(from);
  const listed = packageJson !== undefined && lists(packageJson, name);
  return {
    listedIn: listed ? packageJson : undefined,
    dir: packageJson ? dirname(packageJson) : from,
    command: listed ? "bun install" : `bun add ${name}${version ? `@${version}` : ""}`,
  };
}

/**
 * Bun's error for an import of a package that is not installed, with a hint under it: run
 * `bun install` when the nearest package.json lists it, else `bun add` it. Undefined for any
 * other error, and in a Deno project (its own hint is `deno add`, under Deno workers).
 */
export function explainMissingPackage(error: unknown): string | undefined {
  const e = error as { code?: unknown; specifier?: unknown; referrer?: unknown; message?: unknown };
  if (error === null || typeof error !== "object" || e.code !== "ERR_MODULE_NOT_FOUND") {
    return undefined;
  }
  if (typeof e.specifier !== "string" || typeof e.referrer !== "string") return undefined;
  const name = packageName(e.specifier);
  if (!name || !e.referrer.startsWith("/")) return undefined;
  const from = dirname(e.referrer);
  if (isInstalled(name, from) || findDenoConfig(from)) return undefined;
  const install = bunInstall(from, name);
  const hint = install.listedIn
    ? `${install.listedIn} lists "${name}", which is not installed: run \`${install.command}\` ` +
      `in ${install.dir}`
    : `install it: \`${install.command}\``;
  return `Error: ${e.message}\n    hint: ${hint}`;
}
