// What the master's loop is given (src/cli/run_cli.ts builds it): the configuration, the
// listeners, the process's own facts for USR2, and the callbacks to the rest of the program.

import type { Config } from "../config/settings.ts";
import type { HookRunner } from "../hooks.ts";
import type { Logger } from "../log/logger.ts";
import type { Listener } from "../net/listeners.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Pidfile } from "./pidfile.ts";
import type { SystemdNotify } from "./systemd_notify.ts";
import type { WorkerLaunch } from "./worker_launch.ts";

export interface ArbiterContext {
  config: Config;
  log: Logger;
  runtime: Runtime;
  listeners: Listener[];
  /** TCP addresses workers bind themselves (reuse-port mode). */
  reusePort: { host: string; port: number }[];
  /**
   * Re-resolves the configuration for HUP, how workers start under it, and the hooks module it
   * names (imported again); throws an AppserveError when any is broken.
   */
  reloadConfig(): Promise<{ config: Config; launch: WorkerLaunch; hooks: HookRunner }>;
  /** How workers start: their runtime and command line. */
  launch: WorkerLaunch;
  /** How this master was started, for USR2. */
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  pidfile?: Pidfile;
  /** This master has a control socket, for its life: its workers count for `ctl status`. */
  controlSocket: boolean;
  /** --metrics-bind's listener while it serves, and its address: USR2 hands it over too. */
  metrics?(): { fd: number; bind: string; accepts?: number } | undefined;
  /**
   * Stops serving --metrics-bind: called when this master stops while its USR2 child (`child`,
   * its pid) runs, which accepts on the same listener and answers the probes truly ("stopping" is
   * not the service's); once the child accepts (its workers serve), until then this master
   * answers on, and on to its exit should the child end first.
   */
  closeMetrics?(child: number): Promise<void>;
  /** Whether this master's USR2 child accepts on the metrics listener it was handed. */
  metricsChildAccepts?(): boolean;
  /** Set when this master was started by another one's USR2. */
  parentPid?: number;
  /** Listeners came from systemd: never remove their socket files. */
  systemd: boolean;
  hooks: HookRunner;
  /** The app module's file, watched with --reload. */
  appFile: string;
  /** Called once, when the first workers have all booted (a waiting `-D` then returns). */
  onReady?: () => void;
  /**
   * The access log as a worker of `config` writes it (its logger class and file), for the
   * lines of requests a worker killed for --timeout never wrote. Closed after use.
   */
  openAccessLog?: (config: Config) => Promise<Logger>;
  /** Called when this master, started by USR2, became the master of record. */
  onPromoted?: () => Promise<void>;
  /** systemd's notify socket (Type=notify), when NOTIFY_SOCKET named one. */
  notify?: SystemdNotify;
}
