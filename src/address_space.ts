// The soft address-space limit (RLIMIT_AS, `ulimit -v`), read from /proc/self/limits: a low one
// turns Bun's JIT off (so bun:ffi fails) and makes V8 abort when it reserves its heap cage.

import { readFileSync } from "node:fs";

/** The limit in kB, as `ulimit -v` says it; undefined when there is none or it cannot be read. */
export function addressSpaceLimitKb(): number | undefined {
  try {
    const line = /^Max address space\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return line ? Math.round(Number(line[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
