// Writes docs/settings.md from the settings table; with --check, fails when
// the committed file is out of date.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { renderSettingsFile } from "../src/config/settings_doc.ts";

const path = join(import.meta.dirname!, "..", "docs", "settings.md");
const text = renderSettingsFile();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {
    // Missing counts as stale.
  }
  if (current !== text) {
    process.stderr.write("docs/settings.md is out of date: run `deno task docs`\n");
    process.exit(1);
  }
  process.stdout.write("docs/settings.md: up to date\n");
} else {
  writeFileSync(path, text);
  process.stdout.write(`wrote ${path}\n`);
}
