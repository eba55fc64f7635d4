// Prints how many iterations of the benchmark's CPU work take ~50 ms in the
// runtime running this script (the bench runs it under Deno and under Bun).

import { calibrate } from "./cpu_work.ts";

console.log(calibrate(50));
