// The app of the worker-class benchmark: "/" says hello, "/cpu" does the
// benchmark's fixed CPU work (~50 ms; the count comes from the bench in
// BENCH_CPU_ITERATIONS so every process and thread of a run does the same
// work), "/sleep" waits 100 ms without using the CPU.

import process from "node:process";
import { calibrate, work } from "./cpu_work.ts";

const ITERATIONS = Number(process.env.BENCH_CPU_ITERATIONS) || calibrate(50);

export default {
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/cpu") return new Response(`${work(ITERATIONS)}\n`);
    if (path === "/sleep") {
      await new Promise((r) => setTimeout(r, 100));
      return new Response("slept\n");
    }
    return new Response("Hello World!");
  },
};
