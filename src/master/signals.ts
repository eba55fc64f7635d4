// Every signal the master handles, mapped to the name of its handler. The OS
// handlers only enqueue; the arbiter's loop dispatches, so nothing re-enters.

import { SIGUSR1 } from "../runtime/types.ts";

export const MASTER_SIGNALS = {
  SIGHUP: "reload",
  SIGTERM: "terminate",
  SIGINT: "interrupt",
  SIGQUIT: "quit",
  SIGTTIN: "scaleUp",
  SIGTTOU: "scaleDown",
  SIGUSR1: "reopenLogs",
  SIGUSR2: "reexec",
  SIGWINCH: "winch",
} as const;

export type MasterSignal = keyof typeof MASTER_SIGNALS;
export type SignalAction = typeof MASTER_SIGNALS[MasterSignal];

/** `hup` for SIGHUP: the name gunicorn's "Handling signal:" line uses. */
export function shortName(signal: MasterSignal): string {
  return signal.slice(3).toLowerCase();
}

// How often a blocked SIGUSR1 is looked for (below).
const HELD_POLL_MS = 250;

/**
 * Installs the OS handlers; returns a function that removes them. A Deno master runs with
 * SIGUSR1 blocked (Runtime.blockInspectorSignal), so no handler ever sees it: `takeSignal`
 * takes it from the pending ones a few times a second instead.
 */
export function installSignals(
  onSignal: (signal: MasterSignal) => void,
  takeSignal: (signo: number) => boolean,
): () => void {
  const handlers = (Object.keys(MASTER_SIGNALS) as MasterSignal[]).map((signal) => {
    const handler = () => onSignal(signal);
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  const held = setInterval(() => {
    if (takeSignal(SIGUSR1)) onSignal("SIGUSR1");
  }, HELD_POLL_MS);
  held.unref();
  return () => {
    clearInterval(held);
    handlers.forEach((remove) => remove());
  };
}
