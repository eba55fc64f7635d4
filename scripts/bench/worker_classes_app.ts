// The app of the worker-class benchmark: "/" says hello, "/cpu" does a fixed
// amount of arithmetic calibrated at import to about 50 ms on this machine
// (a fixed amount, not a clock: two threads sharing one core must take twice
// as long), "/sleep" waits 100 ms without using the CPU.

function work(iterations: number): number {
  let x = 1;
  for (let i = 0; i < iterations; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

// The JIT needs a few runs before the loop reaches its final speed: size a run that takes
// over 20 ms, then take the fastest of several.
function calibrate(targetMs: number): number {
  let n = 100_000;
  for (;;) {
    const start = performance.now();
    work(n);
    if (performance.now() - start > 20) break;
    n *= 2;
  }
  let best = Infinity;
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    work(n);
    best = Math.min(best, performance.now() - start);
  }
  return Math.round(n * targetMs / best);
}

const ITERATIONS = calibrate(50);
if (process.env.BENCH_DEBUG) console.error(`calibrated: ${ITERATIONS} iterations`);

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
