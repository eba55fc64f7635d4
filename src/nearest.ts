// The walk Deno and Bun make to find a module's project files (deno.json, package.json,
// node_modules/NAME, tsconfig.json): from the module's folder up to the filesystem root, the
// nearest folder that has it wins.

import { dirname, resolve } from "node:path";

/**
 * What `find` gives for `dir` (made absolute), else for its parent, and so on up to the root,
 * which is asked too; undefined when it gives nothing for any of them.
 */
export function nearest<T>(dir: string, find: (folder: string) => T | undefined): T | undefined {
  for (let at = resolve(dir);; at = dirname(at)) {
    const found = find(at);
    if (found !== undefined) return found;
    if (dirname(at) === at) return undefined;
  }
}
