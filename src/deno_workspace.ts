// A Deno project's configuration file and its workspace, found as `deno run` finds them; read by
// the master (the Deno workers' import map, --reload's root, a frozen lock's advice) and by Bun
// workers (a workspace's imports), so both agree on what the workspace is.

import { existsSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";

/** The deno.json (or deno.jsonc) in `dir`, if any. */
export function denoConfigIn(dir: string): string | undefined {
  return ["deno.json", "deno.jsonc"].map((name) => join(dir, name))
    .find((file) => existsSync(file) && statSync(file).isFile());
}

/** The member folders a parsed deno.json lists: `"workspace": [...]` or `{ "members": [...] }`. */
export function workspaceMembers(json: Record<string, unknown>, file: string): string[] {
  const workspace = json.workspace;
  const list = Array.isArray(workspace)
    ? workspace
    : (workspace as { members?: unknown } | undefined)?.members;
  return Array.isArray(list) ? list.map((m) => resolve(dirname(file), String(m))) : [];
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
  for (let dir = dirname(member); dirname(dir) !== dir; dir = dirname(dir)) {
    const file = denoConfigIn(dir);
    if (!file) continue;
    const members = workspaceMembers(read(file), file);
    return members.includes(member) ? { root: file, members } : undefined;
  }
  return undefined;
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
