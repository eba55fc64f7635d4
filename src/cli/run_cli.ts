// The CLI: resolves the configuration, then prints the help, the version or
// the configuration, checks it, or runs the master. Called by the program's
// entry (main.ts) and by mod.ts's main().

import { mkdirSync } from "node:fs";
import process from "node:process";
import { renderConfig } from "../config/print_config.ts";
import { currentConfiguration } from "../config/current_config.ts";
import { gunicornLeftovers } from "../config/gunicorn_only.ts";
import { resolveConfig, type Resolved } from "../config/resolve.ts";
import { helpWordIndex, longFlagOf } from "../config/sources.ts";
import { AppserveError, ConfigError, osReason } from "../errors.ts";
import { captureOutput } from "../log/capture_output.ts";
import { createLogger } from "../log/create_logger.ts";
import { NOTIFY_ENV, SystemdNotify } from "../master/systemd_notify.ts";
import { startMetrics } from "../master/metrics_server.ts";
import { STARTING } from "../master/health.ts";
import {
  type ControlHandler,
  type ControlHost,
  controlRunAs,
  ControlSocket,
  openDefaultControl,
} from "../master/control_socket.ts";
import {
  controlSocketPath,
  defaultControlDir,
  implicitControlSocket,
} from "../ipc/control_protocol.ts";
import { runCtl } from "./ctl.ts";
import type { AppserveExports } from "../log/logger_class.ts";
import { type Address, parseBind } from "../net/bind.ts";
import { adoptInherited, notPassed, REEXEC_FDS_ENV } from "../net/inherited.ts";
import { closeListeners, type Listener, openListeners, probeReusePort } from "../net/listeners.ts";
import { adoptAcceptsFlag, adoptMetricsSocket } from "../net/metrics_socket.ts";
import { fdLimit, openFds } from "../net/fd_usage.ts";
import { fdLimitTooLow } from "../master/fd_budget.ts";
import { Arbiter } from "../master/arbiter.ts";
import { Pidfile } from "../master/pidfile.ts";
import { type MasterSignal, shortName } from "../master/signals.ts";
import { StartSignals } from "../master/start_signals.ts";
import { HookRunner } from "../hooks.ts";
import { PARENT_ENV } from "../master/reexec.ts";
import { detectRuntime } from "../runtime/mod.ts";
import type { Runtime } from "../runtime/types.ts";
import { processTitle } from "../process_title.ts";
import { BUILD, VERSION } from "../version.ts";
import { ExitCode } from "../exit_codes.ts";
import { certValidityWarning } from "../tls/cert_validity.ts";
import { loadTlsFiles, tlsEnabled, type TlsFiles } from "../tls/tls_files.ts";
import {
  chownAll,
  dropPrivileges,
  ownedFiles,
  ownedSockets,
  resolveIdentity,
  wouldDrop,
} from "../master/privileges.ts";
import { logBlockers, unreachableLogs, userFolderNotes } from "../master/user_folders.ts";
import { chooseWorkers, launchWorkers, type WorkerLaunch } from "../master/worker_launch.ts";
import { enterDir, generationDir, logicalCwd } from "../master/work_dir.ts";
import { cacheCandidates } from "../master/worker_bundle.ts";
import { pruneBundles } from "../master/bundle_prune.ts";
import { importInWorker, PRELOADED } from "../master/import_check.ts";
import { renderHelp, renderTopicHelp } from "./help.ts";
import { checkAppModule, checkConfig, checkTmpDir, socketGroupOf } from "./check_config.ts";
import { DAEMON_ENV, daemonize } from "./daemon.ts";
import { StartupReport } from "./startup_report.ts";
import { guardStdStreams } from "../log/std_streams.ts";

interface ServeContext {
  argv: string[];
  resolved: Resolved;
  runtime: Runtime;
  appFile: string;
  report: StartupReport;
  /** The directory appserve was started in, before --chdir. */
  startCwd: string;
  appserve: AppserveExports;
  /** The signals that come while the master starts (held but in the command -D detaches). */
  held: StartSignals;
}

async function serve(ctx: ServeContext): Promise<number> {
  const { argv, resolved, runtime, report } = ctx;
  const { config } = resolved;
  // A USR2 child of a daemon is already detached (gunicorn skips daemonizing then too).
  const detaching = config.daemon && !process.env[DAEMON_ENV] && !process.env[REEXEC_FDS_ENV];
  // The master's signals are held from here on (the command that detaches keeps the defaults).
  const { held } = ctx;
  if (!detaching) held.hold((signo) => runtime.libc().takeSignal(signo));
  checkTmpDir(config, resolved.origins.worker_tmp_dir);
  // No Deno, an old one or a broken deno.json: one line now, before anything is bound.
  // `dir`: where the generation's workers run (work_dir.ts).
  const chooseOptions = (r: Resolved, dir: string) => ({
    env: process.env,
    cwd: ctx.startCwd,
    appFile: checkAppModule(r, dir),
    origins: { runtime: r.origins.runtime, deno: r.origins.deno },
  });
  const workers = chooseWorkers(config, runtime, chooseOptions(resolved, process.cwd()));
  // The workers serve TLS: what their runtime honours is what counts.
  const tlsControls = workers.runtime.tlsControls;
  // Unreadable or mismatched certificates stop the start here, before anything is bound. Read
  // as the user appserve starts as; the workers get what the master read (never the files).
  let tls = await loadTlsFiles(config, tlsControls);
  const identity = resolveIdentity(config);
  const socketGroup = socketGroupOf(resolved);
  if (detaching) {
    return await daemonize(argv, runtime, {
      keepStdio: config.enable_stdio_inheritance,
      cwd: ctx.startCwd,
    });
  }
  // gunicorn's daemonize sets umask 0o022 for the files the daemon creates.
  if (process.env[DAEMON_ENV]) runtime.libc().umask(0o022);
  delete process.env[DAEMON_ENV];
  // A USR2 parent's metrics listener, taken before `env` is copied: no worker is told of it.
  const inheritedMetrics = adoptMetricsSocket(runtime.libc(), process.env, config.metrics_bind);
  const metricsAccepts = adoptAcceptsFlag(runtime.libc(), process.env);
  const env = { ...process.env };
  // Fails at start, in one line, when a log file cannot be written or the logger class loaded.
  const log = await createLogger(config, {
    role: "master",
    runtime,
    appserve: ctx.appserve,
    origins: resolved.origins,
  });
  report.useLogger(log);
  captureOutput(runtime.libc(), config, "master", log);
  const parentPid = Number(env[PARENT_ENV]) || undefined;
  delete process.env[PARENT_ENV];
  runtime.setProcessTitle(processTitle("master", config) + (parentPid ? ".2" : ""));
  const addresses = config.bind.map(parseBind);
  const reuse = (a: Address) => config.reuse_port && a.kind === "tcp";
  const notify = SystemdNotify.fromEnv(runtime.libc(), process.env, {
    pid: process.pid,
    warn: (line) => log.warning(line),
  });
  // Workers and the processes they start are no part of the protocol (sd_notify's unset_environment).
  for (const name of NOTIFY_ENV) delete process.env[name];
  // The metrics listener asks the arbiter, which starts last; not ready (but alive) until then.
  const source = { arbiter: undefined as Arbiter | undefined };
  const metrics = config.metrics_bind
    ? await startMetrics(config.metrics_bind, {
      metrics: () => source.arbiter?.metrics() ?? "",
      readiness: () => source.arbiter?.readiness() ?? STARTING.readiness,
      liveness: () => source.arbiter?.liveness() ?? STARTING.liveness,
    }, {
      log,
      retry: parentPid !== undefined,
      libc: runtime.libc(),
      inherited: inheritedMetrics,
      parent: parentPid,
      accepts: inheritedMetrics === undefined ? undefined : metricsAccepts,
    })
    : undefined;
  const hooks = await HookRunner.load(config.hooks, log);
  await hooks.run("on_starting", { pid: process.pid, config, log, numWorkers: config.workers });
  // An open-files limit the master cannot run under is said in one line, before the bind
  // would fail for it or a spawn later (inherited listeners are open already: counted there).
  const tooLow = fdLimitTooLow(
    config,
    fdLimit(),
    { master: runtime.name, workers: workers.runtime.name },
    openFds(),
    addresses.length,
  );
  if (tooLow) throw new ConfigError(tooLow);
  // Bind first: a bind failure is then the only line the user sees.
  const inherited = adoptInherited(runtime.libc(), process.env, process.pid);
  // As gunicorn, socket activation's sockets replace every bind address, --reuse-port's too
  // (systemd owns the sockets: a worker's own listener would serve an address the unit never
  // declared): said once, not silently, when any was asked for. A USR2 child of an activated
  // master inherits systemd's sockets and binds none either.
  const activated = inherited?.listeners.some((l) => l.activated) ?? false;
  const reusePort = activated
    ? []
    : addresses.flatMap((a) =>
      a.kind === "tcp" && reuse(a) ? [{ host: a.host, port: a.port }] : []
    );
  if (inherited?.source === "systemd" && resolved.origins.bind !== "default") {
    // A bind naming a passed socket (`fd://3`, its address) is served: only the others are said.
    const unserved = await notPassed(addresses, inherited.listeners);
    const ignored = config.bind.filter((_, i) => unserved[i]);
    const withReuse = addresses.some(reuse);
    const what = ignored.length
      ? `${resolved.origins.bind} ${ignored.join(", ")} ignored${
        withReuse ? " (--reuse-port too)" : ""
      }`
      : withReuse
      ? "--reuse-port ignored"
      : "";
    if (what) {
      log.warning(
        `${what}: serving the sockets systemd passed (LISTEN_FDS) instead, as gunicorn does`,
      );
    }
  }
  // A stop signal while the start is under way: one line each, as for a later stop, and exit 0.
  const stopped = async (stop: MasterSignal): Promise<number> => {
    log.info(`Handling signal: ${shortName(stop)}`);
    log.info(`Shutting down: ${parentPid ? "Master.2" : "Master"}`);
    await metrics?.close();
    await log.close();
    return ExitCode.OK;
  };
  let listeners: Listener[];
  // Ctrl-C while an address in use is retried stops at once, as it did before the hold.
  const retrying = {
    retrying: (line: string) => log.error(line),
    signal: held.aborted,
    scheme: tlsEnabled(config) ? "https" as const : "http" as const,
  };
  try {
    // First, so that nothing is open yet should it fail.
    await probeReusePort(runtime.libc(), reusePort, retrying);
    listeners = inherited?.listeners ??
      await openListeners(runtime.libc(), addresses.filter((a) => !reuse(a)), {
        backlog: config.backlog,
        umask: config.umask,
        socketMode: config.socket_mode ?? undefined,
        socketGroup,
        ...retrying,
      });
  } catch (error) {
    const stop = held.stop;
    if (!stop) throw error;
    return await stopped(stop);
  }
  const pidfile = config.pidfile
    ? new Pidfile(parentPid ? `${config.pidfile}.2` : config.pidfile)
    : undefined;
  let launch: WorkerLaunch;
  // A USR2 child takes PATH.2 while its parent holds PATH, and PATH once promoted.
  // -u USER: the default socket is the user's, in /run/appserve/UID (control_protocol.ts).
  const runAs = controlRunAs(identity);
  const controlPath = controlSocketPath(config, process.env, runAs);
  // The HOME fallback is made here without its parents, so a HOME that is missing or not the
  // user's to write (a container run as a bare uid) means no socket, not a warning each start.
  const home = defaultControlDir(process.env, runAs);
  const noHome = controlPath && implicitControlSocket(config) && home?.from === "HOME"
    ? controlDirProblem(home.dir)
    : "";
  let control: ControlSocket | undefined;
  try {
    held.check();
    pidfile?.create(process.pid);
    // After the pidfile: a second master of the same pidfile is refused for that first.
    const handle: ControlHandler = (request, reply) =>
      source.arbiter
        ? source.arbiter.control(request, reply)
        : reply({ ok: false, error: "The master is starting" });
    const controlAt = parentPid ? `${controlPath}.2` : controlPath;
    const host: ControlHost = {
      umask: (mask) => runtime.libc().umask(mask),
      keepFromChildren: (owner) => runtime.keepFromChildren(owner),
    };
    control = !controlPath || noHome
      ? undefined
      : implicitControlSocket(config)
      ? await openDefaultControl(
        controlAt,
        handle,
        log,
        host,
        home?.from === "user" ? identity : null,
      )
      : await ControlSocket.open(controlAt, handle, host);
    if (identity) {
      // What the master made as root goes to the user first: after the drop it could not.
      const owned = ownedFiles(config, inherited ? [] : listeners, {
        pidfile: pidfile?.path,
        socketGid: socketGroup?.gid,
      });
      if (control) owned.push({ path: control.path });
      chownAll(owned, identity);
      // USR1, USR2 and the exit need the folders as the user: said now, not when they fail.
      // Told as root: after the drop a folder under one the user cannot search hides itself.
      const sockets = inherited ? [] : ownedSockets(listeners);
      const drops = wouldDrop(identity);
      const notes = drops ? userFolderNotes(config, identity, { sockets }) : [];
      const blockers = drops ? logBlockers(config, identity) : new Map<string, string>();
      const dropped = dropPrivileges(runtime.libc(), identity);
      // As the user now: a log file its workers could not open stops the start here.
      const unreachable = dropped ? unreachableLogs(config, identity, true, blockers) : [];
      if (unreachable.length) throw new ConfigError(unreachable[0]);
      // HUP reads the certificate and key again as the user (the master is no longer root):
      // a key only root may read would keep renewals out for good, so it is said now.
      tls = await loadTlsFiles(config, tlsControls);
      if (dropped) {
        log.info(`Dropped privileges to ${identity.describe}`);
        for (const { warning, line } of notes) {
          if (warning) log.warning(line);
          else log.info(line);
        }
      }
    }
    // After the drop: the workers' user writes the bundle and can read it.
    launch = await launchWorkers(workers, config, runtime, env, process.cwd());
    if (tls) await useTls(launch, config.certfile, tls);
    held.check();
    // --preload: gunicorn imports the app in the master; here no app code runs in the master.
    if (config.preload_app) {
      await importInWorker(launch, config, held.aborted);
      launch.info.push(PRELOADED);
    }
    // Each start, as the user the workers run as: old versions' bundle folders in the cache.
    if (launch.runtime.name === "deno") {
      const bases = cacheCandidates({ env }).map((candidate) => candidate.dir);
      const pruned = pruneBundles(bases, { keep: launch.bundleDir });
      if (pruned.info) launch.info.push(pruned.info);
      if (pruned.warning) launch.warnings.push(pruned.warning);
    }
    // The last look: from here to the loop's own handlers nothing awaits, so no signal is run.
    held.check();
  } catch (error) {
    control?.close();
    closeListeners(runtime.libc(), inherited ? [] : listeners);
    pidfile?.unlink(process.pid);
    // What failed after a stop signal (the import it cut short) is the stop's doing.
    const stop = held.stop;
    if (!stop) throw error;
    return await stopped(stop);
  }
  log.info(`Starting appserve ${VERSION}`);
  for (const line of gunicornLeftovers(process.env, ctx.startCwd, config.config)) {
    log.warning(line);
  }
  metrics?.announce();
  if (log.isEnabledFor("debug")) log.debug(currentConfiguration(config, process.cwd()));
  // At DEBUG: only an environment without a home gets here, where the operator has nothing to
  // change each start, and ctl's own "Name the master" says the way.
  if ((!controlPath || noHome) && config.control_socket !== "off") {
    const why = noHome
      ? `$XDG_RUNTIME_DIR is not set and "${home?.dir}" cannot be made: ${noHome}`
      : "$XDG_RUNTIME_DIR and $HOME are not set";
    log.debug(
      `No control socket (${why}): \`appserve ctl\` cannot reach this master; name one with ` +
        "control_socket (--control-socket PATH) or --pid PIDFILE",
    );
  }
  let reloads = 0;
  const reloadConfig = async () => {
    // As at start: the configuration's paths from the start directory, not from --chdir's.
    const resolvedNext = resolveConfig(argv, { env: process.env, cwd: ctx.startCwd });
    const next = resolvedNext.config;
    const dir = generationDir(ctx.startCwd, next.chdir, resolvedNext.origins.chdir);
    // As gunicorn's reload: the configuration the new workers get.
    if (log.isEnabledFor("debug")) log.debug(currentConfiguration(next, process.cwd()));
    // The project's deno.json is read again too: a broken one keeps the old workers.
    const chosen = chooseWorkers(next, runtime, chooseOptions(resolvedNext, dir));
    // Renewed certificates go to the new workers; broken ones keep the old workers, and every
    // worker started later (a crash, --max-requests) gets the last good ones.
    const tls = await loadTlsFiles(next, chosen.runtime.tlsControls);
    // Imported again, as gunicorn runs its config file again (what it imports stays cached).
    const tag = String(++reloads);
    const nextHooks = await HookRunner.load(
      next.hooks,
      log,
      (file) => runtime.freshImport(file, tag),
    );
    const launch = await launchWorkers(chosen, next, runtime, env, dir);
    if (tls) await useTls(launch, next.certfile, tls);
    return { config: next, launch, hooks: nextHooks };
  };
  const arbiter = new Arbiter({
    config,
    log,
    runtime,
    listeners,
    reusePort,
    reloadConfig,
    launch,
    argv,
    env,
    // USR2's new master starts where this one was started, with the same (relative) arguments.
    cwd: ctx.startCwd,
    pidfile,
    controlSocket: control !== undefined,
    metrics: () => {
      const fd = metrics?.fd();
      return fd === undefined
        ? undefined
        : { fd, bind: config.metrics_bind, accepts: metrics?.acceptsFd() };
    },
    closeMetrics: (child) => metrics?.close(child) ?? Promise.resolve(),
    metricsChildAccepts: () => metrics?.childAccepts() ?? false,
    parentPid,
    systemd: inherited?.source === "systemd",
    hooks,
    appFile: ctx.appFile,
    // A USR2 child's metrics listener: its parent answers until its workers serve or it is gone.
    onReady: () => {
      report.succeeded();
      void metrics?.open();
    },
    notify,
    onPromoted: async () => {
      await metrics?.open(true);
      const stays = await control?.moveTo(controlPath);
      if (stays) log.warning(`The control socket stays at "${control?.path}": ${stays}`);
    },
    openAccessLog: (current) =>
      createLogger(current, { role: "worker", runtime, appserve: ctx.appserve }),
  });
  source.arbiter = arbiter;
  try {
    const running = arbiter.run();
    // The loop's handlers are in place (run() installs them before it first awaits): what came
    // while starting is its to handle now.
    for (const signal of held.release()) arbiter.signal(signal);
    const code = await running;
    const halt = arbiter.haltReason;
    if (code !== ExitCode.OK && !report.ready && halt) {
      // The log has the worker's error and the Reason; stderr and a waiting -D get both at once.
      const rest = (halt.detail ?? "").split("\n").slice(1).join("\n");
      report.failed(halt.oneLine(), { detail: rest, logged: true });
    }
    return code;
  } finally {
    control?.close();
    await metrics?.close();
    await log.close();
  }
}

/** Hands `tls` to the generation's workers; a certificate out of its dates is said when it starts. */
async function useTls(launch: WorkerLaunch, certfile: string, tls: TlsFiles): Promise<void> {
  launch.tls = tls;
  const warning = await certValidityWarning(certfile, tls.cert);
  if (warning) launch.warnings.push(warning);
}

export interface CliOptions {
  /** What `import ... from "appserve"` gives a --logger-class module: mod.ts's exports. */
  appserve: AppserveExports;
  /** @default the runtime this process runs on */
  runtime?: Runtime;
  /** Where start-up failures and readiness are told. @default stderr only */
  report?: StartupReport;
}

/**
 * Runs the CLI as the executable does: a configuration or a start that fails is told in one
 * line (`Error: ...`, through the report) and resolves to its exit code, as does a clean stop.
 */
export async function runCommandLine(argv: string[], options: CliOptions): Promise<number> {
  const report = options.report ?? new StartupReport(undefined, {});
  try {
    return await runCli(argv, { ...options, report });
  } catch (error) {
    if (!(error instanceof AppserveError)) throw error;
    report.failed(error.message);
    return error.exitCode;
  }
}

/**
 * Runs the CLI with `argv` (without the program name); resolves to the exit code and throws
 * an AppserveError (which carries one) when the configuration or the start fails.
 */
export async function runCli(argv: string[], options: CliOptions): Promise<number> {
  // A closed pipe on stdout or stderr (`appserve --help | head -1`, a log reader gone) must not
  // end the master.
  guardStdStreams();
  const runtime = options.runtime ?? await detectRuntime();
  const report = options.report ?? new StartupReport(undefined, {});
  const startCwd = logicalCwd();
  const held = new StartSignals();
  // `appserve ctl ...` speaks to a running master; it starts nothing.
  if (argv[0] === "ctl") return await runCtl(argv.slice(1));
  // --help [TOPIC], before any parsing: TOPIC may be a flag (`--help -m`), and no
  // configuration is read, so a broken one cannot hide the help.
  const help = helpWordIndex(argv);
  if (help !== -1) {
    // A topic follows `--help` or `-h` alone; `-hv` is just help, as in gunicorn.
    const word = argv[help];
    const topic = word === "-h" || longFlagOf(word) === "--help" ? argv[help + 1] : undefined;
    process.stdout.write(topic ? renderTopicHelp(topic) : renderHelp());
    return ExitCode.OK;
  }
  const resolved = resolveConfig(argv, { env: process.env, cwd: process.cwd() });
  report.useConfig(resolved.config);
  if (resolved.actions.has("version")) {
    const build = BUILD ? `, build ${BUILD}` : "";
    process.stdout.write(`appserve ${VERSION} (${runtime.name} ${runtime.version}${build})\n`);
    return ExitCode.OK;
  }
  // As gunicorn's: print, then check as --check-config does (paths absolute from here, before
  // --chdir, as the check resolves them after it).
  const printing = resolved.actions.has("print-config");
  if (printing) process.stdout.write(renderConfig(resolved, process.cwd()));
  const checking = printing || resolved.actions.has("check-config");
  // A master under Deno starts itself again (same pid, argv and cwd) with SIGUSR1 blocked, before
  // it changes anything, its directory included.
  if (!checking) runtime.blockInspectorSignal();
  if (resolved.config.chdir) enterDir(resolved.config.chdir, resolved.origins.chdir);
  if (checking) {
    // --print-config's stdout stays the TOML it printed, loadable with -c.
    return await checkConfig(resolved, {
      runtime,
      appserve: options.appserve,
      startCwd,
      quiet: printing,
    });
  }
  try {
    return await serve({
      argv,
      resolved,
      runtime,
      appFile: checkAppModule(resolved),
      report,
      startCwd,
      appserve: options.appserve,
      held,
    });
  } finally {
    // A start that failed: a later signal is the caller's again (main() in a program of its own).
    held.release();
  }
}

/** Why the control socket's directory `dir` (mode 0700) cannot be made, or "" when it is there. */
function controlDirProblem(dir: string): string {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return "";
  } catch (error) {
    return (error as { code?: string }).code === "EEXIST" ? "" : osReason(error);
  }
}
