// The user's --deno-flags as appserve must hand them on: the project flags (`--config`/`-c`,
// `--no-config`, `--import-map`) are taken out, since appserve passes its own of each (a second
// one would override the first); it honours theirs instead, reading the configuration and the
// import map they name (deno_project.ts).

import { resolve } from "node:path";
import { shellSplit } from "../config/_shell_split.ts";
import { ConfigError } from "../errors.ts";

/** --deno-flags split, with the project flags taken out and made absolute. */
export interface DenoFlags {
  /** The flags passed on as they are. */
  rest: string[];
  /** `--config FILE` / `-c FILE`, from the directory appserve was started in. */
  config?: string;
  /** `--no-config`. */
  noConfig: boolean;
  /** `--import-map FILE`. */
  importMap?: string;
  /** `--check`, in any form (`--check=all`). */
  check: boolean;
}

/**
 * Splits `denoFlags`; relative files are resolved against `cwd`. A project flag without its file
 * throws a ConfigError.
 */
export function parseDenoFlags(denoFlags: string, cwd: string): DenoFlags {
  const words = shellSplit(denoFlags);
  const out: DenoFlags = { rest: [], noConfig: false, check: false };
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const long = /^--(config|import-map)(?:=(.*))?$/.exec(word);
    const short = /^-c(?:=(.*)|([^=].*))?$/.exec(word);
    if (long || short) {
      const flag = long ? `--${long[1]}` : "-c";
      let value = long ? long[2] : short![1] ?? short![2];
      if (value === undefined && !words[i + 1]?.startsWith("-")) value = words[++i];
      // Left to Deno, a flag without its file would take the next flag appserve passes as it.
      if (!value) {
        const example = flag === "--import-map" ? "import_map.json" : "deno.json";
        throw new ConfigError(
          `--deno-flags "${denoFlags}": ${flag} needs a file, as --deno-flags="-A ${flag} ${example}"`,
        );
      }
      if (long?.[1] === "import-map") out.importMap = resolve(cwd, value);
      else out.config = resolve(cwd, value);
      continue;
    }
    if (word === "--no-config") {
      out.noConfig = true;
      continue;
    }
    if (word === "--check" || word.startsWith("--check=")) out.check = true;
    out.rest.push(word);
  }
  return out;
}

/** Said once at start: a `--check` that checks nothing. */
export const CHECK_NOTE = "--deno-flags --check type-checks nothing: the worker imports the app " +
  "at run time, which `deno run --check` does not check; run `deno check` on the app " +
  "(e.g. `deno check main.ts`) before deploying";
