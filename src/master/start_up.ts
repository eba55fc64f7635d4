// Start-up as the master tracks it: when the first generation has booted (a
// waiting `-D` returns then), and which worker exits mean no worker can boot.

import { ExitCode } from "../exit_codes.ts";
import { HaltServer } from "../errors.ts";
import type { WorkerHandle } from "./worker_handle.ts";

/** Worker deaths before boot in a row that mean the worker cannot boot at all. */
const MAX_BOOT_FAILURES = 3;

/**
 * Signals a process gets from its own fault (a runtime's crash: V8 cannot reserve its heap, a
 * segfault): like an exit code, they say the worker cannot boot. Any other signal came from
 * outside (the OOM killer's SIGKILL, an operator's kill) and says nothing of the app.
 */
const CRASH_SIGNALS = new Set([
  "SIGSEGV",
  "SIGBUS",
  "SIGILL",
  "SIGFPE",
  "SIGABRT",
  "SIGTRAP",
  "SIGSYS",
]);

export class StartUp {
  #ready = false;
  #bootFailures = 0;
  readonly #onReady: (() => void) | undefined;

  /** `onReady` is called once, when the first workers have all booted. */
  constructor(onReady?: () => void) {
    this.#onReady = onReady;
  }

  /** The first workers have all booted. */
  get ready(): boolean {
    return this.#ready;
  }

  /** A worker booted, `booted` of `wanted` now: the run of boot failures is over. */
  booted(booted: number, wanted: number): void {
    this.#bootFailures = 0;
    if (this.#ready || booted < wanted) return;
    this.#ready = true;
    this.#onReady?.();
  }

  /** The generation that failed is gone (rolled back): its failures say nothing any more. */
  forgetFailures(): void {
    this.#bootFailures = 0;
  }

  /**
   * Why this worker's exit must halt the server, or undefined when replacing it will do. The boot
   * codes (3, 4) count only before `ready`: after it they are the app's own `exit(3)`. A worker
   * killed from outside (`signal`, not a crash) failed nothing: once the server serves it never
   * counts (gunicorn halts on exit codes only); before, nothing serves and a run of them stops
   * the start, saying so. `refusalHint` follows the reason when the worker's runtime refused it.
   */
  async haltReason(
    worker: WorkerHandle,
    code: number | null,
    signal: string | null,
    refusalHint?: string,
  ): Promise<HaltServer | undefined> {
    if (worker.booted) return undefined;
    if (code === ExitCode.WORKER_BOOT_ERROR) {
      return new HaltServer("Worker failed to boot.", code, await worker.lastWords());
    }
    if (code === ExitCode.APP_LOAD_ERROR) {
      return new HaltServer("App failed to load.", code, await worker.lastWords());
    }
    // Refused by its runtime before any of it ran: the same project refuses the next one too.
    if (code !== null && code !== 0 && !worker.retiring && !(await worker.spoke())) {
      return new HaltServer(
        `The worker's runtime refused to run it (exit code ${code}); its own error above says ` +
          "why (for Deno: the project's deno.json or lock file, or --deno-flags)." +
          (refusalHint ? ` ${refusalHint}` : ""),
        ExitCode.APP_LOAD_ERROR,
      );
    }
    const killed = signal !== null && !CRASH_SIGNALS.has(signal);
    if (worker.retiring || (killed && this.#ready)) return undefined;
    if (++this.#bootFailures < MAX_BOOT_FAILURES) return undefined;
    if (killed) {
      return new HaltServer(
        `Workers were killed before they booted, ${MAX_BOOT_FAILURES} in a row (the last by ` +
          `${signal}${signal === "SIGKILL" ? ": perhaps out of memory" : ""}).`,
        ExitCode.WORKER_BOOT_ERROR,
      );
    }
    return new HaltServer("Worker failed to boot.", ExitCode.WORKER_BOOT_ERROR);
  }
}
