// Finding a program the way a shell does: a name with a slash is a path (from a given
// directory), a bare name is looked up in PATH's directories.

import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

/** Whether `path` is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The first executable `name` in the directories of a PATH value (a relative one taken from
 * `cwd`); undefined when there is none.
 */
export function onPath(name: string, path: string | undefined, cwd: string): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return resolve(cwd, dir, name);
  }
  return undefined;
}

/**
 * What a shell in `cwd` would run for `command`: a path with a slash made absolute (symlinks
 * kept), a bare name found on PATH; undefined for a bare name PATH does not have.
 */
export function whichProgram(
  command: string,
  path: string | undefined,
  cwd: string,
): string | undefined {
  return command.includes("/") ? resolve(cwd, command) : onPath(command, path, cwd);
}
