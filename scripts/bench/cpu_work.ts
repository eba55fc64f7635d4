// The CPU-bound work of the worker-class benchmark: a fixed amount of
// arithmetic (not a clock: two threads sharing one core must take twice as
// long), and its calibration to a target duration on this machine.

export function work(iterations: number): number {
  let x = 1;
  for (let i = 0; i < iterations; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

// The JIT needs a few runs before the loop reaches its final speed: size a run that takes
// over 20 ms, then take the fastest of several.
export function calibrate(targetMs: number): number {
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
