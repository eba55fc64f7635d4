// --check-config: everything a start would check, without starting: the app
// module and its export (imported, as gunicorn's check does, but in a worker
// process on the workers' runtime, under the user's deno.json), the logger class,
// the hooks module, TLS files, user and groups, and the folders of every file
// the master would create. Each failure is one line (an app's own error is
// followed by its stack), and any failure is exit 1.

import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import process from "node:process";
import { resolveModulePath } from "../app/load_app.ts";
import { parseAppSpec } from "../app/app_spec.ts";
import { gunicornLeftovers } from "../config/gunicorn_only.ts";
import type { Resolved } from "../config/resolve.ts";
import type { Config } from "../config/settings.ts";
import { AppLoadError, AppserveError, ConfigError } from "../errors.ts";
import { HookRunner } from "../hooks.ts";
import { Logger } from "../log/logger.ts";
import { type AppserveExports, loadLoggerClass } from "../log/logger_class.ts";
import { accessRoute, errorRoute } from "../log/logging_table.ts";
import {
  dropPrivileges,
  type Identity,
  lookupGroup,
  resolveIdentity,
  wouldDrop,
} from "../master/privileges.ts";
import { importInWorker } from "../master/import_check.ts";
import { chooseWorkers, type ChosenWorkers, launchWorkers } from "../master/worker_launch.ts";
import {
  type FolderNote,
  logBlockers,
  unreachableLogs,
  userFolderNotes,
} from "../master/user_folders.ts";
import { parseBind } from "../net/bind.ts";
import { staleSocketAt } from "../net/listeners.ts";
import type { Libc, Runtime } from "../runtime/types.ts";
import { loadTlsFiles } from "../tls/tls_files.ts";
import { ExitCode } from "../exit_codes.ts";

/** Checks APP_MODULE without importing it; returns the module's file. */
export function checkAppModule(resolved: Resolved, cwd: string = process.cwd()): string {
  const app = resolved.config.app;
  if (!app && resolved.unreadApp !== undefined) {
    // gunicorn drops it silently; an env-only container would then not say why.
    throw new ConfigError(
      `No application module specified: APPSERVE_CMD_ARGS's "${resolved.unreadApp}" is not ` +
        "read as one (as gunicorn reads none from GUNICORN_CMD_ARGS); give it on the command " +
        "line, or as app in appserve.toml.",
    );
  }
  if (!app) throw new ConfigError("No application module specified.");
  try {
    return resolveModulePath(parseAppSpec(app).path, cwd);
  } catch (error) {
    throw error instanceof AppLoadError ? error : new AppLoadError((error as Error).message);
  }
}

export function checkTmpDir(config: Config, origin: string): void {
  if (!config.worker_tmp_dir) return;
  try {
    accessSync(config.worker_tmp_dir, constants.W_OK);
    if (!statSync(config.worker_tmp_dir).isDirectory()) throw new Error("not a directory");
  } catch {
    throw new ConfigError(`${origin}: "${config.worker_tmp_dir}" is not a writable directory`);
  }
}

/** --socket-group as a gid, with the setting's origin on a group that does not exist. */
export function socketGroupOf(resolved: Resolved): { gid: number; name: string } | undefined {
  const group = resolved.config.socket_group;
  if (!group) return undefined;
  try {
    return lookupGroup(group);
  } catch (error) {
    throw new ConfigError(`${resolved.origins.socket_group}: ${(error as Error).message}`);
  }
}

/** Whether this process may give files to `gid`: root, or a member (/proc/self/status). */
function mayGiveTo(gid: number): boolean {
  if (process.getuid?.() === 0) return true;
  const status = readFileSync("/proc/self/status", "utf8");
  const ids = (key: string) =>
    (new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").split(/\s+/).map(Number);
  return [...ids("Gid"), ...ids("Groups")].includes(gid);
}

/** --socket-group: it exists, and a start could hand the sockets to it. */
function checkSocketGroup(resolved: Resolved): void {
  const group = socketGroupOf(resolved);
  if (group && !mayGiveTo(group.gid)) {
    throw new ConfigError(
      `${resolved.origins.socket_group}: Cannot give unix sockets to group ${group.name} ` +
        `(gid ${group.gid}): appserve must be root or a member of that group`,
    );
  }
}

/** A file the master would create or append to: its folder must let it. */
function checkCreatable(what: string, path: string): void {
  const full = resolve(path);
  if (existsSync(full)) {
    if (statSync(full).isDirectory()) throw new ConfigError(`${what} "${path}" is a directory`);
    try {
      accessSync(full, constants.W_OK);
    } catch {
      throw new ConfigError(`${what} "${path}" is not writable`);
    }
    return;
  }
  checkFolder(what, path);
}

/**
 * A unix socket is refused as a start refuses it (something in the way, a live master on it),
 * and a stale one is replaced, so its folder must let the master remove and create files.
 */
function checkSocketPath(libc: Libc, path: string): void {
  staleSocketAt(libc, resolve(path));
  checkFolder("unix socket", path);
}

function checkFolder(what: string, path: string): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new ConfigError(`${what} "${path}": no folder "${dir}"`);
  if (!statSync(dir).isDirectory()) {
    throw new ConfigError(`${what} "${path}": "${dir}" is not a folder`);
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new ConfigError(`${what} "${path}": cannot create files in "${dir}"`);
  }
}

/** The files the master creates, by what they are. */
function createdFiles(config: Config): [string, string][] {
  const files: [string, string][] = [];
  const log = (what: string, file: string) => {
    if (file && file !== "-") files.push([what, file]);
  };
  log("error log", errorRoute(config, "master").file);
  if (errorRoute(config, "worker").file !== errorRoute(config, "master").file) {
    log("worker error log", errorRoute(config, "worker").file);
  }
  log("access log", accessRoute(config).file);
  if (config.pidfile) files.push(["pidfile", config.pidfile]);
  return files;
}

/**
 * Runs every check (--check-config, and --print-config once it printed); prints each failure and
 * resolves to the exit code.
 */
export async function checkConfig(
  resolved: Resolved,
  { runtime, appserve, startCwd, quiet = false }: {
    runtime: Runtime;
    appserve: AppserveExports;
    /** The directory appserve was started in, before --chdir. */
    startCwd: string;
    /** No "configuration OK" (--print-config: its stdout is the TOML). */
    quiet?: boolean;
  },
): Promise<number> {
  const { config } = resolved;
  const problems: string[] = [];
  const check = async (step: () => unknown) => {
    try {
      await step();
    } catch (error) {
      if (!(error instanceof AppserveError)) throw error;
      // Not an app load error here: nothing runs, so every failure is a configuration error.
      problems.push(error.message);
    }
  };
  await check(() => checkTmpDir(config, resolved.origins.worker_tmp_dir));
  // The master's libc (FFI), which a start loads first: a low `ulimit -v` stops Bun's.
  await check(() => runtime.libc());
  // The workers' runtime (no Deno, an old one, a broken deno.json: one line each, as at start).
  let chosen: ChosenWorkers | undefined;
  await check(() => {
    chosen = chooseWorkers(config, runtime, {
      env: process.env,
      cwd: startCwd,
      appFile: checkAppModule(resolved),
      origins: { runtime: resolved.origins.runtime, deno: resolved.origins.deno },
    });
  });
  // The workers serve TLS: what their runtime can verify is what counts.
  await check(() => loadTlsFiles(config, (chosen?.runtime ?? runtime).tlsControls));
  const notes: FolderNote[] = [];
  let identity: Identity | null = null;
  await check(() => {
    const id = identity = resolveIdentity(config);
    // The start warns only when the master drops root, and so does this.
    if (!id || !wouldDrop(id)) return;
    const sockets = config.bind.map(parseBind).flatMap((a) => a.kind === "unix" ? [a.path] : []);
    notes.push(...userFolderNotes(config, id, { sockets }));
  });
  await check(() => checkSocketGroup(resolved));
  for (const [what, path] of createdFiles(config)) await check(() => checkCreatable(what, path));
  for (const address of config.bind.map(parseBind)) {
    if (address.kind === "unix") await check(() => checkSocketPath(runtime.libc(), address.path));
  }
  if (config.logger_class) {
    await check(() =>
      loadLoggerClass(config.logger_class, { cwd: process.cwd(), runtime, appserve })
    );
  }
  if (config.hooks) {
    await check(() => HookRunner.load(config.hooks, new Logger({ level: "critical" })));
  }
  // Root with -u: what is left is checked as the user the workers run as, as a start does it.
  await check(() => {
    if (!identity || !wouldDrop(identity)) return;
    const blockers = logBlockers(config, identity);
    dropPrivileges(runtime.libc(), identity);
    problems.push(...unreachableLogs(config, identity, false, blockers));
  });
  const workers = chosen;
  if (workers) {
    await check(async () => {
      // Its warnings (where the Deno bundle went) are the start's to say.
      await importInWorker(
        await launchWorkers(workers, config, runtime, process.env, process.cwd()),
        config,
      );
    });
  }
  // A note (the master's INFO) does not make the configuration wrong: exit 0 for both.
  for (const { warning, line } of notes) {
    process.stderr.write(`${warning ? "Warning" : "Note"}: ${line}\n`);
  }
  // What a start warns of that gunicorn would have read (GUNICORN_CMD_ARGS, gunicorn.conf.py):
  // a check is where a migration finds out first.
  for (const line of gunicornLeftovers(process.env, startCwd, config.config)) {
    process.stderr.write(`Warning: ${line}\n`);
  }
  if (problems.length) {
    for (const problem of problems) process.stderr.write(`Error: ${problem}\n`);
    return ExitCode.CONFIG_ERROR;
  }
  if (!quiet) process.stdout.write("configuration OK\n");
  return ExitCode.OK;
}
