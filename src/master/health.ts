// /readyz (and /healthz, its older name) and /livez: what a load balancer or a Kubernetes probe
// asks the master. Ready while at least one worker serves, so one stuck worker of four does not
// take the whole instance out of rotation; alive while the master's loop turns, so a restart is
// asked for only when the master itself no longer supervises.

import { beatInterval } from "../worker/lifecycle.ts";
import type { WorkerHandle } from "./worker_handle.ts";

/** An answer: 200 when `ok`, else 503; one line per reason, the first one the verdict. */
export interface HealthAnswer {
  ok: boolean;
  lines: string[];
}

/** The master's loop turns at least once a second: this long without a turn is a stall. */
export const LOOP_STALL_MS = 10_000;

/** What the readiness answer reads from the arbiter. */
export interface ReadinessState {
  workers: WorkerHandle[];
  /** The number of workers asked for. */
  configured: number;
  /** --timeout, in seconds (0: off), which sets the heartbeat interval. */
  timeout: number;
  /** The first workers have all booted once. */
  started: boolean;
  /** A stop is under way: the listeners are closed. */
  stopping: boolean;
  /**
   * This master's USR2 child while it runs (it holds the listeners too): its pid, and whether it
   * accepts on the metrics listener the two share (its workers serve). A probe the stopping master
   * still takes answers for the pair.
   */
  successor?: { pid: number; serves: boolean };
  /** When the master's loop last turned (performance.now()). */
  lastTurn: number;
}

/** Before the arbiter runs: the master binds and loads hooks. */
export const STARTING: { readiness: HealthAnswer; liveness: HealthAnswer } = {
  readiness: { ok: false, lines: ["not ready: starting, no worker started yet"] },
  liveness: { ok: true, lines: ["alive: starting"] },
};

/** /livez: the master's loop turned within LOOP_STALL_MS. */
export function liveness(lastTurn: number, now = performance.now()): HealthAnswer {
  const idle = now - lastTurn;
  return idle <= LOOP_STALL_MS
    ? { ok: true, lines: ["alive: the master's loop runs"] }
    : { ok: false, lines: [`not alive: ${stalled(idle)}`] };
}

/**
 * /readyz: the master accepts (no stop under way, its loop turns) and at least one worker serves:
 * booted, not leaving (one recycling serves until its replacement does), and heartbeating. Two
 * missed beats count as stuck, well before --timeout kills the worker. The workers that do not
 * serve are named, one line each, also while the answer is 200.
 */
export function readiness(state: ReadinessState, now = performance.now()): HealthAnswer {
  const idle = now - state.lastTurn;
  const successor = state.successor;
  if (state.stopping && successor?.serves) {
    return {
      ok: true,
      lines: [`ready: the new master (pid ${successor.pid}) serves, this one stops`],
    };
  }
  // The listeners stay open in the new master: a connection waits for its workers, not refused.
  if (state.stopping && successor) {
    return {
      ok: false,
      lines: [`not ready: stopping, the new master (pid ${successor.pid}) has not served yet`],
    };
  }
  if (state.stopping) {
    // Not "refused": a Deno worker under --reuse-port takes connections while uploads come in.
    return { ok: false, lines: ["not ready: stopping, the workers finish what they serve"] };
  }
  if (idle > LOOP_STALL_MS) return { ok: false, lines: [`not ready: ${stalled(idle)}`] };
  const staleMs = state.timeout > 0 ? 2 * beatInterval(state.timeout) : Infinity;
  const others: string[] = [];
  let serving = 0;
  for (const w of state.workers) {
    if (w.retiring && !w.recycling) continue;
    const silent = now - w.lastBeat;
    if (!w.booted) others.push(`worker ${w.pid}: booting`);
    else if (silent > staleMs) {
      others.push(`worker ${w.pid}: no heartbeat for ${seconds(silent)} s`);
    } else serving++;
  }
  const of = `${serving} of ${state.configured}`;
  // More than asked for: the old ones serve until their replacements do (a HUP's generations).
  const verdict = serving > state.configured
    ? `ready: ${serving} workers serve, ${state.configured} asked for (those being replaced ` +
      "serve until their replacements do)"
    : serving > 0
    ? `ready: ${of} ${state.configured === 1 ? "worker serves" : "workers serve"}`
    : state.started
    ? `not ready: no worker serves (${of})`
    : `not ready: starting, no worker has booted yet (${of})`;
  return { ok: serving > 0, lines: [verdict, ...others] };
}

function stalled(idleMs: number): string {
  return `the master's loop has not run for ${seconds(idleMs)} s`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
