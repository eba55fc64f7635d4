// Deno keeps npm packages and remote modules in its own cache (DENO_DIR), found from HOME like
// any user's. A master started as root with --user keeps root's HOME for its workers (gunicorn
// changes no environment either), so a Deno worker would find root's cache there and fail on its
// first import not yet cached, naming a path the operator never chose. Said at start instead.
// Without HOME (a container's `env -i`, an arbitrary uid) Deno takes the home /etc/passwd gives
// the user, and without one refuses to run at all: that is a start that cannot work, said so.

import { accessSync, constants, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { homeOf, userName } from "./privileges.ts";

/** Deno's cache folder for `env` and this process's user, as Deno finds it on Linux, and why. */
export function denoCacheDir(
  env: Record<string, string | undefined>,
): { dir: string; from: string } | undefined {
  if (env.DENO_DIR) return { dir: resolve(env.DENO_DIR), from: `DENO_DIR=${env.DENO_DIR}` };
  if (env.XDG_CACHE_HOME) {
    return {
      dir: join(resolve(env.XDG_CACHE_HOME), "deno"),
      from: `XDG_CACHE_HOME=${env.XDG_CACHE_HOME}`,
    };
  }
  if (env.HOME) return { dir: join(resolve(env.HOME), ".cache", "deno"), from: `HOME=${env.HOME}` };
  const home = homeOf(uid());
  if (home === undefined) return undefined;
  return {
    dir: join(resolve(home), ".cache", "deno"),
    from: `/etc/passwd's home for the user, ${home} (HOME is unset)`,
  };
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
      `from ${cache.from}: an npm: or remote import not cached there fails ` +
      `to load; set DENO_DIR to a folder ${name} can write`;
  }
}

/**
 * One line when Deno would find no cache folder at all for the workers (no DENO_DIR,
 * XDG_CACHE_HOME or HOME, and a uid /etc/passwd does not know): Deno then refuses to run.
 */
export function denoCacheMissing(env: Record<string, string | undefined>): string | undefined {
  if (denoCacheDir(env) !== undefined) return undefined;
  const { name, id } = whoAmI();
  return `Deno workers run as ${name}${id}, for whom Deno finds no cache folder (DENO_DIR, ` +
    `XDG_CACHE_HOME and HOME are unset, and /etc/passwd gives no home), so Deno would refuse ` +
    `to run them; set DENO_DIR (or HOME) to a folder ${name} can write`;
}

const uid = () => process.getuid?.() ?? 0;

function whoAmI(): { name: string; id: string } {
  const name = userName(uid());
  return name === undefined ? { name: `uid ${uid()}`, id: "" } : { name, id: ` (uid ${uid()})` };
}
