// Deno keeps npm packages and remote modules in its own cache (DENO_DIR), found from HOME like
// any user's. A master started as root with --user keeps root's HOME for its workers (gunicorn
// changes no environment either), so a Deno worker would find root's cache there and fail on its
// first import not yet cached, naming a path the operator never chose. Said at start instead.

import { accessSync, constants, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { userName } from "./privileges.ts";

/** Deno's cache folder for `env`, as Deno finds it on Linux, and what set it. */
export function denoCacheDir(
  env: Record<string, string | undefined>,
): { dir: string; from: string } | undefined {
  if (env.DENO_DIR) return { dir: resolve(env.DENO_DIR), from: "DENO_DIR" };
  if (env.XDG_CACHE_HOME) {
    return { dir: join(resolve(env.XDG_CACHE_HOME), "deno"), from: "XDG_CACHE_HOME" };
  }
  if (env.HOME) return { dir: join(resolve(env.HOME), ".cache", "deno"), from: "HOME" };
  return undefined;
}

/**
 * One line when this process (the user the workers run as) cannot write Deno's cache, or the
 * folder it would be made in; undefined when it can, or when no cache folder can be named.
 */
export function denoCacheNote(env: Record<string, string | undefined>): string | undefined {
  const cache = denoCacheDir(env);
  if (cache === undefined) return undefined;
  let dir = cache.dir;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch {
    const { name, id } = whoAmI();
    const where = dir === cache.dir ? "" : ` (nor ${dir}, where it would be made)`;
    return `Deno workers run as ${name}${id}, who cannot write Deno's cache ${cache.dir}${where}, ` +
      `from ${cache.from}=${env[cache.from]}: an npm: or remote import not cached there fails ` +
      `to load; set DENO_DIR to a folder ${name} can write`;
  }
}

function whoAmI(): { name: string; id: string } {
  const uid = process.getuid?.() ?? 0;
  const name = userName(uid);
  return name === undefined ? { name: `uid ${uid}`, id: "" } : { name, id: ` (uid ${uid})` };
}
