// The master's signals while it starts (binding, the pidfile, --preload's import), before its
// loop handles them: TERM, INT or QUIT would otherwise end it by the default action (exit 143,
// no line), its pidfile, control socket and unix socket files left behind. Held here instead:
// a stop ends the start cleanly, the others are handed to the loop once it listens.

import { installSignals, MASTER_SIGNALS, type MasterSignal } from "./signals.ts";

/** Thrown at a checkpoint of the start once a stop signal came. */
export class StartStopped extends Error {
  constructor(readonly signal: MasterSignal) {
    super(`Stopped by ${signal} while starting`);
  }
}

const STOPS = new Set(["terminate", "interrupt", "quit"]);

export class StartSignals {
  #held: MasterSignal[] = [];
  #uninstall: (() => void) | undefined;
  #aborts = new AbortController();

  /** Holds every master signal from now on; `takeSignal` as installSignals takes it. */
  hold(takeSignal: (signo: number) => boolean): void {
    this.#uninstall ??= installSignals((signal) => {
      this.#held.push(signal);
      if (STOPS.has(MASTER_SIGNALS[signal])) this.#aborts.abort();
    }, takeSignal);
  }

  /** The first stop signal held, if any. */
  get stop(): MasterSignal | undefined {
    return this.#held.find((signal) => STOPS.has(MASTER_SIGNALS[signal]));
  }

  /** Aborted when a stop signal comes: for a wait of the start that can be cut short. */
  get aborted(): AbortSignal {
    return this.#aborts.signal;
  }

  /** Throws StartStopped once a stop signal came. */
  check(): void {
    const stop = this.stop;
    if (stop) throw new StartStopped(stop);
  }

  /**
   * Stops holding; returns the signals held. Called once the loop's own handlers are in place:
   * removing the last handler restores the default action, which a signal in between would meet.
   */
  release(): MasterSignal[] {
    this.#uninstall?.();
    this.#uninstall = undefined;
    return this.#held.splice(0);
  }
}
