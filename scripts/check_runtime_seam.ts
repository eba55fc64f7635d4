// Fails when Deno.* or Bun.* is used outside src/runtime/: runtime
// differences must stay behind the one interface there.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";

const root = join(import.meta.dirname!, "..");
const roots = ["src", "workers", "mod.ts"].map((p) => join(root, p));
const allowed = join(root, "src", "runtime");
const offenders: string[] = [];

function walk(path: string): void {
  if (statSync(path).isDirectory()) {
    if (path === allowed) return;
    for (const entry of readdirSync(path)) walk(join(path, entry));
    return;
  }
  if (!path.endsWith(".ts")) return;
  readFileSync(path, "utf8").split("\n").forEach((line, i) => {
    // Comments may name the runtimes; only code may not use them.
    if (/^\s*(\*|\/\*|\/\/)/.test(line)) return;
    const code = line.replace(/\/\/.*$/, "");
    if (/\b(Deno|Bun)\.[A-Za-z]/.test(code) || /from "bun:/.test(code)) {
      offenders.push(`${relative(root, path)}:${i + 1}: ${line.trim()}`);
    }
  });
}

roots.forEach(walk);
if (offenders.length) {
  process.stderr.write(`Runtime-specific calls outside src/runtime/:\n${offenders.join("\n")}\n`);
  process.exit(1);
}
process.stdout.write("runtime seam: ok\n");
