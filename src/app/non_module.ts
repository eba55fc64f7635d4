// What is given as the app but cannot be a JavaScript/TypeScript module, said in one line before
// any import: Bun and Deno would print a SyntaxError followed by the file's raw bytes (a
// `bun build --compile` executable, an image) or take it as an asset (a .wasm as its path).

import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";

// Enough to see a header, and a NUL byte near the start of any binary format.
const HEAD = 1024;

// ELF, and Mach-O (32 and 64 bits, either byte order; universal): a compiled program.
const EXECUTABLES = ["7f454c46", "feedface", "feedfacf", "cefaedfe", "cffaedfe", "cafebabe"];
const WASM = "0061736d";

function head(file: string): Uint8Array {
  const fd = openSync(file, "r");
  try {
    const bytes = new Uint8Array(HEAD);
    return bytes.subarray(0, readSync(fd, bytes, 0, HEAD, 0));
  } finally {
    closeSync(fd);
  }
}

/** The source next to a compiled FILE (server.ts for server) as GIVEN names it, if there is one. */
function sourceBeside(file: string, given: string, extensions: readonly string[]): string | null {
  const found = extensions.find((e) => existsSync(file + e));
  return found === undefined ? null : given + found;
}

/**
 * Why FILE (the app module as GIVEN) is no JavaScript/TypeScript module, in one line, or null
 * when it may be one. EXTENSIONS: what a source file of it may end with.
 */
export function nonModuleReason(
  file: string,
  given: string,
  extensions: readonly string[],
): string | null {
  let bytes: Uint8Array;
  try {
    bytes = head(file);
  } catch {
    // Unreadable here: the import says why.
    return null;
  }
  const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  if (EXECUTABLES.includes(magic)) {
    const source = sourceBeside(file, given, extensions);
    return `${given} is an executable, not a JavaScript/TypeScript module: give appserve the ` +
      `source file (${
        source ?? `e.g. ${basename(given)}.ts`
      }) or a \`bun build --target=bun\` bundle`;
  }
  if (magic === WASM) {
    return `${given} is a WebAssembly module, not a JavaScript/TypeScript one: give appserve ` +
      "the module that instantiates it";
  }
  // No source text holds a NUL byte; every binary format near its start does.
  if (bytes.includes(0)) {
    return `${given} is a binary file, not a JavaScript/TypeScript module: give appserve the ` +
      "app's source file";
  }
  return null;
}
