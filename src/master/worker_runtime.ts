// Which runtime the worker processes run on (--runtime), and for Deno workers which Deno: found
// as --deno, $DENO, `deno` on PATH or the Deno running this master, and new enough. Decided in the
// master before anything is bound, so a missing or old Deno is one line and nothing started.

import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import process from "node:process";
import type { Config } from "../config/settings.ts";
import { ConfigError } from "../errors.ts";
import { isExecutable, whichProgram } from "../runtime/executables.ts";
import { denoOnPath } from "../runtime/find_deno.ts";
import type { Runtime } from "../runtime/types.ts";
import { denoTlsRefusal } from "../tls/tls_files.ts";

/**
 * The oldest Deno that runs appserve's workers, found by trying releases: a worker accepts on the
 * inherited socket through `net.Socket({ fd })`, which 2.0.6, 2.4.0, 2.6.0 and 2.7.1 refuse as
 * not implemented and 2.7.14 takes but never serves on (only --reuse-port worked there); 2.8.0
 * serves with each worker class, across HUP and with --reuse-port. (`deno bundle`, which builds
 * the bundle under the source launcher, is older: 2.4.)
 */
export const MIN_DENO = "2.8.0";

const INSTALL_HINT = 'install it with "npm i -g deno" or from https://deno.com, or name it ' +
  "with --deno PATH";

/** The runtime the workers run on, as the master logs it. */
export interface WorkerRuntime {
  name: "deno" | "bun";
  version: string;
  /** The executable: the Deno binary, or this program for Bun workers. */
  path: string;
  /** Whether the workers' TLS honours --cert-reqs and --ciphers. */
  tlsControls: boolean;
  /** Why auto did not pick what the project suggests, for a warning. */
  note?: string;
}

/** "deno 2.9.6 (/usr/local/bin/deno)" */
export function describeWorkerRuntime(w: WorkerRuntime): string {
  return `${w.name} ${w.version} (${w.path})`;
}

export interface ChooseRuntimeOptions {
  env: Record<string, string | undefined>;
  /** Whether the app's project has a deno.json or deno.jsonc. */
  denoProject: boolean;
  /** The directory appserve was started in (before --chdir): a relative --deno is taken from it. */
  cwd: string;
  /** Where config.runtime and config.deno came from, for errors. */
  origins: { runtime: string; deno: string };
}

/** Applies --runtime (auto: see the setting's doc); throws a one-line ConfigError. */
export function chooseWorkerRuntime(
  config: Config,
  runtime: Runtime,
  options: ChooseRuntimeOptions,
): WorkerRuntime {
  const wanted = config.runtime;
  const own: WorkerRuntime = {
    name: runtime.name,
    version: runtime.version,
    path: process.execPath,
    tlsControls: runtime.tlsControls,
  };
  if (wanted === "bun") {
    if (runtime.name === "bun") return own;
    throw new ConfigError(
      `${options.origins.runtime}: Cannot run Bun workers from appserve running on Deno: use the ` +
        "appserve binary (make compile) or `bun src/cli/main.ts`",
    );
  }
  if (wanted === "auto" && runtime.name === "bun" && !options.denoProject) return own;
  const deno = findDeno(config.deno, runtime, options);
  if (!deno) {
    if (wanted === "auto" && runtime.name === "bun") {
      const note = `The app's project has a deno.json but no Deno executable was found, so its ` +
        `workers run on Bun: ${INSTALL_HINT}`;
      return { ...own, note };
    }
    throw new ConfigError(
      `${options.origins.runtime}: Cannot find a Deno executable for the workers: ${INSTALL_HINT}`,
    );
  }
  // Deno's node:tls cannot verify client certificates (src/runtime/deno.ts says so too). This
  // program running on Bun can run Bun workers itself: say so rather than "use the binary".
  const refusal = runtime.name === "bun"
    ? denoTlsRefusal(config, "use --runtime bun (this appserve binary runs Bun workers)")
    : undefined;
  if (refusal) throw new ConfigError(refusal);
  return {
    name: "deno",
    version: checkDenoVersion(deno, runtime),
    path: deno,
    tlsControls: false,
  };
}

/** --deno, else $DENO, else `deno` on PATH, else the Deno running this program; or undefined. */
export function findDeno(
  explicit: string,
  runtime: Runtime,
  options: Pick<ChooseRuntimeOptions, "env" | "origins" | "cwd">,
): string | undefined {
  const named = explicit
    ? { name: explicit, origin: options.origins.deno }
    : options.env.DENO
    ? { name: options.env.DENO, origin: "$DENO" }
    : undefined;
  if (named) {
    // As a shell would: a bare name from PATH, a path from where appserve was started.
    const path = whichProgram(named.name, options.env.PATH, options.cwd);
    const why = !path
      ? "not found on PATH"
      : path === named.name
      ? "not an executable file"
      : `${path} is not an executable file`;
    if (!path || !isExecutable(path)) {
      throw new ConfigError(`${named.origin}: Cannot use "${named.name}" as Deno: ${why}`);
    }
    return path;
  }
  return denoOnPath(options.env.PATH) ?? (runtime.name === "deno" ? process.execPath : undefined);
}

/** The version of the Deno at `path`; a ConfigError when it cannot say or is older than MIN_DENO. */
export function checkDenoVersion(path: string, runtime: Runtime): string {
  const version = runtime.name === "deno" && path === process.execPath
    ? runtime.version
    : askVersion(path);
  if (compareVersions(version, MIN_DENO) < 0) {
    throw new ConfigError(
      `Deno ${version} at ${path} is too old for appserve's workers: they need Deno ${MIN_DENO} ` +
        `or newer (upgrade with "deno upgrade" or "npm i -g deno", or name another with --deno)`,
    );
  }
  return version;
}

/**
 * Versions already asked, by path and the file's identity: a HUP (a reloader may send them in
 * bursts) asks again only when that Deno was replaced, not a process each time.
 */
const asked = new Map<string, string>();

function askVersion(path: string): string {
  let key: string | undefined;
  try {
    const { dev, ino, size, mtimeMs } = statSync(path);
    key = `${path}\0${dev}:${ino}:${size}:${mtimeMs}`;
  } catch {
    // Said by running it, below.
  }
  const known = key === undefined ? undefined : asked.get(key);
  if (known !== undefined) return known;
  const version = runVersion(path);
  if (key !== undefined) asked.set(key, version);
  return version;
}

function runVersion(path: string): string {
  let out: string;
  try {
    out = execFileSync(path, ["--version"], {
      encoding: "utf8",
      timeout: 20_000,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
  } catch (error) {
    const why = (error as { stderr?: string }).stderr?.trim().split("\n")[0] ||
      (error as Error).message.split("\n")[0];
    throw new ConfigError(`Cannot run "${path} --version": ${why}`);
  }
  const m = /^deno (\d+\.\d+\.\d+)/m.exec(out);
  if (!m) {
    throw new ConfigError(
      `"${path} --version" did not say which Deno it is: "${out.trim().split("\n")[0]}"`,
    );
  }
  return m[1];
}

/** Compares dotted versions numerically ("2.10.0" > "2.9.6"); pre-release suffixes ignored. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}
