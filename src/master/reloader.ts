// --reload: watch the app's project (and reload_extra_files, and the workers' .env files) and
// report changed files, debounced, so the arbiter can start fresh workers. The master never
// imports the app, so it watches files rather than the module graph.

import { type Dirent, existsSync, type FSWatcher, lstatSync, readdirSync, watch } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import process from "node:process";
import { projectRoot } from "./deno_project.ts";
import { dotenvNames } from "../runtime/_bun_autoload.ts";

const SOURCE_EXTENSIONS = new Set([
  ".ts",
  ".tsx",
  ".js",
  ".jsx",
  ".mjs",
  ".mts",
  ".cjs",
  ".json",
  ".toml",
]);
// Folders whose files are not the app's own: not watched at all (node_modules alone may hold
// tens of thousands of folders, one inotify watch each, against a per-user limit). Hidden ones
// too: .git, and caches such as a Deno cache kept in the project, whose compiled copy of an
// edited module would reload the workers a second time.
const IGNORED = new Set(["node_modules", "dist"]);
const ignored = (name: string) => IGNORED.has(name) || name.startsWith(".");
const DEBOUNCE_MS = 250;
// The .env files a Bun worker reads in its working directory, the master's, under any NODE_ENV,
// `.env` being also what a Deno worker's `--env-file` reads: an edit reloads, as under
// `deno run --watch --env-file`. Hidden, so the folders' watchers skip them.
const DOTENV = new Set(dotenvNames());

/** A running watch. */
export interface ReloadWatch {
  /**
   * The workers' folder is now `workDir` (a HUP after a symlink deploy, or a changed --chdir):
   * its .env files are watched from here on, the old folder's no longer. Nothing when unchanged.
   */
  follow(workDir: string): void;
  stop(): void;
}

/**
 * Starts watching. Each folder of the project is watched on its own (a recursive watch would
 * watch the ignored folders too), a folder made later as it comes. `onError` hears once of a
 * folder that cannot be watched (the inotify limit reached): the folders watched until then
 * still are. `workDir`: the folder the workers run in (after --chdir), where they read .env.
 */
export function watchForReload(
  appFile: string,
  extraFiles: readonly string[],
  onChange: (file: string) => void,
  onError: (message: string) => void = () => {},
  workDir: string = process.cwd(),
): ReloadWatch {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let failed = false;
  const changed = (file: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => onChange(file), DEBOUNCE_MS);
  };
  const folders = new Map<string, FSWatcher>();
  /** The source files known to be there, so that a removal is told from another folder's file. */
  const files = new Set<string>();
  const forget = (dir: string) => {
    folders.get(dir)?.close();
    folders.delete(dir);
  };
  const fail = (dir: string, error: unknown) => {
    if (failed || stopped) return;
    failed = true;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code ?? String((error as Error).message ?? error).split("\n")[0];
    const hint = code === "ENOSPC" ? " (the inotify watch limit: fs.inotify.max_user_watches)" : "";
    onError(`--reload cannot watch ${dir}: ${why}${hint}; a change there reloads nothing`);
  };
  const watchFolder = (dir: string) => {
    if (stopped || folders.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, name) => {
        const file = name ? String(name) : "";
        if (!file || ignored(file)) return;
        const path = join(dir, file);
        if (SOURCE_EXTENSIONS.has(extname(file))) {
          // A file of this folder, or one gone that was: Deno's watchers also hear of what
          // changes in a folder another watcher watches, by its name alone.
          if (existsSync(path)) files.add(path);
          else if (!files.delete(path)) return;
          changed(path);
        }
        // A folder made, moved in or removed since the start.
        let folder = false;
        try {
          folder = lstatSync(path).isDirectory();
        } catch {
          // Gone.
        }
        if (!folder) forget(path);
        else if (!folders.has(path)) walk(path);
      });
    } catch (error) {
      if (existsSync(dir)) fail(dir, error);
      return;
    }
    watcher.on("error", (error) => {
      forget(dir);
      if (existsSync(dir)) fail(dir, error);
    });
    folders.set(dir, watcher);
  };
  const walk = (dir: string) => {
    watchFolder(dir);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // Gone meanwhile, or not ours to read.
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !ignored(entry.name)) walk(join(dir, entry.name));
      else if (SOURCE_EXTENSIONS.has(extname(entry.name))) files.add(join(dir, entry.name));
    }
  };
  // The app's own folder first: under a limit reached, its files still reload.
  walk(dirname(resolve(appFile)));
  walk(projectRoot(appFile));
  const extra = extraFiles.map((file) => watch(file, () => changed(file)));
  let dotenv: FSWatcher | undefined;
  let dotenvDir = "";
  const watchDotenv = (dir: string) => {
    dotenv?.close();
    dotenv = undefined;
    dotenvDir = dir;
    try {
      // The folder, not the files: a .env made, or written by renaming a new one over it, counts.
      const watcher = watch(dir, (_event, name) => {
        if (name && DOTENV.has(String(name))) changed(join(dir, String(name)));
      });
      watcher.on("error", (error) => fail(dir, error));
      dotenv = watcher;
    } catch (error) {
      fail(dir, error);
    }
  };
  watchDotenv(workDir);
  return {
    follow: (dir) => {
      if (!stopped && dir !== dotenvDir) watchDotenv(dir);
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      extra.forEach((w) => w.close());
      dotenv?.close();
      for (const dir of [...folders.keys()]) forget(dir);
    },
  };
}
