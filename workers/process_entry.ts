// Entry point of a worker process: the master starts this file (or, in the
// compiled binary, itself with APPSERVE_ROLE=worker).

import * as appserve from "../mod.ts";
import { guardStdStreams } from "../src/log/std_streams.ts";
import { detectRuntime } from "../src/runtime/mod.ts";
import { runWorker } from "../src/worker/lifecycle.ts";

// A log reader gone from the pipe on stdout or stderr must not end the worker.
guardStdStreams();
await runWorker({ runtime: await detectRuntime(), appserve });
