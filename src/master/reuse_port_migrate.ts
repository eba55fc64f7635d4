// What the master says at start under --reuse-port when the kernel resets, rather than moves, the
// connections queued on a stopping worker's listener (docs/architecture.md, "--reuse-port").

import { readFileSync } from "node:fs";

const SYSCTL = "/proc/sys/net/ipv4/tcp_migrate_req";

/**
 * The INFO line for `reusePort` listeners when net.ipv4.tcp_migrate_req is 0; undefined when it
 * is on, when there is no such listener, or when the kernel has no such setting (before 5.14).
 * `read` returns the setting's text (the file, by default).
 */
export function migrateNote(
  reusePort: number,
  read: () => string = () => readFileSync(SYSCTL, "utf8"),
): string | undefined {
  if (reusePort === 0) return undefined;
  let value: string;
  try {
    value = read().trim();
  } catch {
    return undefined;
  }
  if (value !== "0") return undefined;
  return "--reuse-port: net.ipv4.tcp_migrate_req is 0, so each restart resets the connections " +
    "queued on a stopping worker's listener; `sysctl -w net.ipv4.tcp_migrate_req=1` has the " +
    "kernel move them to another worker's";
}
