// --reuse-port: a request still with the app when the graceful timeout runs out gets the 504 its
// access line says (written by the cut-off report), as on the shared socket (Connection.cut),
// instead of a connection the runtime's own server drops without a reply.

import type { FetchHandler } from "../http/types.ts";
import { CUT_OFF_STATUS, statusReply } from "../http/status_reply.ts";

/**
 * The requests of a worker's native servers whose app has not answered yet, each answerable with
 * a 504 by cut(). One per worker: every listener is cut at the same deadline.
 */
export class NativeCutOff {
  readonly #waiting = new Set<(response: Response) => void>();
  #over = false;
  #answered = 0;

  /**
   * Whether the cut came. A request that began before it and is answered after was cut: its
   * access line and count came with the cut, and what the app answers later goes nowhere.
   */
  get over(): boolean {
    return this.#over;
  }

  /** `handler`, its unanswered requests kept until they are answered (by the app or by cut()). */
  wrap(handler: FetchHandler): FetchHandler {
    const waiting = this.#waiting;
    return (request, info) => {
      const result = handler(request, info);
      // A Response, or nothing after Bun's server.upgrade(): answered already.
      if (!(result instanceof Promise)) return result;
      return new Promise((resolve, reject) => {
        const answer = (response: Response) => {
          waiting.delete(answer);
          resolve(response);
        };
        waiting.add(answer);
        result.then(answer, (error) => {
          waiting.delete(answer);
          reject(error);
        });
      });
    };
  }

  /**
   * `handler`, not run once the cut came: a request that waited its turn (the worker's
   * concurrency cap) got its 504 then, and must not reach the app after its client was told so.
   */
  gate(handler: FetchHandler): FetchHandler {
    return (request, info) => this.#over ? statusReply(CUT_OFF_STATUS) : handler(request, info);
  }

  /** Answers every request still with the app with a 504 that closes its connection; how many. */
  cut(): number {
    if (this.#over) return this.#answered;
    this.#over = true;
    const cut = [...this.#waiting];
    for (const answer of cut) answer(statusReply(CUT_OFF_STATUS));
    return this.#answered = cut.length;
  }
}
