// How the master starts its workers: on the runtime chosen by worker_runtime.ts, and for Deno
// workers `deno run` of the installed bundle (worker_bundle.ts) under the user's project
// (deno_project.ts). Chosen before anything is bound; launched once privileges are dropped, so
// the bundle is written by, and readable for, the user the workers run as.

import { createHash } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { shellSplit } from "../config/_shell_split.ts";
import type { Config } from "../config/settings.ts";
import { ConfigError } from "../errors.ts";
import type { Runtime, SelfCommand } from "../runtime/types.ts";
import { denoImportMap, type DenoProject, findDenoProject } from "./deno_project.ts";
import {
  buildBundle,
  bundleBytes,
  installBundle,
  placeFile,
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
  const project = findDenoProject(options.appFile);
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
  return { runtime: chosen, project };
}

/**
 * `--deno-flags` replaces the default `-A`, which a Deno worker needs: Deno lets a program read
 * /proc/self/limits (the fd budget) only with all permissions. Flags without it would start
 * workers that die at boot on Deno's NotCapable error; this says so in one line instead.
 */
export function checkDenoPermissions(denoFlags: string): void {
  if (shellSplit(denoFlags).some((f) => f === "-A" || f === "--allow-all")) return;
  throw new ConfigError(
    `--deno-flags "${denoFlags}" replaces the default -A, which Deno workers need (Deno lets ` +
      'them read /proc/self/limits only with it): add it, as --deno-flags="-A --unstable-kv", ' +
      'or name unstable features in deno.json ("unstable": ["kv"])',
  );
}

/** How to start a worker, and what to tell the log about it once. */
export interface WorkerLaunch {
  runtime: WorkerRuntime;
  command: SelfCommand;
  info: string[];
  warnings: string[];
}

/** Prepares the worker command: for Deno, the bundle in the cache and the project's import map. */
export async function launchWorkers(
  chosen: ChosenWorkers,
  config: Config,
  runtime: Runtime,
  env: Record<string, string | undefined>,
): Promise<WorkerLaunch> {
  const launch: WorkerLaunch = {
    runtime: chosen.runtime,
    command: runtime.workerCommand(),
    info: [],
    warnings: chosen.runtime.note ? [chosen.runtime.note] : [],
  };
  if (chosen.runtime.name === "bun") return launch;
  if (!runtime.compiled) {
    const stale = sourceBundleStale();
    if (stale) {
      launch.info.push(`Building the Deno worker bundle in ${SOURCE_BUNDLE_DIR} (${stale})`);
      buildBundle(chosen.runtime.path, SOURCE_BUNDLE_DIR);
    }
  }
  const installed = installBundle(await bundleBytes(runtime), { env });
  launch.warnings.push(...installed.notes);
  const shim = pathToFileURL(join(installed.dir, "appserve_shim.js")).href;
  const map = new TextEncoder().encode(
    JSON.stringify(denoImportMap(chosen.project, shim), null, 2) + "\n",
  );
  const mapName = `import_map-${createHash("sha256").update(map).digest("hex").slice(0, 16)}.json`;
  placeFile(installed.dir, mapName, map, launch.warnings);
  const { project } = chosen;
  // Without a deno.json, a package.json project resolves bare imports from its node_modules.
  const projectArgs = project.config
    ? ["--config", project.config]
    : ["--no-config", ...(project.packageJson ? ["--node-modules-dir=manual"] : [])];
  launch.command = {
    command: chosen.runtime.path,
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      // Deno.serve's reusePort (--reuse-port) is still behind this flag.
      "--unstable-net",
      ...DENO_WORKER_V8_FLAGS,
      ...shellSplit(config.deno_flags),
      ...projectArgs,
      "--import-map",
      join(installed.dir, mapName),
      join(installed.dir, "process_entry.js"),
    ],
  };
  return launch;
}
