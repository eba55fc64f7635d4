// The directories a master works from. The start directory is kept as the shell names it ($PWD,
// as gunicorn's util.getcwd), so that a path through a symlink (`cd /srv/current`) stays one; each
// generation of workers runs in the directory `--chdir` names resolved when it is launched, so a
// HUP after a symlink deploy (`ln -sfn rel2 current.tmp && mv -T current.tmp current`) starts the
// new release's workers, as gunicorn's workers chdir when they load the app.

import { realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { ConfigError } from "../errors.ts";

/** This process's directory, by the name $PWD gives it when that names the same directory. */
export function logicalCwd(env: Record<string, string | undefined> = process.env): string {
  const cwd = process.cwd();
  const pwd = env.PWD;
  if (!pwd || !pwd.startsWith("/") || pwd === cwd) return cwd;
  try {
    const [a, b] = [statSync(pwd), statSync(cwd)];
    return a.dev === b.dev && a.ino === b.ino ? pwd : cwd;
  } catch {
    return cwd;
  }
}

/**
 * Where a generation's workers run: `chdir` (the setting, relative to the start directory) as the
 * filesystem resolves it now. `origin` names the setting in the one-line error.
 */
export function generationDir(startCwd: string, chdir: string, origin: string): string {
  const dir = resolve(startCwd, chdir || ".");
  try {
    if (statSync(dir).isDirectory()) return realpathSync(dir);
  } catch {
    // Said below.
  }
  throw cannotChangeDir(origin, chdir || dir);
}

/** The start's `--chdir`: into `chdir` (not empty), or the one-line error `origin` leads. */
export function enterDir(chdir: string, origin: string): void {
  try {
    process.chdir(chdir);
  } catch {
    throw cannotChangeDir(origin, chdir);
  }
}

// The one error for a --chdir that names no directory, at the start as at a HUP.
function cannotChangeDir(origin: string, dir: string): ConfigError {
  return new ConfigError(`${origin}: Cannot change directory to "${dir}"`);
}
