// The program's entry: resolves the configuration, then checks, prints or runs
// the master. The only place that turns domain errors into an exit code.

import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import process from "node:process";
import { loadApp, resolveModulePath } from "../app/load_app.ts";
import { parseAppSpec } from "../app/app_spec.ts";
import { renderConfig } from "../config/print_config.ts";
import { resolveConfig, type Resolved } from "../config/resolve.ts";
import { AppLoadError, AppserveError, ConfigError } from "../errors.ts";
import { captureOutput } from "../log/capture_output.ts";
import { createLogger } from "../log/create_logger.ts";
import { type Address, parseBind } from "../net/bind.ts";
import { adoptInherited } from "../net/inherited.ts";
import { closeListeners, openListeners } from "../net/listeners.ts";
import { Arbiter } from "../master/arbiter.ts";
import { Pidfile } from "../master/pidfile.ts";
import { HookRunner } from "../hooks.ts";
import { PARENT_ENV } from "../master/reexec.ts";
import type { Config } from "../config/settings.ts";
import { ROLE_ENV } from "../master/spawn.ts";
import { detectRuntime } from "../runtime/mod.ts";
import type { Runtime } from "../runtime/types.ts";
import { processTitle } from "../process_title.ts";
import { VERSION } from "../version.ts";
import { ExitCode } from "./exit_codes.ts";
import { loadTlsFiles } from "../tls/tls_files.ts";
import { chownAll, dropPrivileges, ownedFiles, resolveIdentity } from "../master/privileges.ts";
import { renderHelp } from "./help.ts";

/** Checks APP_MODULE without importing it; returns the module's file. */
function checkAppModule(config: Config): string {
  const app = config.app;
  if (!app) throw new ConfigError("No application module specified.");
  try {
    return resolveModulePath(parseAppSpec(app).path, process.cwd());
  } catch (error) {
    throw error instanceof AppLoadError ? error : new AppLoadError((error as Error).message);
  }
}

// --check-config: any problem, the app's included, is a configuration error (exit 1).
async function checkConfig(resolved: Resolved): Promise<number> {
  try {
    checkAppModule(resolved.config);
    // Not a master: this process serves nothing, so it may import the app.
    await loadApp(resolved.config.app, process.cwd());
  } catch (error) {
    if (error instanceof AppLoadError) throw new ConfigError(error.message);
    throw error;
  }
  process.stdout.write("configuration OK\n");
  return ExitCode.OK;
}

/** Set in the detached copy that -D starts. */
const DAEMON_ENV = "APPSERVE_DAEMONIZED";

// -D: start the same command detached in its own session and return at once.
function daemonize(argv: string[], runtime: Runtime, keepStdio: boolean): number {
  const command = runtime.masterCommand(argv);
  const child = spawn(command.command, command.args, {
    detached: true,
    // -R keeps stdout and stderr; stdin is /dev/null either way, as in gunicorn.
    stdio: keepStdio ? ["ignore", "inherit", "inherit"] : "ignore",
    env: { ...process.env, [DAEMON_ENV]: "1" },
  });
  child.unref();
  return ExitCode.OK;
}

function checkTmpDir(config: Config, origin: string): void {
  if (!config.worker_tmp_dir) return;
  try {
    accessSync(config.worker_tmp_dir, constants.W_OK);
    if (!statSync(config.worker_tmp_dir).isDirectory()) throw new Error("not a directory");
  } catch {
    throw new ConfigError(`${origin}: "${config.worker_tmp_dir}" is not a writable directory`);
  }
}

async function serve(
  argv: string[],
  resolved: Resolved,
  runtime: Runtime,
  appFile: string,
): Promise<number> {
  const { config } = resolved;
  checkTmpDir(config, resolved.origins.worker_tmp_dir);
  // Unreadable or mismatched certificates stop the start here, before anything is bound.
  loadTlsFiles(config, runtime.tlsClientCerts);
  const identity = resolveIdentity(config);
  // Set before anything is created, so sockets, the pidfile and logs get it; workers inherit it.
  if (resolved.origins.umask !== "default") runtime.libc().umask(config.umask);
  if (config.daemon && !process.env[DAEMON_ENV]) {
    return daemonize(argv, runtime, config.enable_stdio_inheritance);
  }
  delete process.env[DAEMON_ENV];
  const env = { ...process.env };
  // Fails at start, in one line, when a log file cannot be written or the logger class loaded.
  const log = await createLogger(config, "master", runtime);
  captureOutput(runtime.libc(), config, "master", log);
  const parentPid = Number(env[PARENT_ENV]) || undefined;
  delete process.env[PARENT_ENV];
  runtime.setProcessTitle(processTitle("master", config) + (parentPid ? ".2" : ""));
  const addresses = config.bind.map(parseBind);
  const reuse = (a: Address) => config.reuse_port && a.kind === "tcp";
  const reusePort = addresses.flatMap((a) =>
    a.kind === "tcp" && reuse(a) ? [{ host: a.host, port: a.port }] : []
  );
  const hooks = await HookRunner.load(config.hooks, log);
  await hooks.run("on_starting", { pid: process.pid, config, log, numWorkers: config.workers });
  // Bind first: a bind failure is then the only line the user sees.
  const inherited = adoptInherited(runtime.libc(), process.env, process.pid);
  const listeners = inherited?.listeners ??
    await openListeners(runtime.libc(), addresses.filter((a) => !reuse(a)), config.backlog);
  const pidfile = config.pidfile
    ? new Pidfile(parentPid ? `${config.pidfile}.2` : config.pidfile)
    : undefined;
  try {
    pidfile?.create(process.pid);
    if (identity) {
      // What the master made as root goes to the user first: after the drop it could not.
      chownAll(ownedFiles(config, inherited ? [] : listeners, pidfile?.path), identity);
      const dropped = dropPrivileges(runtime.libc(), identity);
      // Workers (and HUP) read the certificate and key as the user, as in gunicorn: say now.
      loadTlsFiles(config, runtime.tlsClientCerts);
      if (dropped) log.info(`Dropped privileges to ${identity.describe}`);
    }
  } catch (error) {
    closeListeners(runtime.libc(), inherited ? [] : listeners);
    pidfile?.unlink(process.pid);
    throw error;
  }
  log.info(`Starting appserve ${VERSION}`);
  const reloadConfig = () => {
    const next = resolveConfig(argv, { env: process.env, cwd: process.cwd() }).config;
    checkAppModule(next);
    // Renewed certificates are read by the new workers; broken ones keep the old workers.
    loadTlsFiles(next, runtime.tlsClientCerts);
    return next;
  };
  const arbiter = new Arbiter({
    config,
    log,
    runtime,
    listeners,
    reusePort,
    reloadConfig,
    argv,
    env,
    cwd: process.cwd(),
    pidfile,
    parentPid,
    systemd: inherited?.source === "systemd",
    hooks,
    appFile,
  });
  try {
    return await arbiter.run();
  } finally {
    await log.close();
  }
}

/** Runs the CLI with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const runtime = await detectRuntime();
  const resolved = resolveConfig(argv, { env: process.env, cwd: process.cwd() });
  if (resolved.actions.has("help")) {
    process.stdout.write(renderHelp());
    return ExitCode.OK;
  }
  if (resolved.actions.has("version")) {
    process.stdout.write(`appserve ${VERSION} (${runtime.name} ${runtime.version})\n`);
    return ExitCode.OK;
  }
  if (resolved.actions.has("print-config")) {
    process.stdout.write(renderConfig(resolved, process.cwd()));
    return ExitCode.OK;
  }
  if (resolved.config.chdir) {
    try {
      process.chdir(resolved.config.chdir);
    } catch {
      throw new ConfigError(
        `${resolved.origins.chdir}: Cannot change directory to "${resolved.config.chdir}"`,
      );
    }
  }
  if (resolved.actions.has("check-config")) return await checkConfig(resolved);
  return await serve(argv, resolved, runtime, checkAppModule(resolved.config));
}

async function entry(): Promise<void> {
  if (process.env[ROLE_ENV] === "worker") {
    await import("../../workers/process_entry.ts");
    return;
  }
  let code: number;
  try {
    code = await main(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof AppserveError)) throw error;
    process.stderr.write(`Error: ${error.message}\n`);
    code = error.exitCode;
  }
  process.exit(code);
}

if (import.meta.main) await entry();
