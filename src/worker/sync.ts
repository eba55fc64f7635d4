// The sync worker class: one request at a time per worker process, on one
// connection, closed after its response, as gunicorn's sync worker: a
// kept-alive idle client would hold the worker, and a second connection would
// wait behind the first. It is the async class narrowed to a single slot.

import { AsyncWorker } from "./async.ts";
import type { WorkerContext } from "./worker_class.ts";

export class SyncWorker extends AsyncWorker {
  static override connections(): number {
    return 1;
  }

  constructor(context: WorkerContext) {
    super(context, { concurrency: 1, keepAlive: false });
  }
}
