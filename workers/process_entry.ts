// Entry point of a worker process: the master starts this file (or, in the
// compiled binary, itself with APPSERVE_ROLE=worker).

import * as appserve from "../mod.ts";
import { detectRuntime } from "../src/runtime/mod.ts";
import { runWorker } from "../src/worker/lifecycle.ts";

await runWorker({ runtime: await detectRuntime(), appserve });
