// Worker classes by name: the one place that knows them all. gevent and
// eventlet are accepted as aliases of async so gunicorn configurations keep
// working.

import type { Config } from "../config/settings.ts";
import { AsyncWorker } from "./async.ts";
import { ThreadWorker } from "./gthread.ts";
import { SyncWorker } from "./sync.ts";
import type { WorkerClassType } from "./worker_class.ts";

const ALIASES = { gevent: "async", eventlet: "async" } as const;
type Alias = keyof typeof ALIASES;

/** The name of a worker class (an alias resolved). */
export type WorkerClassName = Exclude<Config["worker_class"], Alias>;

// Every name the worker_class setting accepts, less the aliases, has its class here.
const CLASSES: Readonly<Record<WorkerClassName, WorkerClassType>> = {
  async: AsyncWorker,
  sync: SyncWorker,
  gthread: ThreadWorker,
};

/** The name of the worker class a configuration selects. */
export function workerClassName(config: Pick<Config, "worker_class">): WorkerClassName {
  const name = config.worker_class;
  return isAlias(name) ? ALIASES[name] : name;
}

function isAlias(name: string): name is Alias {
  return Object.hasOwn(ALIASES, name);
}

/** The worker class a configuration selects. */
export function workerClass(config: Pick<Config, "worker_class">): WorkerClassType {
  return CLASSES[workerClassName(config)];
}

/** What the master logs: `async`, `sync`, or `async (alias gevent)`. */
export function workerClassLabel(config: Pick<Config, "worker_class">): string {
  const chosen = workerClassName(config);
  return config.worker_class === chosen ? chosen : `${chosen} (alias ${config.worker_class})`;
}
