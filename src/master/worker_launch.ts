// How the master starts its workers: on the runtime chosen by worker_runtime.ts, and for Deno
// workers `deno run` of the installed bundle (worker_bundle.ts) under the user's project
// (deno_project.ts). Chosen before anything is bound; launched once privileges are dropped, so
// the bundle is written by, and readable for, the user the workers run as.

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { shellSplit } from "../config/_shell_split.ts";
import type { Config } from "../config/settings.ts";
import { AppserveError, ConfigError } from "../errors.ts";
import type { Runtime, SelfCommand } from "../runtime/types.ts";
import type { TlsFiles } from "../tls/tls_files.ts";
import { denoCacheMissing, denoCacheNote } from "./deno_cache.ts";
import { rawEnv } from "./spawn.ts";
import { CHECK_NOTE, type DenoFlags, parseDenoFlags } from "./deno_flags.ts";
import { frozenLockHint } from "./deno_lock.ts";
import { denoImportMap, type DenoProject, findDenoProject } from "./deno_project.ts";
import {
  buildBundle,
  bundleBytes,
  installBundle,
  type InstalledBundle,
  SOURCE_BUNDLE_DIR,
  sourceBundleStale,
} from "./worker_bundle.ts";
import {
  type ChooseRuntimeOptions,
  chooseWorkerRuntime,
  type WorkerRuntime,
} from "./worker_runtime.ts";

/**
 * V8's young generation for Deno workers, before the user's `--deno-flags` (a `--v8-flags` there
 * comes later and wins: Deno hands V8 every occurrence in order). By default each of V8's two
 * semi-spaces grows to 16 MB under a request load, and with the old generation that fills between
 * full collections a hello-world worker held 155 MB after 15 s of `wrk -c64` (raw Deno.serve: 50
 * MB). With 4 MB: 108 MB at the same CPU per request (10-13 µs in both; 2 MB cost about 15%
 * more, `--optimize-for-size` 70% more). docs/architecture.md, "Memory and start-up".
 */
export const DENO_WORKER_V8_FLAGS = ["--v8-flags=--max-semi-space-size=4"];

/** The runtime the workers run on and the project they load. */
export interface ChosenWorkers {
  runtime: WorkerRuntime;
  project: DenoProject;
  /** --deno-flags, the project flags taken out (they are in `project`). */
  flags: DenoFlags;
}

/** As chooseWorkerRuntime's, with the app module's file in place of whether it has a deno.json. */
export interface ChooseWorkersOptions extends Omit<ChooseRuntimeOptions, "denoProject"> {
  /** The app module's file. */
  appFile: string;
}

/** Picks the workers' runtime; a missing or old Deno or a broken deno.json throws one line. */
export function chooseWorkers(
  config: Config,
  runtime: Runtime,
  options: ChooseWorkersOptions,
): ChosenWorkers {
  // Relative files in --deno-flags as the worker's `deno run` would take them: from its cwd.
  const flags = parseDenoFlags(config.deno_flags, process.cwd());
  const project = projectOf(options.appFile, flags);
  const chosen = chooseWorkerRuntime(config, runtime, {
    env: options.env,
    cwd: options.cwd,
    denoProject: project.config !== undefined,
    origins: options.origins,
  });
  // Read now, so that a broken deno.json stops the start before anything is bound.
  if (chosen.name === "deno") {
    denoImportMap(project, "file:///appserve_shim.js");
    checkDenoPermissions(config.deno_flags);
  }
  return { runtime: chosen, project, flags };
}

/** The project the workers load: the user's `--config`/`--no-config`/`--import-map` win. */
function projectOf(appFile: string, flags: DenoFlags): DenoProject {
  const found: DenoProject = flags.config
    ? { config: flags.config }
    : flags.noConfig
    ? {}
    : findDenoProject(appFile);
  return flags.importMap ? { ...found, importMap: flags.importMap } : found;
}

/**
 * `--deno-flags` replaces the default `-A`, which a Deno worker needs: Deno lets a program read
 * /proc/self/limits (the fd budget) only with all permissions. Flags without it would start
 * workers that die at boot on Deno's NotCapable error; this says so in one line instead.
 */
export function checkDenoPermissions(denoFlags: string): void {
  const flags = shellSplit(denoFlags);
  const deny = flags.map((f) => /^--deny-([a-z]+)(?:=|$)/.exec(f)).find((m) => m !== null);
  if (deny) {
    throw new ConfigError(
      `--deno-flags "${denoFlags}": Deno workers cannot run with ${deny[0].replace(/=$/, "")}: ` +
        (DENY_NEEDS[deny[1]] ?? DENY_ANY) + "; restrict the app by other means (--user, a " +
        "container) and leave --deny-* out",
    );
  }
  if (flags.some((f) => f === "-A" || f === "--allow-all")) return;
  throw new ConfigError(
    `--deno-flags "${denoFlags}" replaces the default -A, which Deno workers need (Deno lets ` +
      'them read /proc/self/limits only with it): add it, as --deno-flags="-A --unstable-kv", ' +
      'or name unstable features in deno.json ("unstable": ["kv"])',
  );
}

// What a Deno worker itself needs that each --deny-* takes away. Any of them also leaves Deno's
// all-permission, without which Deno denies every read of /proc/self (tried with Deno 2.9).
const DENY_ANY = "any --deny-* flag takes away the all-permission Deno requires to read " +
  "/proc/self, where appserve's worker reads its fd limit, signal mask and process title";
const DENY_NEEDS: Record<string, string> = {
  ffi: "appserve's worker calls libc through FFI (sockets, signals, file descriptors)",
  env: "appserve's worker reads its start-up settings from the environment " +
    "(APPSERVE_WORKER_BOOT)",
  sys: "appserve's worker asks Deno for its uid (sys access), and " + DENY_ANY,
};

/** How to start a worker, and what to tell the log about it once. */
export interface WorkerLaunch {
  runtime: WorkerRuntime;
  command: SelfCommand;
  /** What preparing it did (building the Deno worker bundle): said each time it happens. */
  info: string[];
  /**
   * What holds for the configuration (the runtime's note, --check, Deno's cache, the bundle's
   * fallback folder): said at the start, and at a HUP only if new (gunicorn says its
   * configuration's warnings once per start); see launchWarnings().
   */
  warnings: string[];
  /** WARNINGs of what preparing it did (a bundle file written again): said each time. */
  happened: string[];
  /**
   * Deno workers: sees that the installed bundle is still there before a worker is spawned, and
   * writes it again when a file is gone (a temp cleaner emptied /tmp/appserve-UID): the WARNINGs
   * to say then. Throws an AppserveError, one line, when it cannot.
   */
  restore?(): Promise<string[]>;
  /** The directory its workers run in (src/master/work_dir.ts). */
  cwd: string;
  /** Deno workers: the cache folder their bundle is in. */
  bundleDir?: string;
  /** Deno workers: said after the reason when Deno refuses one (a frozen lock file's way out). */
  refusalHint?: string;
  /**
   * The certificate and key the master last read and checked for this generation (at start, at
   * HUP), given to each of its workers: certbot writing half a pair, or a key the user can no
   * longer read, cannot stop a worker's start (nginx's master does the same).
   */
  tls?: TlsFiles;
}

/**
 * The WARNINGs to say of `launch`: its configuration's at the start, and after a HUP only those
 * `before` (the launch it replaces) did not have; what preparing it did, each time.
 */
export function launchWarnings(launch: WorkerLaunch, before?: WorkerLaunch): string[] {
  return [
    ...launch.warnings.filter((line) => !before?.warnings.includes(line)),
    ...launch.happened,
  ];
}

/** Stands for the shim's URL in the import map until its folder is known. */
const SHIM_HERE = "appserve:shim";

/** Prepares the worker command: for Deno, the bundle in the cache and the project's import map. */
export async function launchWorkers(
  chosen: ChosenWorkers,
  config: Config,
  runtime: Runtime,
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<WorkerLaunch> {
  const launch: WorkerLaunch = {
    cwd,
    runtime: chosen.runtime,
    command: runtime.workerCommand(),
    info: [],
    warnings: chosen.runtime.note ? [chosen.runtime.note] : [],
    happened: [],
  };
  if (chosen.runtime.name === "bun") return launch;
  if (chosen.flags.check) launch.warnings.push(CHECK_NOTE);
  launch.refusalHint = frozenLockHint(chosen.project, chosen.flags);
  // The workers' environment: --env (raw_env) may name DENO_DIR for them.
  const workerEnv = { ...env, ...rawEnv(config.raw_env) };
  const noCache = denoCacheMissing(workerEnv);
  if (noCache) throw new ConfigError(noCache);
  const cacheNote = denoCacheNote(workerEnv);
  if (cacheNote) launch.warnings.push(cacheNote);
  if (!runtime.compiled) {
    const stale = sourceBundleStale();
    if (stale) {
      launch.info.push(`Building the Deno worker bundle in ${SOURCE_BUNDLE_DIR} (${stale})`);
      buildBundle(chosen.runtime.path, SOURCE_BUNDLE_DIR);
    }
  }
  // The map is read once: a worker whose files are written again loads what its siblings load.
  const map = denoImportMap(chosen.project, SHIM_HERE);
  // The shim by a path relative to the map (an import map's addresses resolve against its own
  // URL): the map, and so its name, is the same in any cache folder, and a bundle extracted at
  // image build time is found under another XDG_CACHE_HOME's path as well (README).
  const mapFile = () => {
    const shim = "./appserve_shim.js";
    const imports = { ...map.imports, ...map.imports.appserve === SHIM_HERE && { appserve: shim } };
    const bytes = new TextEncoder().encode(JSON.stringify({ ...map, imports }, null, 2) + "\n");
    const name = `import_map-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.json`;
    return new Map([[name, bytes]]);
  };
  const install = async () =>
    installBundle(await bundleBytes(runtime), { env, alongside: mapFile });
  let installed = await install();
  if (installed.fallback) launch.warnings.push(installed.fallback);
  launch.happened.push(...installed.notes);
  const { project } = chosen;
  // Without a deno.json, a package.json project resolves bare imports from its node_modules.
  const projectArgs = project.config
    ? ["--config", project.config]
    : ["--no-config", ...(project.packageJson ? ["--node-modules-dir=manual"] : [])];
  const command = (bundle: InstalledBundle): SelfCommand => ({
    command: chosen.runtime.path,
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      // Deno.serve's reusePort (--reuse-port) is still behind this flag.
      "--unstable-net",
      ...DENO_WORKER_V8_FLAGS,
      ...chosen.flags.rest,
      ...projectArgs,
      "--import-map",
      bundle.alongside[0],
      join(bundle.dir, "process_entry.js"),
    ],
  });
  launch.command = command(installed);
  launch.bundleDir = installed.dir;
  launch.restore = async () => {
    // A few stats: nothing next to a spawn (docs/architecture.md).
    const gone = installed.paths.filter((path) => !existsSync(path));
    if (!gone.length) return [];
    const { fallback } = installed;
    try {
      installed = await install();
    } catch (error) {
      throw new AppserveError(
        `The Deno worker bundle in ${dirname(gone[0])} is gone: ` +
          (error as Error).message.split("\n")[0],
        1,
      );
    }
    launch.command = command(installed);
    launch.bundleDir = installed.dir;
    const moved = installed.dir === dirname(gone[0]) ? "" : ` to ${installed.dir}`;
    // A new fallback folder (or none now) is the launch's warning from here on: a HUP says it
    // again only when it differs from this one.
    const changed = installed.fallback !== fallback;
    if (changed) {
      launch.warnings = launch.warnings.filter((line) => line !== fallback);
      if (installed.fallback) launch.warnings.push(installed.fallback);
    }
    return [
      `${gone.length} of the ${installed.paths.length} files of the Deno worker bundle in ` +
      `${dirname(gone[0])} were gone (a cleaner of temporary files?): written again${moved}`,
      ...(changed && installed.fallback ? [installed.fallback] : []),
      ...installed.notes,
    ];
  };
  return launch;
}
