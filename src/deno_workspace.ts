// A Deno project's configuration file and its workspace, found as `deno run` finds them; read by
// the master (the Deno workers' import map, --reload's root, a frozen lock's advice) and by Bun
// workers (a workspace's imports), so both agree on what the workspace is.

import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { nearest } from "./nearest.ts";

/** The deno.json (or deno.jsonc) in `dir`, if any. */
export function denoConfigIn(dir: string): string | undefined {
  return ["deno.json", "deno.jsonc"].map((name) => join(dir, name))
    .find((file) => existsSync(file) && statSync(file).isFile());
}

/**
 * The member folders a parsed deno.json lists: `"workspace": [...]` or `{ "members": [...] }`,
 * each a folder or a glob of folders (`"./packages/*"`), less those a `"!..."` entry excludes.
 */
export function workspaceMembers(json: Record<string, unknown>, file: string): string[] {
  const workspace = json.workspace;
  const list = Array.isArray(workspace)
    ? workspace
    : (workspace as { members?: unknown } | undefined)?.members;
  if (!Array.isArray(list)) return [];
  const expand = (entry: string) => {
    const path = resolve(dirname(file), entry);
    return path.includes("*") ? matchingMembers(path) : [path];
  };
  const entries = list.map(String);
  const excluded = entries.filter((e) => e.startsWith("!")).flatMap((e) => expand(e.slice(1)));
  const members = entries.filter((e) => !e.startsWith("!")).flatMap(expand);
  return [...new Set(members)].filter((dir) => !excluded.includes(dir));
}

// As Deno expands a member glob: a `*` matches within one folder name (`packages/*` is
// packages/foo, not packages/foo/bar), `**` any depth of folders, hidden folders and
// node_modules are skipped, and a folder without a deno.json(c) or package.json is no member.
function matchingMembers(glob: string): string[] {
  let dirs = ["/"];
  for (const part of glob.split("/").filter(Boolean)) {
    if (part === "**") {
      dirs = dirs.flatMap(andBelow);
    } else if (part.includes("*")) {
      dirs = dirs.flatMap((dir) =>
        subfolders(dir).filter((name) => globMatches(part, name)).map((name) => join(dir, name))
      );
    } else {
      dirs = dirs.map((dir) => join(dir, part));
    }
  }
  return dirs.filter((dir) => denoConfigIn(dir) || existsSync(join(dir, "package.json")));
}

// A folder and all the folders below it, as `**` matches them.
function andBelow(dir: string): string[] {
  return [dir, ...subfolders(dir).flatMap((name) => andBelow(join(dir, name)))];
}

function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules")
      .map((e) => e.name).sort();
  } catch {
    return []; // No such folder: the glob matches nothing there, as in Deno.
  }
}

// Whether a folder name matches one part of a glob, `*` standing for any run of characters.
function globMatches(part: string, name: string): boolean {
  const [first, ...rest] = part.split("*");
  const last = rest.pop()!;
  if (!name.startsWith(first)) return false;
  let at = first.length;
  for (const piece of rest) {
    const found = name.indexOf(piece, at);
    if (found < 0) return false;
    at = found + piece.length;
  }
  return name.length - last.length >= at && name.endsWith(last);
}

/** A workspace: its root deno.json and its member folders. */
export interface Workspace {
  root: string;
  members: string[];
}

/**
 * The workspace `config` belongs to: itself when it lists members, else the first deno.json up
 * the tree when that one lists `config`'s folder. `read` parses a file (each caller words its own
 * errors).
 */
export function findWorkspace(
  config: string,
  read: (file: string) => Record<string, unknown>,
): Workspace | undefined {
  const own = workspaceMembers(read(config), config);
  if (own.length) return { root: config, members: own };
  const member = dirname(config);
  if (dirname(member) === member) return undefined;
  const file = nearest(dirname(member), denoConfigIn);
  if (!file) return undefined;
  const members = workspaceMembers(read(file), file);
  return members.includes(member) ? { root: file, members } : undefined;
}

// A path as one shell word.
const shellWord = (path: string) =>
  /^[\w./@+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;

/**
 * What to do about a frozen deno.lock that is out of date, for the project in `dir` (unknown:
 * undefined): Deno's own advice, "rerun with `--frozen=false`", names a flag of the `deno run`
 * appserve gives, which only --deno-flags reaches. With the app's file as `entry`, `deno install`
 * locks what the app imports too (an `npm:` specifier in its code), not only deno.json's imports.
 */
export function frozenLockAdvice(dir: string | undefined, entry?: string): string {
  let where = "in the project's folder";
  if (dir !== undefined) {
    const rel = relative(process.cwd(), dir);
    where = rel === "" ? "in this folder" : `in ${rel.startsWith("../") ? dir : rel}/`;
  }
  const from = entry === undefined
    ? ""
    : ` --entrypoint ${shellWord(dir === undefined ? resolve(entry) : relative(dir, entry))}`;
  return `update it by running \`deno install --frozen=false${from}\` ${where} (then deploy the ` +
    "new deno.lock), or let the workers update it: add --frozen=false to --deno-flags " +
    "(--deno-flags='-A --frozen=false')";
}
