// HUP's generations of workers: a reload starts a new generation under the new configuration;
// the old one is kept until the new one has booted, and serves on (its configuration restored)
// when the new one cannot boot. A HUP while a new generation boots supersedes it: the serving one
// stays, the booting one is stopped, and the newest starts in its place as its workers leave.
// The arbiter stops the workers; this file keeps the books.

import type { Config } from "../config/settings.ts";
import type { HookRunner } from "../hooks.ts";
import type { WorkerLaunch } from "./worker_launch.ts";

/** The part of the arbiter's context a reload switches. */
export interface Running {
  config: Config;
  launch: WorkerLaunch;
  /** The hooks module, read again: master hooks follow the configuration they came with. */
  hooks: HookRunner;
}

export class Generations {
  #current = 0;
  /** Highest generation ever started: a rolled-back number is never reused. */
  #last = 0;
  /** What ran before a HUP, kept until the new generation has booted. */
  #previous: (Running & { generation: number }) | undefined;

  /** The generation new workers belong to. */
  get current(): number {
    return this.#current;
  }

  /** Whether an old generation waits for the new one to boot. */
  get reloading(): boolean {
    return this.#previous !== undefined;
  }

  /** A new generation under `next`: `running` is switched to it (the first old one is kept). */
  begin(running: Running, next: Running): void {
    const { config, launch, hooks } = running;
    this.#previous ??= { config, launch, hooks, generation: this.#current };
    running.config = next.config;
    running.launch = next.launch;
    running.hooks = next.hooks;
    this.#current = ++this.#last;
  }

  /**
   * How many more workers of the current generation may start now, `wanted` in all. During a
   * reload the serving generation's workers are not counted; every other one is, but for the
   * current generation's recycling ones (the overlap recycling always has): HUPs sent faster than
   * workers boot keep the processes to the serving generation and one booting generation.
   */
  room(workers: { generation: number; retiring: boolean }[], wanted: number): number {
    if (!this.#previous) return Infinity;
    const serving = this.#previous.generation;
    const taken = workers.filter((w) =>
      w.generation !== serving && !(w.generation === this.#current && w.retiring)
    );
    return Math.max(0, wanted - taken.length);
  }

  /** The new generation serves: the old one may go. */
  settled(): void {
    this.#previous = undefined;
  }

  /** The new generation cannot boot: `running` gets the old configuration back. */
  rollback(running: Running): void {
    const previous = this.#previous!;
    running.config = previous.config;
    running.launch = previous.launch;
    running.hooks = previous.hooks;
    this.#current = previous.generation;
    this.#previous = undefined;
  }
}
