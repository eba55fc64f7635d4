// What loading the app warned about (Bun serve() options it ignores, a server of its own): every
// worker and gthread thread loads the app and finds the same, so each worker hands its warnings
// to the master with "ready", and the master logs each once per generation: at the start, and
// again at each reload (HUP, a changed file), whose app may have changed.

import type { Logger } from "../log/logger.ts";

export class AppWarnings {
  #generation = -1;
  #said = new Set<string>();

  /** Logs those of `warnings` not yet logged for `generation`. */
  say(log: Logger, generation: number, warnings: unknown): void {
    // A worker of another version (a program replaced on disk) may send none, or another shape.
    if (!Array.isArray(warnings)) return;
    if (generation !== this.#generation) {
      this.#generation = generation;
      this.#said = new Set();
    }
    for (const warning of warnings) {
      if (typeof warning !== "string" || this.#said.has(warning)) continue;
      this.#said.add(warning);
      log.warning(warning);
    }
  }
}
