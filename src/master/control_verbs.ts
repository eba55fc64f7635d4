// The control socket's verbs (`appserve ctl`), answered from the arbiter's loop: each does what
// its signal does (reload HUP, add TTIN, remove TTOU, reopen-logs USR1, stop TERM or QUIT), plus
// status and scale. The reply goes out before a verb that may take long or stop the master, but
// for reload's, which waits (a while) for its outcome.

import { MAX_WORKERS } from "../config/settings.ts";
import type { ControlReply, ControlRequest, WorkerStatus } from "../ipc/control_protocol.ts";

/** How long `ctl reload` waits for the new workers to boot or fail before it answers. */
export const RELOAD_WAIT_MS = 4000;

/** What the verbs do, as the arbiter does it. */
export interface ControlActions {
  /** The number of workers asked for now. */
  readonly configured: number;
  status(): WorkerStatus[];
  /**
   * HUP; `outcome` is called once: with why when the reload failed (its configuration, or its new
   * workers could not boot), without when the new generation serves.
   */
  reload(why: string, outcome: (failure?: string) => void): Promise<void>;
  setWorkers(count: number): Promise<void>;
  reopenLogs(): void;
  /** Stops the master (throws out of the loop). */
  stop(graceful: boolean): never;
}

/**
 * One worker more than `current` (TTIN, `ctl add`), or why not: no more than the `workers`
 * setting accepts, which `ctl scale` keeps to as well.
 */
export function oneMore(current: number, max = MAX_WORKERS): number | string {
  return current < max ? current + 1 : `already ${current} workers, the most "workers" accepts`;
}

/**
 * One worker less than `current` (TTOU, `ctl remove`), as gunicorn's handle_ttou: never below one,
 * and none (after WINCH) stays none.
 */
export function oneLess(current: number): number {
  return current <= 1 ? current : current - 1;
}

/** Answers `request` through `reply`, then does what it asks. */
export async function answerControl(
  request: ControlRequest,
  reply: (reply: ControlReply) => void,
  actions: ControlActions,
): Promise<void> {
  const n = actions.configured;
  switch (request.verb) {
    case "status":
      return reply({ ok: true, master: process.pid, configured: n, workers: actions.status() });
    case "reload": {
      // The outcome, for a deploy script to tell; at most RELOAD_WAIT_MS, within the control
      // socket's 5 s idle limit (ctl waits 10 s).
      // Slower workers: the reload was accepted (ok, exit 0, as HUP: a systemd ExecReload= is
      // no failed reload for it) and goes on; how it ends is the master's log, as for HUP.
      let answered = false;
      const answer = (r: ControlReply) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        reply(r);
      };
      const timer = setTimeout(
        () =>
          answer({
            ok: true,
            message: `Reload accepted, still in progress: the new workers are still booting ` +
              `after ${RELOAD_WAIT_MS / 1000} s; the master's log says how it ends`,
          }),
        RELOAD_WAIT_MS,
      );
      return await actions.reload("Reload requested by appserve ctl", (failure) =>
        answer(
          failure === undefined ? { ok: true, message: "Reloaded: the new workers serve" } : {
            ok: false,
            error: `Reload failed, keeping the running workers: ${failure.split("\n")[0]}`,
          },
        ));
    }
    case "scale":
    case "add":
    case "remove": {
      const count = request.verb === "scale"
        ? request.workers
        : request.verb === "add"
        ? oneMore(n)
        : oneLess(n);
      if (typeof count === "string") return reply({ ok: false, error: `Cannot add: ${count}` });
      reply({ ok: true, message: `Workers: ${n} -> ${count}`, configured: count });
      return await actions.setWorkers(count);
    }
    case "reopen-logs":
      actions.reopenLogs();
      return reply({ ok: true, message: "Reopened the logs" });
    case "stop":
      reply({ ok: true, message: request.quick ? "Stopping quickly" : "Stopping" });
      actions.stop(!request.quick);
  }
}

/**
 * Answers `request` while the master stops; true when, the stop being graceful, it asks for the
 * quick stop (`ctl stop --quick`, as INT or QUIT). Another `ctl stop` changes nothing, as a
 * second TERM; `status` is answered (what still drains); any other verb is refused.
 */
export function answerWhileStopping(
  request: ControlRequest,
  reply: (reply: ControlReply) => void,
  graceful: boolean,
  status: Pick<ControlActions, "configured" | "status">,
): boolean {
  // What still drains is what an operator wants to see most during a stop.
  if (request.verb === "status") {
    const message = graceful ? "stopping gracefully" : "stopping quickly";
    const { configured } = status;
    reply({ ok: true, message, master: process.pid, configured, workers: status.status() });
    return false;
  }
  if (request.verb !== "stop") {
    reply({ ok: false, error: "The master is stopping" });
    return false;
  }
  if (!graceful) {
    reply({ ok: true, message: "Already stopping quickly" });
    return false;
  }
  if (request.quick) {
    reply({ ok: true, message: "Stopping quickly" });
    return true;
  }
  reply({
    ok: true,
    message: "Already stopping gracefully; `appserve ctl stop --quick` stops quickly",
  });
  return false;
}
