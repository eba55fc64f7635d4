// The app of the worker-class benchmark: "/" says hello, "/cpu" does a fixed
// amount of arithmetic calibrated at import to about 50 ms on this machine
// (a fixed amount, not a clock: two threads sharing one core must take twice
// as long), "/sleep" waits 100 ms without using the CPU.

function work(iterations: number): number {
  let x = 1;
  for (let i = 0; i < iterations; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

function calibrate(targetMs: number): number {
  let n = 100_000;
  for (;;) {
    const start = performance.now();
    work(n);
    const took = performance.now() - start;
    if (took > 20) return Math.round(n * targetMs / took);
    n *= 2;
  }
}

const ITERATIONS = calibrate(50);

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
