// --reload: watch the app's project (and reload_extra_files) and report changed
// files, debounced, so the arbiter can start fresh workers. The master never
// imports the app, so it watches files rather than the module graph.

import { type FSWatcher, watch } from "node:fs";
import { extname, join } from "node:path";
import { projectRoot } from "./deno_project.ts";

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
const IGNORED = /(^|\/)(node_modules|\.git|dist)(\/|$)/;
const DEBOUNCE_MS = 250;

/** Starts watching; returns a function that stops it. */
export function watchForReload(
  appFile: string,
  extraFiles: readonly string[],
  onChange: (file: string) => void,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const changed = (file: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => onChange(file), DEBOUNCE_MS);
  };
  const folder = projectRoot(appFile);
  const watchers: FSWatcher[] = [
    watch(folder, { recursive: true }, (_event, name) => {
      const file = name ? String(name) : "";
      if (file && !IGNORED.test(file) && SOURCE_EXTENSIONS.has(extname(file))) {
        changed(join(folder, file));
      }
    }),
    ...extraFiles.map((file) => watch(file, () => changed(file))),
  ];
  return () => {
    clearTimeout(timer);
    watchers.forEach((w) => w.close());
  };
}
