// -D: start this same command detached in its own session, and return only
// once it serves (exit 0) or has failed (its error on stderr, its exit code).
// The detached master tells how start-up went over a pipe at its fd 3 (see
// StartupReport); without that a port in use was exit 0 and a silent nothing.

import { spawn } from "node:child_process";
import process from "node:process";
import type { Readable } from "node:stream";
import { AppserveError, osReason } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";

/** Set in the detached copy that -D starts; its fd 3 is then the status pipe. */
export const DAEMON_ENV = "APPSERVE_DAEMONIZED";

export interface DaemonizeOptions {
  /** -R: the daemon keeps stdout and stderr; it then prints its own errors there. */
  keepStdio: boolean;
  /** The directory the command was started in (before --chdir). */
  cwd: string;
}

/**
 * Starts the daemon and resolves to the exit code this command should end with; rejects with an
 * AppserveError when it cannot be started at all.
 */
export function daemonize(
  argv: string[],
  runtime: Runtime,
  options: DaemonizeOptions,
): Promise<number> {
  const command = runtime.masterCommand(argv);
  const out = options.keepStdio ? "inherit" : "ignore";
  const child = spawn(command.command, command.args, {
    detached: true,
    cwd: options.cwd,
    // stdin is /dev/null either way, as in gunicorn; fd 3 carries "ready" or the error.
    stdio: ["ignore", out, out, "pipe"],
    env: { ...process.env, [DAEMON_ENV]: "1" },
  });
  // No pipe when the spawn failed: the error event says why.
  const status = child.stdio[3] as Readable | null | undefined;
  const exited = new Promise<number>((done) => child.on("exit", (code) => done(code ?? 1)));
  return new Promise((resolve, reject) => {
    // The program on disk could not be started (gone after an upgrade, no processes left).
    child.on("error", (error) => {
      reject(
        new AppserveError(`Cannot start the daemon ${command.command}: ${osReason(error)}`, 1),
      );
    });
    if (!status) return;
    let said = "";
    status.setEncoding("utf8");
    status.on("data", (chunk: string) => {
      said += chunk;
      if (said.startsWith("ready\n")) {
        // It serves: leave it running on its own.
        status.destroy();
        child.unref();
        resolve(0);
      }
    });
    status.on("error", () => {});
    status.on("end", async () => {
      if (said.startsWith("ready\n")) return;
      const code = await exited;
      const error = said.replace(/^error\n/, "");
      if (!options.keepStdio) {
        process.stderr.write(
          error ? `${error}\n` : `Error: appserve exited with code ${code} while starting\n`,
        );
      }
      resolve(code === 0 ? 1 : code);
    });
  });
}
